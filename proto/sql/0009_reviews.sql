-- Reviews (contract §2): one per booking, only once it is `attended`, rating 1..5 and a comment
-- of at most 2,000 characters. The primary key makes "once" hold under concurrent posts.
CREATE TABLE IF NOT EXISTS reviews (
    booking_id  bigint PRIMARY KEY REFERENCES bookings (id),
    event_id    bigint NOT NULL REFERENCES events (id),
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '' CHECK (char_length(comment) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reviews_event ON reviews (event_id, created_at DESC, booking_id DESC);
