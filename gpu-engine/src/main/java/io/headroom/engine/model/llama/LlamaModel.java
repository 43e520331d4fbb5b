package io.headroom.engine.model.llama;

import io.headroom.engine.ForwardModel;
import io.headroom.engine.KvCache;
import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;

/**
 * The forward pass of a Llama-family decoder (Llama, Mistral, Qwen2) as transformers defines it:
 * pre-norm decoder layers of grouped-query attention with rotary embeddings and a SiLU-gated MLP,
 * a final RMSNorm and the LM head. Computes in float32 over weights of any stored dtype.
 */
public final class LlamaModel implements ForwardModel {

    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Kernels kernels;
    private final float[] invFreq; // (headDim / 2)

    /** Retrieval-head page size when the caller does not choose one. */
    public static final int DEFAULT_PAGE_TOKENS = 64;

    public LlamaModel(ModelConfig config, LlamaWeights weights, Kernels kernels) {
        this.config = config;
        this.weights = weights;
        this.kernels = kernels;
        this.invFreq = config.ropeInverseFrequencies();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public String backendName() {
        return kernels.name();
    }

    @Override
    public KvCache fromHost(SequenceKv streaming, RetrievalBlock retrieval) {
        if (retrieval.tokens() != streaming.length()) {
            throw new IllegalArgumentException("KV parts do not belong together: retrieval block holds "
                    + retrieval.tokens() + " tokens, streaming state " + streaming.length());
        }
        retrieval.readInto(streaming);
        return streaming;
    }

    public Kernels kernels() {
        return kernels;
    }

    /** A cache for full attention (every head a retrieval head). */
    public SequenceKv newCache() {
        return newCache(DuoLayout.full(config.numLayers(), config.numKvHeads()), DEFAULT_PAGE_TOKENS);
    }

    /** A cache for {@code layout}, which must have one row per layer and one column per KV head. */
    @Override
    public SequenceKv newCache(DuoLayout layout, int pageTokens) {
        if (layout.layers() != config.numLayers() || layout.kvHeads() != config.numKvHeads()) {
            throw new IllegalArgumentException("head layout has shape (" + layout.layers() + ", " + layout.kvHeads()
                    + ") but the model has " + config.numLayers() + " layers and " + config.numKvHeads()
                    + " KV heads");
        }
        return new SequenceKv(layout, config.headDim(), pageTokens, config.maxPositions());
    }

    /**
     * Runs {@code tokens} at positions {@code cache.length() ..} through the model, appends their keys
     * and values to {@code cache}, and returns the logits of the chunk's rows selected by
     * {@code logitRows} (indices into the chunk), each of width vocab.
     */
    @Override
    public float[][] forward(int[] tokens, KvCache kvCache, int[] logitRows) {
        if (!(kvCache instanceof SequenceKv cache)) {
            throw new IllegalArgumentException("the " + kernels.name() + " backend runs on host caches, got a "
                    + kvCache.getClass().getSimpleName());
        }
        ModelConfig c = config;
        int n = tokens.length;
        int start = cache.length();
        for (int token : tokens) {
            if (token < 0 || token >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, "
                        + c.vocabSize() + ")");
            }
        }
        cache.checkRoom(n);
        int hidden = c.hiddenSize();
        float[] x = new float[n * hidden];          // (n, hidden) residual stream
        float[] xb = new float[n * hidden];         // (n, hidden) normed input
        float[] q = new float[n * c.qDim()];        // (n, qDim)
        float[] k = new float[n * c.kvDim()];       // (n, kvDim)
        float[] v = new float[n * c.kvDim()];       // (n, kvDim)
        float[] att = new float[n * c.qDim()];      // (n, qDim)
        float[] proj = new float[n * hidden];       // (n, hidden)
        float[] gate = new float[n * c.intermediateSize()]; // (n, intermediate)
        float[] up = new float[n * c.intermediateSize()];   // (n, intermediate)
        float[][] rotary = c.ropeTables(invFreq, start, n);
        float[] cos = rotary[0];
        float[] sin = rotary[1];
        kernels.embed(x, weights.embedding(), tokens);
        float scale = (float) (1.0 / Math.sqrt(c.headDim()));
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
            kernels.rmsnorm(xb, x, w.attnNorm(), n, hidden, c.rmsNormEps());
            kernels.matmul(q, xb, w.wq(), n);
            kernels.matmul(k, xb, w.wk(), n);
            kernels.matmul(v, xb, w.wv(), n);
            if (w.bq() != null) {
                kernels.addBias(q, w.bq(), n, c.qDim());
                kernels.addBias(k, w.bk(), n, c.kvDim());
                kernels.addBias(v, w.bv(), n, c.kvDim());
            }
            kernels.rope(q, n, c.numHeads(), c.headDim(), cos, sin);
            kernels.rope(k, n, c.numKvHeads(), c.headDim(), cos, sin);
            cache.append(l, k, v, n);
            HeadKv[] heads = cache.heads(l, k, v, n);
            kernels.attention(att, q, n, start, c.numHeads(), c.headDim(), scale, heads);
            cache.commitStreaming(l, k, v, n);
            kernels.matmul(proj, att, w.wo(), n);
            if (w.bo() != null) {
                kernels.addBias(proj, w.bo(), n, hidden);
            }
            kernels.add(x, proj, n * hidden);

            kernels.rmsnorm(xb, x, w.mlpNorm(), n, hidden, c.rmsNormEps());
            kernels.matmul(gate, xb, w.wGate(), n);
            kernels.matmul(up, xb, w.wUp(), n);
            kernels.siluGate(gate, up, n * c.intermediateSize());
            kernels.matmul(proj, gate, w.wDown(), n);
            kernels.add(x, proj, n * hidden);
        }
        cache.advance(n);

        float[][] logits = new float[logitRows.length][];
        float[] row = new float[hidden];
        float[] normed = new float[hidden];
        for (int r = 0; r < logitRows.length; r++) {
            System.arraycopy(x, logitRows[r] * hidden, row, 0, hidden);
            kernels.rmsnorm(normed, row, weights.finalNorm(), 1, hidden, c.rmsNormEps());
            logits[r] = new float[c.vocabSize()];
            kernels.matmul(logits[r], normed, weights.lmHead(), 1);
        }
        return logits;
    }
}
