-- Identity: API keys, the audit trail, per-user quota overrides and usage windows, and the web
-- tier's sessions (the browser's login), so that a restart or another replica keeps users signed in.
-- Users are not a table: a user is the identity provider's subject (or the local user); every row
-- that belongs to someone names them in `owner`.

-- An API key is shown once; only its SHA-256 is kept (the key holds 256 random bits, so a fast hash
-- is enough). `prefix` is the start of the key, for telling keys apart in a list.
CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    owner         TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    prefix        TEXT        NOT NULL,
    secret_hash   BYTEA       NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_owner ON api_keys (owner, created_at DESC);

-- Who did what to which object, and every sign-in and key use. Append-only.
CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL,
    actor        TEXT        NOT NULL,
    via          TEXT        NOT NULL,           -- jwt, api_key, browser, local, system
    action       TEXT        NOT NULL,           -- e.g. session.create, session.read, api_key.use, sign_in
    object_type  TEXT,
    object_id    TEXT,
    object_owner TEXT,
    remote_addr  TEXT
);
CREATE INDEX audit_events_time ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at DESC);

-- Per-user overrides of the configured quota defaults; NULL keeps the default.
CREATE TABLE user_quotas (
    owner                TEXT PRIMARY KEY,
    sessions             INTEGER CHECK (sessions >= 0),
    stored_tokens        BIGINT  CHECK (stored_tokens >= 0),
    kv_bytes             BIGINT  CHECK (kv_bytes >= 0),
    requests_per_minute  INTEGER CHECK (requests_per_minute >= 0),
    tokens_per_minute    BIGINT  CHECK (tokens_per_minute >= 0),
    updated_at           TIMESTAMPTZ NOT NULL
);

-- Requests and tokens per user per minute, shared by every replica. Old windows are deleted.
CREATE TABLE usage_windows (
    owner         TEXT        NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    requests      INTEGER     NOT NULL DEFAULT 0,
    tokens        BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, window_start)
);

-- The web tier's sessions (the browser's HttpOnly cookie names one). The id is kept only as its
-- SHA-256, so reading this table does not let anyone act as a signed-in user. `attributes` is the
-- serialised attribute map (security context, authorized client, CSRF token).
CREATE TABLE web_sessions (
    id_hash          BYTEA PRIMARY KEY,
    principal        TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    last_access_at   TIMESTAMPTZ NOT NULL,
    max_idle_seconds INTEGER     NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    attributes       BYTEA       NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- Which identity-provider session (issuer, sid, subject) signed in which web session, so that the
-- provider's back-channel logout can end them on every replica.
CREATE TABLE oidc_sessions (
    session_id_hash  BYTEA PRIMARY KEY,
    issuer           TEXT        NOT NULL,
    sid              TEXT,
    subject          TEXT        NOT NULL,
    principal        BYTEA       NOT NULL,           -- the serialised OIDC user
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX oidc_sessions_sid ON oidc_sessions (issuer, sid);
CREATE INDEX oidc_sessions_subject ON oidc_sessions (issuer, subject);
