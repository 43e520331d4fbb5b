package io.headroom.sessions.store;

import java.util.List;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

/** Documents of a session. */
public interface DocumentRepository extends JpaRepository<DocumentRecord, UUID> {
    List<DocumentRecord> findBySessionIdOrderBySeq(UUID sessionId);
}
