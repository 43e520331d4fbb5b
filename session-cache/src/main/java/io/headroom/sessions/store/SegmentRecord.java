package io.headroom.sessions.store;

import jakarta.persistence.Column;
import jakarta.persistence.MappedSuperclass;
import java.time.Instant;
import java.util.UUID;

/** What documents and messages share: a place in the session's token sequence and its token ids. */
@MappedSuperclass
public abstract class SegmentRecord {

    @jakarta.persistence.Id
    private UUID id;

    @Column(name = "session_id", nullable = false)
    private UUID sessionId;

    @Column(nullable = false)
    private String owner;

    @Column(nullable = false)
    private int seq;

    @Column(nullable = false)
    private String content;

    @Column(name = "token_ids", nullable = false)
    private byte[] tokenIds;

    @Column(name = "token_count", nullable = false)
    private int tokenCount;

    @Column(name = "created_at", nullable = false)
    private Instant createdAt;

    protected SegmentRecord() {
    }

    protected SegmentRecord(UUID sessionId, String owner, int seq, String content, int[] tokens, Instant now) {
        this.id = UUID.randomUUID();
        this.sessionId = sessionId;
        this.owner = owner;
        this.seq = seq;
        this.content = content;
        this.tokenIds = TokenIds.toBytes(tokens);
        this.tokenCount = tokens.length;
        this.createdAt = now;
    }

    public UUID getId() {
        return id;
    }

    public UUID getSessionId() {
        return sessionId;
    }

    public int getSeq() {
        return seq;
    }

    public String getContent() {
        return content;
    }

    public int[] tokens() {
        return TokenIds.fromBytes(tokenIds);
    }

    public int getTokenCount() {
        return tokenCount;
    }

    public Instant getCreatedAt() {
        return createdAt;
    }
}
