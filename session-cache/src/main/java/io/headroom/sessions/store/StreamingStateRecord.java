package io.headroom.sessions.store;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/** A session's streaming-head KV after its last committed turn (a KvStateCodec STREAMING block). */
@Entity
@Table(name = "streaming_states")
public class StreamingStateRecord {

    @Id
    @Column(name = "session_id")
    private UUID sessionId;

    @Column(name = "token_count", nullable = false)
    private int tokenCount;

    @Column(nullable = false)
    private byte[] state;

    @Column(name = "updated_at", nullable = false)
    private Instant updatedAt;

    protected StreamingStateRecord() {
    }

    StreamingStateRecord(UUID sessionId) {
        this.sessionId = sessionId;
    }

    void update(int tokenCount, byte[] state, Instant now) {
        this.tokenCount = tokenCount;
        this.state = state;
        this.updatedAt = now;
    }

    public int getTokenCount() {
        return tokenCount;
    }

    public byte[] getState() {
        return state;
    }
}
