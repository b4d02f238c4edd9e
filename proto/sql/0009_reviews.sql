-- A booker's review of an attended booking: one per booking (a unique key makes a second,
-- even a concurrent one, conflict), a rating 1..5 and an optional comment of at most 2,000
-- characters. The event is kept with it so an event's reviews are read without the bookings.
-- The comment is the booker's data: a purge of the booking must erase it too (the rating stays).
CREATE TABLE IF NOT EXISTS reviews (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL UNIQUE REFERENCES bookings (id),
    event_id    bigint NOT NULL REFERENCES events (id),
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text CHECK (char_length(comment) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reviews_event ON reviews (event_id, id);
