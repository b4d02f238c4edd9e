-- Staff accounts, their sessions and the audit log (contract §2 Admin). Passwords are argon2id
-- strings (libsodium crypto_pwhash_str); a session is kept only as the hex SHA-256 of its cookie.
ALTER TABLE admin_tokens ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'owner'
    CHECK (role IN ('owner', 'staff', 'desk'));

CREATE TABLE IF NOT EXISTS staff (
    login         text PRIMARY KEY CHECK (login ~ '^[a-z0-9._-]{1,64}$'),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'staff', 'desk')),
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS staff_sessions (
    session_hash text PRIMARY KEY,
    login        text NOT NULL REFERENCES staff (login),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS staff_sessions_login ON staff_sessions (login) WHERE revoked_at IS NULL;

-- One row per state-changing admin call that passed authentication and its role check.
CREATE TABLE IF NOT EXISTS audit_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,          -- staff:<login> or token:<name>
    action text NOT NULL,          -- METHOD /v1/admin/...
    target text NOT NULL DEFAULT '' -- the path's parameter (slug, booking id, login), or ''
);
