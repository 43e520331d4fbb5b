package io.headroom.sessions;

import io.headroom.engine.generate.TokenListener;
import io.headroom.sessions.store.SessionStore;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A turn's answer as it streams: passes tokens on to the caller's listener and, every
 * {@link #SAVE_INTERVAL_NANOS}, hands a copy of the answer so far to the persistence thread (the
 * engine thread never waits for the database), so a crash loses at most that much of it.
 */
final class PartialAnswer implements TokenListener {

    private static final Logger LOG = LoggerFactory.getLogger(PartialAnswer.class);

    /** How often a streaming answer is saved. */
    static final long SAVE_INTERVAL_NANOS = Duration.ofMillis(500).toNanos();

    private final SessionStore store;
    private final Executor persistence;
    private final UUID id;
    private final int expectedTokens;
    private final TokenListener next;
    private final StringBuilder text = new StringBuilder();
    private int[] tokens = new int[64];
    private int count;
    private long lastSave = System.nanoTime();

    PartialAnswer(SessionStore store, Executor persistence, UUID id, int expectedTokens, TokenListener next) {
        this.store = store;
        this.persistence = persistence;
        this.id = id;
        this.expectedTokens = expectedTokens;
        this.next = next;
    }

    @Override
    public void onToken(int tokenId, String piece) {
        next.onToken(tokenId, piece);
        text.append(piece);
        if (tokenId >= 0) {
            if (count == tokens.length) {
                tokens = Arrays.copyOf(tokens, count * 2);
            }
            tokens[count++] = tokenId;
        }
        long now = System.nanoTime();
        if (now - lastSave >= SAVE_INTERVAL_NANOS) {
            lastSave = now;
            String content = text.toString();
            int[] ids = Arrays.copyOf(tokens, count);
            persistence.execute(() -> {
                try {
                    store.savePartialAnswer(id, expectedTokens, content, ids);
                } catch (RuntimeException e) {
                    LOG.warn("session {}: the answer so far could not be saved ({}); the commit will try", id,
                            e.toString());
                }
            });
        }
    }
}
