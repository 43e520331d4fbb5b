-- What the ingestion job read from each file of a corpus, in the corpus's document order (by path):
-- the text's length and token ids, or why the file was skipped. One row per file, written once per
-- file (a restarted job goes on from the first file without a row), so a crash never duplicates one.
CREATE TABLE corpus_documents (
    corpus_id    UUID        NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    file_id      UUID        NOT NULL REFERENCES corpus_files (id) ON DELETE CASCADE,
    owner        TEXT        NOT NULL,
    path         TEXT        NOT NULL,
    skip_reason  TEXT,                            -- NULL: read
    chars        BIGINT      NOT NULL DEFAULT 0,
    token_count  INTEGER     NOT NULL DEFAULT 0,
    token_ids    BYTEA       NOT NULL DEFAULT ''::bytea,   -- little-endian int32 per token
    read_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (corpus_id, file_id)
);
