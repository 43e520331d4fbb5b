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

    /** Records a turn in one statement (a leftover row of the session, which its lock outlived, is replaced). */
    @Modifying
    @Query(value = "insert into pending_turns (session_id, owner, expected_tokens, user_content, user_token_ids, "
            + "started_at, updated_at) values (:id, :owner, :expected, :content, :tokens, :now, :now) "
            + "on conflict (session_id) do update set owner = excluded.owner,"
            + " expected_tokens = excluded.expected_tokens, user_content = excluded.user_content,"
            + " user_token_ids = excluded.user_token_ids, partial_content = '',"
            + " partial_token_ids = ''::bytea, started_at = excluded.started_at, updated_at = excluded.updated_at",
            nativeQuery = true)
    void begin(UUID id, String owner, int expected, String content, byte[] tokens, Instant now);

    /** Ends a turn's pending record (no read first). */
    @Modifying
    @Query("delete from PendingTurnRecord p where p.sessionId = :id")
    int end(UUID id);
}
