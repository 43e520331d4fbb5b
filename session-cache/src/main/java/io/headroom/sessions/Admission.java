package io.headroom.sessions;

/**
 * The service's say over what a user may add (its quotas): asked by {@link SessionEngine} before
 * any work is queued or written, told afterwards what the work consumed. Throwing
 * {@link QuotaExceededException} refuses the operation with nothing written.
 */
public interface Admission {

    /** Admits everything: for embedding the engine without quotas. */
    Admission UNLIMITED = new Admission() {
        @Override
        public int maxSessions(String owner) {
            return Integer.MAX_VALUE;
        }

        @Override
        public void admit(String owner, long storedTokens, long processedTokens) {
        }

        @Override
        public void consumed(String owner, long tokens) {
        }
    };

    /** The most sessions {@code owner} may hold. */
    int maxSessions(String owner);

    /**
     * Whether {@code owner} may store {@code storedTokens} more tokens in their sessions and process
     * {@code processedTokens} now; throws {@link QuotaExceededException} if not.
     */
    void admit(String owner, long storedTokens, long processedTokens);

    /** Tokens an admitted operation processed (prompt and generated), for per-minute accounting. */
    void consumed(String owner, long tokens);
}
