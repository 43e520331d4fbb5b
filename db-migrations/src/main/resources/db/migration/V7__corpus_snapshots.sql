-- Corpus snapshots: a corpus prefilled once into DuoAttention KV, so that sessions start from it
-- instead of reading the corpus again. The retrieval-head KV is a checksummed spill file (the KV
-- block format, under the jobs data directory); what must survive the file is here: the token ids
-- of the whole corpus in document order (the file can always be rebuilt from them), and the
-- streaming-head state at every document boundary.

CREATE TABLE corpus_snapshots (
    id              UUID PRIMARY KEY,
    corpus_id       UUID        NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    owner           TEXT        NOT NULL,
    files_digest    TEXT        NOT NULL,            -- the files it was built from (paths and contents)
    model           TEXT        NOT NULL,
    sparsity        DOUBLE PRECISION,                -- NULL: full attention
    state           TEXT        NOT NULL CHECK (state IN ('building', 'ready')),
    token_count     INTEGER     NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    documents       INTEGER     NOT NULL DEFAULT 0,
    token_ids       BYTEA,                           -- little-endian int32 per token; set when ready
    checkpoint_tokens INTEGER   NOT NULL DEFAULT 0, -- tokens in the last checkpoint's partial spill file
    spill_bytes     BIGINT      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    ready_at        TIMESTAMPTZ
);
CREATE INDEX corpus_snapshots_owner ON corpus_snapshots (owner, corpus_id, created_at DESC);

-- One row per prefilled document, in the snapshot's order: its token range, and the streaming-head
-- state (KvStateCodec STREAMING block) once the document is in the KV.
CREATE TABLE corpus_snapshot_documents (
    snapshot_id     UUID        NOT NULL REFERENCES corpus_snapshots (id) ON DELETE CASCADE,
    ord             INTEGER     NOT NULL CHECK (ord >= 0),
    file_id         UUID        NOT NULL,
    path            TEXT        NOT NULL,
    token_start     INTEGER     NOT NULL,
    token_ids       BYTEA       NOT NULL,            -- this document's tokens as the session reads them
    token_count     INTEGER     NOT NULL,
    streaming_state BYTEA       NOT NULL,
    PRIMARY KEY (snapshot_id, ord)
);

-- A session started from a corpus: its first token_count of the snapshot's tokens are the corpus.
-- A snapshot in use by a session is not deleted (the corpus's deletion is refused until then).
ALTER TABLE sessions ADD COLUMN corpus_snapshot_id UUID REFERENCES corpus_snapshots (id) ON DELETE RESTRICT;
ALTER TABLE sessions ADD COLUMN corpus_tokens INTEGER NOT NULL DEFAULT 0 CHECK (corpus_tokens >= 0);
CREATE INDEX sessions_corpus_snapshot ON sessions (corpus_snapshot_id) WHERE corpus_snapshot_id IS NOT NULL;
