package io.headroom.engine.backend.cuda;

import io.headroom.engine.ForwardModel;
import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.llama.LlamaWeights;
import java.util.Arrays;

/**
 * The device-resident model behind the engine's {@link ForwardModel} contract: caches are
 * {@link CudaSequence}s, host caches are uploaded into new ones, and logits come back only for the
 * rows asked for (a chunk is cut after each requested row, so any rows can be served).
 */
public final class CudaForwardModel implements ForwardModel, AutoCloseable {

    private final CudaDevice device;
    private final CudaLlamaModel model;

    private CudaForwardModel(CudaDevice device, CudaLlamaModel model) {
        this.device = device;
        this.model = model;
    }

    /** Opens device 0 and loads the model; the memory plan is checked before anything is allocated. */
    public static CudaForwardModel open(ModelConfig config, LlamaWeights weights, CudaLlamaModel.Options options) {
        CudaDevice device = CudaDevice.open(0);
        try {
            return new CudaForwardModel(device, new CudaLlamaModel(device, config, weights, options));
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    @Override
    public ModelConfig config() {
        return model.config();
    }

    @Override
    public String backendName() {
        return "cuda (" + device.name() + ")";
    }

    /** A device sequence; {@code pageTokens} is ignored: device pages have the model's page size. */
    @Override
    public KvCache newCache(DuoLayout layout, int pageTokens) {
        return model.newSequence(layout);
    }

    @Override
    public KvCache fromHost(SequenceKv streaming, RetrievalBlock retrieval) {
        CudaSequence seq = model.newSequence(streaming.layout());
        try {
            seq.upload(streaming, retrieval);
            return seq;
        } catch (RuntimeException e) {
            seq.close();
            throw e;
        }
    }

    @Override
    public float[][] forward(int[] tokens, KvCache cache, int[] logitRows) {
        CudaSequence seq = sequence(cache);
        for (int i = 0; i < logitRows.length; i++) {
            if (logitRows[i] < 0 || logitRows[i] >= tokens.length || (i > 0 && logitRows[i] <= logitRows[i - 1])) {
                throw new IllegalArgumentException("logit rows must be ascending indices into the chunk, got "
                        + Arrays.toString(logitRows));
            }
        }
        float[][] out = new float[logitRows.length][];
        int from = 0;
        for (int i = 0; i < logitRows.length; i++) {
            out[i] = model.forward(seq, Arrays.copyOfRange(tokens, from, logitRows[i] + 1));
            from = logitRows[i] + 1;
        }
        if (from < tokens.length) {
            model.forwardGreedy(seq, Arrays.copyOfRange(tokens, from, tokens.length)); // no logits copied back
        }
        return out;
    }

    /** The model's prefill (chunks queued back to back where its options say so); the last position's logits. */
    @Override
    public float[] prefill(int[] tokens, KvCache cache, int chunk) {
        if (tokens.length == 0) {
            return ForwardModel.super.prefill(tokens, cache, chunk);
        }
        model.prefill(sequence(cache), tokens, chunk);
        return model.lastLogits();
    }

    private CudaSequence sequence(KvCache cache) {
        if (!(cache instanceof CudaSequence seq) || !seq.belongsTo(model)) {
            throw new IllegalArgumentException("the cuda backend runs on its own device caches, got a "
                    + cache.getClass().getSimpleName());
        }
        return seq;
    }

    /** The page pool less what one sequence at full context with the model's layout may take. */
    @Override
    public long residentKvLimit() {
        DeviceMemoryPlan plan = model.plan();
        long perSequence = (plan.retrievalKv() + plan.streamingKv()) / model.options().sequences();
        return Math.max(0, plan.retrievalKv() + plan.streamingKv() - perSequence);
    }

    @Override
    public void close() {
        try {
            model.close();
        } finally {
            device.close();
        }
    }
}
