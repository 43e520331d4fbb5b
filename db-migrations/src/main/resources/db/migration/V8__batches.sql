-- The OpenAI Files and Batch APIs. A file's bytes live on disk under the jobs data directory
-- (files/<id>); these rows say whose it is and what it is for. A batch runs each line of its input
-- file once: a line's result is written once, keyed by (batch, line), so a batch restarted after a
-- crash never answers a line twice.

CREATE TABLE openai_files (
    id          TEXT PRIMARY KEY,                  -- file-<32 hex>
    owner       TEXT        NOT NULL,
    purpose     TEXT        NOT NULL CHECK (purpose IN ('batch', 'batch_output')),
    filename    TEXT        NOT NULL,
    bytes       BIGINT      NOT NULL CHECK (bytes >= 0),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX openai_files_owner ON openai_files (owner, created_at DESC);

CREATE TABLE batches (
    id                TEXT PRIMARY KEY,            -- batch_<32 hex>
    owner             TEXT        NOT NULL,
    endpoint          TEXT        NOT NULL,
    input_file_id     TEXT        NOT NULL,
    completion_window TEXT        NOT NULL,
    corpus_id         UUID,                        -- Headroom extension: every request runs over this corpus
    metadata          TEXT,                        -- JSON object of up to 16 string pairs
    status            TEXT        NOT NULL CHECK (status IN ('validating', 'failed', 'in_progress', 'finalizing',
                                      'completed', 'expired', 'cancelling', 'cancelled')),
    total             INTEGER     NOT NULL DEFAULT 0,
    completed         INTEGER     NOT NULL DEFAULT 0,
    failed            INTEGER     NOT NULL DEFAULT 0,
    errors            TEXT,                        -- JSON array of {code, message, line, param} (validation)
    output_file_id    TEXT,
    error_file_id     TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    in_progress_at    TIMESTAMPTZ,
    finalizing_at     TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ,
    failed_at         TIMESTAMPTZ,
    cancelling_at     TIMESTAMPTZ,
    cancelled_at      TIMESTAMPTZ,
    expired_at        TIMESTAMPTZ
);
CREATE INDEX batches_owner ON batches (owner, created_at DESC);

-- One row per request line: written by validation (an invalid line's error) or by the run (the
-- response, or the request's error). ok: whether it goes to the output file (else the error file).
CREATE TABLE batch_results (
    batch_id    TEXT        NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    line_no     INTEGER     NOT NULL,
    custom_id   TEXT,
    request     TEXT,                              -- the line's body, for the run (NULL once answered)
    ok          BOOLEAN,                           -- NULL: not run yet
    result      TEXT,                              -- the output or error line, JSON
    PRIMARY KEY (batch_id, line_no)
);
CREATE INDEX batch_results_pending ON batch_results (batch_id, line_no) WHERE ok IS NULL;
