package io.headroom.sessions.store;

import java.time.Instant;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;

/** Turns in flight. */
public interface PendingTurnRepository extends JpaRepository<PendingTurnRecord, UUID> {

    /** Saves the answer so far; does nothing once the turn is committed (its row is gone). */
    @Modifying
    @Query("update PendingTurnRecord p set p.partialContent = :content, p.partialTokenIds = :tokens, "
            + "p.updatedAt = :now where p.sessionId = :id and p.expectedTokens = :expected")
    int savePartial(UUID id, int expected, String content, byte[] tokens, Instant now);
}
