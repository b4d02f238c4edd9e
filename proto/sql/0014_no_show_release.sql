-- A no-show releases its seat (issue 14: "a freed seat (a cancellation, a no-show release, a capacity
-- increase) is held for the first waiting entry"): slots.booked counts confirmed and attended
-- bookings only, and the worker's attendance statement (services/worker/attend.c) moves the seat when
-- a booking becomes no_show or stops being one. Each slot's booked is recounted from its bookings, so
-- the seats of no-shows marked before this migration are released; the recount gives the same
-- numbers when run again. Workers older than this migration keep a no-show's seat: stop them before
-- migrating (README, "Upgrading").
UPDATE slots s SET booked = c.n
FROM (SELECT s2.id, count(b.id)::int AS n
      FROM slots s2 LEFT JOIN bookings b ON b.slot_id = s2.id AND b.status IN ('confirmed', 'attended')
      GROUP BY s2.id) c
WHERE s.id = c.id AND s.booked <> c.n;
