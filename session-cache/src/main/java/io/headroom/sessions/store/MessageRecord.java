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

    protected MessageRecord() {
    }

    MessageRecord(UUID sessionId, String owner, int seq, String role, String content, int[] tokens, Instant now) {
        super(sessionId, owner, seq, content, tokens, now);
        this.role = role;
    }

    public String getRole() {
        return role;
    }
}
