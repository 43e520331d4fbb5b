package io.headroom.engine;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;

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

    /** A cache of this backend holding {@code host}'s state (the host cache itself for CPU backends). */
    KvCache fromHost(SequenceKv host);

    /**
     * Runs {@code tokens} at positions {@code cache.length() ..}, appends their keys and values to
     * {@code cache}, and returns the logits of the chunk rows selected by {@code logitRows}.
     */
    float[][] forward(int[] tokens, KvCache cache, int[] logitRows);

    /**
     * Bytes of KV the session cache may keep resident in this backend's memory between turns so
     * that one more sequence can always grow to the full context; unlimited for the CPU backends.
     */
    default long residentKvLimit() {
        return Long.MAX_VALUE;
    }
}
