-- Corpora: a user's set of uploaded files, read as one context. The bytes live on disk, content-
-- addressed per owner (blobs/<owner digest>/<sha256>); these rows say which corpus holds which
-- content under which path (an archive's entries as 'archive.zip/dir/file.pdf').

CREATE TABLE corpora (
    id          UUID PRIMARY KEY,
    owner       TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX corpora_owner ON corpora (owner, created_at DESC);

CREATE TABLE corpus_files (
    id          UUID PRIMARY KEY,
    corpus_id   UUID        NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    owner       TEXT        NOT NULL,
    path        TEXT        NOT NULL,
    media_type  TEXT        NOT NULL,            -- sniffed from the bytes, never taken from the client
    size        BIGINT      NOT NULL CHECK (size >= 0),
    sha256      TEXT        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (corpus_id, path)
);
CREATE INDEX corpus_files_content ON corpus_files (owner, sha256);

-- Bytes of uploads one user keeps (each distinct content once), overridable per user like the others.
ALTER TABLE user_quotas ADD COLUMN upload_bytes BIGINT CHECK (upload_bytes >= 0);
