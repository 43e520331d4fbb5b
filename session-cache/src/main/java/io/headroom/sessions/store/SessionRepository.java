package io.headroom.sessions.store;

import java.util.Optional;
import java.util.UUID;
import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;

/** Sessions. */
public interface SessionRepository extends JpaRepository<SessionRecord, UUID> {
    Optional<SessionRecord> findByIdAndOwner(UUID id, String owner);

    Page<SessionRecord> findByOwner(String owner, Pageable pageable);

    long countByOwner(String owner);

    @Query("SELECT COALESCE(SUM(s.tokenCount), 0) FROM SessionRecord s WHERE s.owner = :owner")
    long sumTokensByOwner(@Param("owner") String owner);

    @Query("SELECT s.id FROM SessionRecord s WHERE s.owner = :owner")
    java.util.List<UUID> idsByOwner(@Param("owner") String owner);

    /** Serialises session creation per owner for the rest of the transaction (quota checks). */
    @Query(value = "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext('sessions:' || :owner))) AS locked",
            nativeQuery = true)
    int lockOwner(@Param("owner") String owner);
}
