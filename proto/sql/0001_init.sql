-- yoyaku schema v1: the system of record. Applied by `yoyakuctl migrate` in one transaction.
-- Seats: slots.booked is changed only by the worker that owns the event's partition;
-- CHECK (booked <= capacity) makes an oversell impossible even if that worker were wrong.

CREATE TABLE admin_tokens (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,          -- hex SHA-256 of the token; the token is never stored
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE events (
    id                  bigserial PRIMARY KEY,
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{1,64}$'),
    title               text NOT NULL,
    description         text NOT NULL DEFAULT '',
    venue               text NOT NULL DEFAULT '',
    timezone            text NOT NULL DEFAULT 'Asia/Tokyo',
    lang                text NOT NULL DEFAULT 'ja' CHECK (lang IN ('ja', 'en')),
    fields              jsonb NOT NULL DEFAULT '[]',
    password_hash       text,                  -- argon2id string; NULL = not secret
    per_person_limit    integer NOT NULL DEFAULT 1 CHECK (per_person_limit >= 1),
    campaign            text,
    prerequisite        jsonb,
    opens_at            timestamptz,
    closes_at           timestamptz,
    cancel_until_hours  integer NOT NULL DEFAULT 24 CHECK (cancel_until_hours >= 0),
    reminder            jsonb NOT NULL DEFAULT '{"days_before": 1, "at": "10:00"}',
    published           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slots (
    id          bigserial PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES events (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    capacity    integer NOT NULL CHECK (capacity >= 0),
    booked      integer NOT NULL DEFAULT 0,
    CHECK (ends_at > starts_at),
    CHECK (booked >= 0 AND booked <= capacity)
);
CREATE INDEX slots_event ON slots (event_id, starts_at);

CREATE TABLE bookings (
    id          bigserial PRIMARY KEY,
    request_id  text NOT NULL UNIQUE,          -- the ingress's request id: a redelivery is a no-op
    event_id    bigint NOT NULL REFERENCES events (id),
    slot_id     bigint NOT NULL REFERENCES slots (id),
    status      text NOT NULL DEFAULT 'confirmed'
                CHECK (status IN ('confirmed', 'cancelled', 'attended', 'no_show')),
    email       text NOT NULL,
    identity    text NOT NULL,                 -- NFKC, trimmed, case-folded identity value
    fields      jsonb NOT NULL,
    token_hash  text NOT NULL,                 -- hex SHA-256 of the booking token
    limit_one   boolean NOT NULL,              -- the event's per_person_limit was 1 at booking time
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookings_event ON bookings (event_id, id);
CREATE INDEX bookings_identity ON bookings (event_id, identity) WHERE status IN ('confirmed', 'attended');
-- per_person_limit 1: PostgreSQL refuses a second active booking of one identity in one event.
CREATE UNIQUE INDEX bookings_one_per_identity ON bookings (event_id, identity)
    WHERE limit_one AND status IN ('confirmed', 'attended');

-- RFC 3339 with the zone's offset, e.g. 2026-12-01T09:00:00+09:00.
CREATE FUNCTION yk_rfc3339(ts timestamptz, tz text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN o < 0 THEN '-' ELSE '+' END
        || to_char(abs(o) / 3600, 'FM00') || ':' || to_char((abs(o) % 3600) / 60, 'FM00')
    FROM (SELECT extract(epoch FROM (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC'))::int AS o) off
$$;
