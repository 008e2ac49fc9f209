-- Portable DDL for SQLite and PostgreSQL through sqlx's Any driver: text keys made by the
-- application (UUIDv7), BIGINT everywhere a number is stored (timestamps are microseconds since
-- the Unix epoch, flags are 0/1), no SERIAL and no AUTOINCREMENT.

CREATE TABLE app_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    iso_code TEXT NOT NULL,
    sort_order BIGINT NOT NULL
);

CREATE TABLE comunas (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    province_code TEXT NOT NULL,
    province_name TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code)
);
CREATE INDEX comunas_region ON comunas (region_code);

CREATE TABLE holidays (
    day TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE distributors (
    id TEXT PRIMARY KEY,
    folio_prefix TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    business_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('empresa', 'cooperativa')),
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL CHECK (profile IN ('applicant', 'distributor', 'regulator')),
    rut TEXT NOT NULL,
    email TEXT NOT NULL,
    names TEXT NOT NULL,
    surnames TEXT NOT NULL,
    business_name TEXT,
    is_installer BIGINT NOT NULL DEFAULT 0 CHECK (is_installer IN (0, 1)),
    installer_license TEXT,
    distributor_id TEXT REFERENCES distributors (id),
    regulator_role TEXT CHECK (regulator_role IN ('administrador', 'auditor')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    password_changed_at BIGINT,
    UNIQUE (profile, rut),
    CHECK ((profile = 'distributor') = (distributor_id IS NOT NULL)),
    CHECK ((profile = 'regulator') = (regulator_role IS NOT NULL))
);
CREATE UNIQUE INDEX users_applicant_email ON users (email) WHERE profile = 'applicant';
CREATE INDEX users_distributor ON users (distributor_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Activation and password links. Only the hash of the token is kept.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('activation', 'password')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id);

CREATE TABLE captchas (
    id TEXT PRIMARY KEY,
    answer TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Failed logins per account and per client address, shared by every instance.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
