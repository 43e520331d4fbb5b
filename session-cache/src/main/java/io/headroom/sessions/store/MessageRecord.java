package io.headroom.sessions.store;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/** One message of a session's conversation (system, user or assistant). */
@Entity
@Table(name = "messages")
public class MessageRecord extends SegmentRecord {

    @Column(nullable = false)
    private String role;

    /** How an assistant message ended ({@code stop}, {@code length}, {@code cancelled}); null otherwise. */
    @Column(name = "finish_reason")
    private String finishReason;

    protected MessageRecord() {
    }

    MessageRecord(UUID sessionId, String owner, int seq, String role, String content, int[] tokens, Instant now) {
        this(sessionId, owner, seq, role, content, tokens, null, now);
    }

    MessageRecord(UUID sessionId, String owner, int seq, String role, String content, int[] tokens,
            String finishReason, Instant now) {
        super(sessionId, owner, seq, content, tokens, now);
        this.role = role;
        this.finishReason = finishReason;
    }

    public String getFinishReason() {
        return finishReason;
    }

    public String getRole() {
        return role;
    }
}
