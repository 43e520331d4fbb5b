package io.headroom.engine.backend;

/**
 * What one KV head offers the queries of its group: spans of cached positions, and the DuoAttention
 * rule that decides which of them a query at position i may see. A retrieval head sees every
 * position j ≤ i; a streaming head sees j ≤ i with j < sink or j > i − recent. Spans may come in
 * any order and must not overlap.
 */
public record HeadKv(boolean streaming, int sink, int recent, KvSpan[] spans) {

    /** Whether a query at {@code queryPosition} attends to a key at {@code keyPosition}. */
    public boolean visible(int keyPosition, int queryPosition) {
        return keyPosition <= queryPosition
                && (!streaming || keyPosition < sink || keyPosition > queryPosition - recent);
    }

    /** Number of cached positions across the spans (an upper bound on the visible ones). */
    public int positions() {
        int n = 0;
        for (KvSpan s : spans) {
            n += s.count();
        }
        return n;
    }
}
