-- A no-show releases its seat (issue 14: "a freed seat (a cancellation, a no-show release, a capacity
-- increase) is held for the first waiting entry"): slots.booked counts confirmed and attended
-- bookings only, and the
-- worker's attendance statement (services/worker/attend.c) moves the seat when a booking becomes
-- no_show or stops being one. Seats of the no-shows marked before this migration are released too.
UPDATE slots s SET booked = s.booked - n.n
FROM (SELECT slot_id, count(*)::int AS n FROM bookings WHERE status = 'no_show' GROUP BY slot_id) n
WHERE s.id = n.slot_id;
