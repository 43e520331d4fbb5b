-- How an assistant message ended, and the turns in flight, so an interrupted turn has one outcome.
-- A turn the client abandons, or that a crash cuts off, keeps its user message and the answer
-- generated so far (as last saved), marked finish_reason 'cancelled'; both are in the session's
-- context from then on. NULL: a message stored before this column existed, or not an answer.
ALTER TABLE messages
    ADD COLUMN finish_reason TEXT CHECK (finish_reason IN ('stop', 'length', 'cancelled'));

-- A turn accepted but not yet committed: written before the engine starts it, its partial answer
-- saved now and then while it streams, deleted by the commit. A row found at start-up belongs to a
-- turn a crash cut off: it is committed then as a cancelled answer (SessionStore.recoverInterruptedTurns).
CREATE TABLE pending_turns (
    session_id         UUID PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    owner              TEXT        NOT NULL,
    expected_tokens    INTEGER     NOT NULL,   -- the session's token count the turn started from
    user_content       TEXT        NOT NULL,
    user_token_ids     BYTEA       NOT NULL,   -- little-endian int32 per token
    partial_content    TEXT        NOT NULL DEFAULT '',
    partial_token_ids  BYTEA       NOT NULL DEFAULT ''::bytea,
    started_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
