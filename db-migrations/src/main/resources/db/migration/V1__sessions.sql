-- Headroom sessions: the source of truth for everything a session has seen and said.
-- A session's token sequence is its documents and messages in `seq` order; its KV state can always
-- be rebuilt from it. The streaming-head KV (small) is kept here too, versioned by token count.

CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    owner           TEXT        NOT NULL,
    model           TEXT        NOT NULL,
    sparsity        DOUBLE PRECISION,            -- NULL: full attention
    system_prompt   TEXT,
    token_count     INTEGER     NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    next_seq        INTEGER     NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    last_active_at  TIMESTAMPTZ NOT NULL,
    version         BIGINT      NOT NULL DEFAULT 0
);
CREATE INDEX sessions_owner_created ON sessions (owner, created_at DESC);

CREATE TABLE documents (
    id          UUID PRIMARY KEY,
    session_id  UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    owner       TEXT        NOT NULL,
    seq         INTEGER     NOT NULL,
    name        TEXT,
    content     TEXT        NOT NULL,
    token_ids   BYTEA       NOT NULL,             -- little-endian int32 per token
    token_count INTEGER     NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, seq)
);

CREATE TABLE messages (
    id          UUID PRIMARY KEY,
    session_id  UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    owner       TEXT        NOT NULL,
    seq         INTEGER     NOT NULL,
    role        TEXT        NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content     TEXT        NOT NULL,
    token_ids   BYTEA       NOT NULL,             -- little-endian int32 per token
    token_count INTEGER     NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, seq)
);

-- Streaming-head KV after the last committed turn (KvStateCodec STREAMING block, checksummed).
CREATE TABLE streaming_states (
    session_id  UUID PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    token_count INTEGER     NOT NULL,
    state       BYTEA       NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
