package io.headroom.sessions.store;

import java.util.Optional;
import java.util.UUID;
import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;

/** Sessions. */
public interface SessionRepository extends JpaRepository<SessionRecord, UUID> {
    Optional<SessionRecord> findByIdAndOwner(UUID id, String owner);

    Page<SessionRecord> findByOwner(String owner, Pageable pageable);
}
