package io.headroom.service.audit;

import io.headroom.service.security.Caller;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * The audit trail ({@code audit_events}): who created, read, changed or deleted which object and
 * when, every sign-in and sign-out, and API key use. Written in the request, before the answer, so
 * an answered request is on record. Blocking: call off the event loop.
 */
@Component
public class AuditLog {

    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);

    /** One event as stored. */
    public record Event(long id, Instant occurredAt, String actor, String via, String action, String objectType,
            String objectId, String objectOwner, String remoteAddr) {
    }

    private final JdbcClient jdbc;

    public AuditLog(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    /** Records that {@code caller} did {@code action} to an object of {@code owner} (null: none). */
    public void record(Caller caller, String action, String objectType, String objectId, String owner) {
        record(caller.id(), caller.via().wire(), action, objectType, objectId, owner, caller.remoteAddress());
    }

    /** Records an event whose actor is not a {@link Caller} (a sign-in, the system). */
    public void record(String actor, String via, String action, String objectType, String objectId, String owner,
            String remoteAddr) {
        jdbc.sql("INSERT INTO audit_events (occurred_at, actor, via, action, object_type, object_id, object_owner, "
                + "remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .params(Timestamp.from(Instant.now()), actor, via, action, objectType, objectId, owner, remoteAddr)
                .update();
        LOG.debug("audit: {} {} {} {}", actor, action, objectType, objectId);
    }

    /**
     * A page of events, newest first, optionally for one actor, one action or one object owner.
     * Keyset paging: {@code before} is the last id of the previous page (null: from the newest).
     */
    public List<Event> page(String actor, String action, String owner, Long before, int limit) {
        StringBuilder sql = new StringBuilder("SELECT id, occurred_at, actor, via, action, object_type, object_id, "
                + "object_owner, remote_addr FROM audit_events WHERE true");
        List<Object> params = new java.util.ArrayList<>();
        if (actor != null) {
            sql.append(" AND actor = ?");
            params.add(actor);
        }
        if (action != null) {
            sql.append(" AND action = ?");
            params.add(action);
        }
        if (owner != null) {
            sql.append(" AND object_owner = ?");
            params.add(owner);
        }
        if (before != null) {
            sql.append(" AND id < ?");
            params.add(before);
        }
        sql.append(" ORDER BY id DESC LIMIT ?");
        params.add(limit);
        return jdbc.sql(sql.toString()).params(params).query((rs, n) -> new Event(rs.getLong("id"),
                rs.getTimestamp("occurred_at").toInstant(), rs.getString("actor"), rs.getString("via"),
                rs.getString("action"), rs.getString("object_type"), rs.getString("object_id"),
                rs.getString("object_owner"), rs.getString("remote_addr"))).list();
    }
}
