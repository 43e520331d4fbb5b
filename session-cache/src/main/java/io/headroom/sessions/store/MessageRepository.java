package io.headroom.sessions.store;

import java.util.List;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

/** Messages of a session. */
public interface MessageRepository extends JpaRepository<MessageRecord, UUID> {
    List<MessageRecord> findBySessionIdOrderBySeq(UUID sessionId);
}
