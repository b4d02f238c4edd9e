-- Transactional mail outbox: rows are written in the same statement as the change they announce
-- (confirmation and cancellation by the worker with the booking change; since the worker's batch
-- writes one row per booking, a reminder by yoyaku-notifier when it settles the confirmation),
-- and sent by yoyaku-notifier. One job per booking and kind, ever.

CREATE TABLE mail_outbox (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL REFERENCES bookings (id),
    kind        text NOT NULL CHECK (kind IN ('confirmation', 'reminder', 'cancellation')),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
    due_at      timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    UNIQUE (booking_id, kind)
);
CREATE INDEX mail_outbox_due ON mail_outbox (due_at) WHERE status = 'pending';
