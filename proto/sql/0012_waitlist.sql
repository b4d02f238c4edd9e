-- Waitlist (contract v1.1 §2 "entry (waitlist)"): a full slot's line of entries, the seat held for
-- the first one when a seat frees, and its offer mail. Every row here is written by the worker that
-- owns the event's partition (services/worker/waitlist.c), never by an ingress.

-- {"enabled": bool, "hold_minutes": number}; NULL: disabled (the definition's default).
ALTER TABLE events ADD COLUMN IF NOT EXISTS waitlist jsonb;

-- Seats held for offered entries: taken for everyone else until accepted (held → booked) or
-- expired. PostgreSQL enforces booked + held <= capacity, as it enforces booked <= capacity.
ALTER TABLE slots ADD COLUMN IF NOT EXISTS held integer NOT NULL DEFAULT 0;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'slots_held_within_capacity') THEN
        ALTER TABLE slots ADD CONSTRAINT slots_held_within_capacity
            CHECK (held >= 0 AND booked + held <= capacity);
    END IF;
END $$;

CREATE TABLE IF NOT EXISTS waitlist (
    id               bigserial PRIMARY KEY,
    request_id       text NOT NULL UNIQUE,      -- the join's request id: a redelivery is a no-op
    event_id         bigint NOT NULL REFERENCES events (id),
    slot_id          bigint NOT NULL REFERENCES slots (id),
    status           text NOT NULL DEFAULT 'waiting'
                     CHECK (status IN ('waiting', 'offered', 'accepted', 'expired', 'left')),
    email            text NOT NULL,
    identity         text NOT NULL,             -- as bookings.identity
    fields           jsonb NOT NULL,
    token_hash       text NOT NULL,             -- hex SHA-256 of the entry's token
    offered_at       timestamptz,
    offer_expires_at timestamptz,
    booking_id       bigint REFERENCES bookings (id), -- the booking an accepted offer became
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One live entry per identity and slot (409 already_waiting).
CREATE UNIQUE INDEX IF NOT EXISTS waitlist_one_per_identity ON waitlist (slot_id, identity)
    WHERE status IN ('waiting', 'offered');
CREATE INDEX IF NOT EXISTS waitlist_waiting ON waitlist (slot_id, id) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS waitlist_offered ON waitlist (offer_expires_at) WHERE status = 'offered';
CREATE INDEX IF NOT EXISTS waitlist_event ON waitlist (event_id, id);

-- An entry as the API shows it (contract §2): position 1 = next to be offered.
CREATE OR REPLACE FUNCTION yk_waitlist_json(w waitlist) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', w.id::text, 'event', e.slug, 'slot_id', w.slot_id::text,
        'status', w.status,
        'position', CASE WHEN w.status = 'waiting' THEN (SELECT count(*) + 1 FROM waitlist x
            WHERE x.slot_id = w.slot_id AND x.status = 'waiting' AND x.id < w.id) END,
        'offer_expires_at', CASE WHEN w.status = 'offered'
            THEN yk_rfc3339(w.offer_expires_at, e.timezone) END,
        'created_at', yk_rfc3339(w.created_at, e.timezone))
    FROM events e WHERE e.id = w.event_id
$$;

-- The offer mail: an outbox row names a booking or a waitlist entry, never both.
ALTER TABLE mail_outbox ALTER COLUMN booking_id DROP NOT NULL;
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS waitlist_id bigint REFERENCES waitlist (id);
ALTER TABLE mail_outbox DROP CONSTRAINT IF EXISTS mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('confirmation', 'reminder', 'cancellation', 'waitlist_offer'));
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'mail_outbox_one_subject') THEN
        ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_one_subject
            CHECK ((booking_id IS NULL) <> (waitlist_id IS NULL));
    END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS mail_outbox_waitlist ON mail_outbox (waitlist_id, kind)
    WHERE waitlist_id IS NOT NULL;
