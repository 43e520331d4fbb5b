package io.headroom.sessions.store;

import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

/** Streaming-head states. */
public interface StreamingStateRepository extends JpaRepository<StreamingStateRecord, UUID> {
}
