-- Rosters (contract §2 "Roster"): per campaign, the people eligible to book its events with a
-- `roster`, stored only as keyed hashes of each row's normalised values (common/yk_roster.h): a
-- dump of these tables gives no voucher number or birth date. An upload writes a new generation
-- and swaps it in with the roster row, in one transaction (nothing replaced on error).
ALTER TABLE events ADD COLUMN IF NOT EXISTS roster jsonb;

CREATE SEQUENCE IF NOT EXISTS roster_generation;

CREATE TABLE IF NOT EXISTS rosters (
    campaign    text PRIMARY KEY CHECK (campaign ~ '^[a-z0-9_-]{1,64}$'),
    generation  bigint NOT NULL,           -- roster_rows.generation of the live rows
    fields      text[] NOT NULL,           -- the header's names, in the file's order
    rows        bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- h: the 16-byte keyed BLAKE2b of the campaign and the row's (name, value) pairs; no foreign key
-- (a million rows are COPYed per upload, see docs/PERFORMANCE.md's note on per-row triggers).
CREATE TABLE IF NOT EXISTS roster_rows (
    generation  bigint NOT NULL,
    h           bytea NOT NULL
);
-- The worker's one lookup per batch: h = ANY($1) among live generations (index-only).
CREATE INDEX IF NOT EXISTS roster_rows_h ON roster_rows (h, generation);
-- Replacing a roster deletes the old generation's rows.
CREATE INDEX IF NOT EXISTS roster_rows_generation ON roster_rows (generation);
