package io.headroom.sessions.store;

import jakarta.persistence.Entity;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/** A document appended to a session's context. */
@Entity
@Table(name = "documents")
public class DocumentRecord extends SegmentRecord {

    private String name;

    protected DocumentRecord() {
    }

    DocumentRecord(UUID sessionId, String owner, int seq, String name, String content, int[] tokens, Instant now) {
        super(sessionId, owner, seq, content, tokens, now);
        this.name = name;
    }

    public String getName() {
        return name;
    }
}
