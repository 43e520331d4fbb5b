package io.headroom.sessions.store;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/**
 * A turn in flight: its user message and the answer generated so far, so that a crash mid-turn
 * leaves the same history as a client that went away (see V2__interrupted_turns.sql).
 */
@Entity
@Table(name = "pending_turns")
public class PendingTurnRecord {

    @Id
    @Column(name = "session_id")
    private UUID sessionId;

    @Column(nullable = false)
    private String owner;

    @Column(name = "expected_tokens", nullable = false)
    private int expectedTokens;

    @Column(name = "user_content", nullable = false)
    private String userContent;

    @Column(name = "user_token_ids", nullable = false)
    private byte[] userTokenIds;

    @Column(name = "partial_content", nullable = false)
    private String partialContent;

    @Column(name = "partial_token_ids", nullable = false)
    private byte[] partialTokenIds;

    @Column(name = "started_at", nullable = false)
    private Instant startedAt;

    @Column(name = "updated_at", nullable = false)
    private Instant updatedAt;

    /** Rows are written by {@link PendingTurnRepository#begin} and read back by recovery. */
    protected PendingTurnRecord() {
    }

    public UUID getSessionId() {
        return sessionId;
    }

    public String getOwner() {
        return owner;
    }

    public int getExpectedTokens() {
        return expectedTokens;
    }

    public String getUserContent() {
        return userContent;
    }

    public int[] userTokens() {
        return TokenIds.fromBytes(userTokenIds);
    }

    public String getPartialContent() {
        return partialContent;
    }

    public int[] partialTokens() {
        return TokenIds.fromBytes(partialTokenIds);
    }
}
