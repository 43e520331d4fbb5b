package io.headroom.sessions.store;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import jakarta.persistence.Version;
import java.time.Instant;
import java.util.UUID;

/** A session: who owns it, how it attends (full or DuoAttention at a sparsity), how long it is. */
@Entity
@Table(name = "sessions")
public class SessionRecord {

    @Id
    private UUID id;

    @Column(nullable = false)
    private String owner;

    @Column(nullable = false)
    private String model;

    private Double sparsity;

    @Column(name = "system_prompt")
    private String systemPrompt;

    @Column(name = "token_count", nullable = false)
    private int tokenCount;

    @Column(name = "next_seq", nullable = false)
    private int nextSeq;

    @Column(name = "created_at", nullable = false)
    private Instant createdAt;

    @Column(name = "last_active_at", nullable = false)
    private Instant lastActiveAt;

    /** The corpus snapshot the session started from (its first {@link #corpusTokens} tokens), or null. */
    @Column(name = "corpus_snapshot_id")
    private UUID corpusSnapshotId;

    @Column(name = "corpus_tokens", nullable = false)
    private int corpusTokens;

    @Version
    private long version;

    protected SessionRecord() {
    }

    public SessionRecord(UUID id, String owner, String model, Double sparsity, String systemPrompt, Instant now) {
        this.id = id;
        this.owner = owner;
        this.model = model;
        this.sparsity = sparsity;
        this.systemPrompt = systemPrompt;
        this.createdAt = now;
        this.lastActiveAt = now;
    }

    public UUID getId() {
        return id;
    }

    public String getOwner() {
        return owner;
    }

    public String getModel() {
        return model;
    }

    public Double getSparsity() {
        return sparsity;
    }

    public String getSystemPrompt() {
        return systemPrompt;
    }

    public int getTokenCount() {
        return tokenCount;
    }

    public Instant getCreatedAt() {
        return createdAt;
    }

    public Instant getLastActiveAt() {
        return lastActiveAt;
    }

    public UUID getCorpusSnapshotId() {
        return corpusSnapshotId;
    }

    /** Tokens of the corpus the session started from (0 for a session without one). */
    public int getCorpusTokens() {
        return corpusTokens;
    }

    /** Starts the session from a corpus snapshot of {@code tokens} tokens (before anything else is in it). */
    void startFromCorpus(UUID snapshotId, int tokens) {
        this.corpusSnapshotId = snapshotId;
        this.corpusTokens = tokens;
        this.tokenCount = tokens;
    }

    /** Reserves the next position in the session's segment order. */
    int takeSeq() {
        return nextSeq++;
    }

    void grow(int tokens, Instant now) {
        tokenCount += tokens;
        lastActiveAt = now;
    }
}
