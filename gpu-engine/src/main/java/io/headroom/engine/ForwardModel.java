package io.headroom.engine;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import java.util.Arrays;

/**
 * A model that runs chunks of tokens against a {@link KvCache}: the CPU {@code LlamaModel} or the
 * device-resident CUDA model. What generation and the session cache need, and nothing more.
 */
public interface ForwardModel {

    ModelConfig config();

    /** Short name of the backend, for logs and errors. */
    String backendName();

    /** An empty cache for {@code layout} (one row per layer, one column per KV head). */
    KvCache newCache(DuoLayout layout, int pageTokens);

    /**
     * A cache of this backend holding {@code streaming}'s streaming heads and length (as
     * {@link io.headroom.engine.kv.KvStateCodec#importStreaming} gives it) and {@code retrieval}'s
     * retrieval heads; both must hold the same number of tokens. A CPU backend fills and returns
     * {@code streaming} itself.
     */
    KvCache fromHost(SequenceKv streaming, RetrievalBlock retrieval);

    /**
     * Runs {@code tokens} at positions {@code cache.length() ..}, appends their keys and values to
     * {@code cache}, and returns the logits of the chunk rows selected by {@code logitRows}.
     */
    float[][] forward(int[] tokens, KvCache cache, int[] logitRows);

    /**
     * Runs {@code tokens} in chunks of at most {@code chunk}, appending to {@code cache}; returns the
     * logits of the last token (null for no tokens). A forward per chunk here; a backend may queue
     * the chunks back to back instead.
     */
    default float[] prefill(int[] tokens, KvCache cache, int chunk) {
        float[] last = null;
        for (int from = 0; from < tokens.length; from += chunk) {
            int to = Math.min(tokens.length, from + chunk);
            boolean lastChunk = to == tokens.length;
            float[][] logits = forward(Arrays.copyOfRange(tokens, from, to), cache,
                    lastChunk ? new int[] {to - from - 1} : new int[0]);
            if (lastChunk) {
                last = logits[0];
            }
        }
        return last;
    }

    /**
     * Bytes of KV the session cache may keep resident in this backend's memory between turns so
     * that one more sequence can always grow to the full context; unlimited for the CPU backends.
     */
    default long residentKvLimit() {
        return Long.MAX_VALUE;
    }
}
