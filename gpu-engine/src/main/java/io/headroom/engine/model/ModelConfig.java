package io.headroom.engine.model;

import java.util.List;

/**
 * The shape and hyper-parameters of a Llama-family decoder, read from a Hugging Face
 * {@code config.json} (see {@link ModelConfigReader}). Immutable; derived sizes are computed once.
 *
 * @param headDim per-head width; {@code hiddenSize / numHeads} unless the config says otherwise
 * @param qkvBias whether q, k and v projections carry biases (Qwen2, Llama with attention_bias)
 * @param outputBias whether the attention output projection carries a bias (Llama with attention_bias)
 * @param eosTokenIds every token id that ends generation (config.json and generation_config.json)
 */
public record ModelConfig(
        Architecture architecture,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int maxPositions,
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean qkvBias,
        boolean outputBias,
        boolean tieWordEmbeddings,
        Integer bosTokenId,
        List<Integer> eosTokenIds) {

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        require(vocabSize > 0 && hiddenSize > 0 && intermediateSize > 0 && numLayers > 0,
                "sizes must be positive");
        require(numHeads > 0 && numKvHeads > 0 && numHeads % numKvHeads == 0,
                "num_attention_heads (" + numHeads + ") must be a multiple of num_key_value_heads ("
                        + numKvHeads + ")");
        require(headDim > 0 && headDim % 2 == 0, "head_dim (" + headDim + ") must be positive and even");
        require(maxPositions > 0, "max_position_embeddings must be positive");
        require(rmsNormEps > 0, "rms_norm_eps must be positive");
        require(ropeTheta > 0, "rope_theta must be positive");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Width of all query heads together: {@code numHeads * headDim}. */
    public int qDim() {
        return numHeads * headDim;
    }

    /** Width of all key (or value) heads together: {@code numKvHeads * headDim}. */
    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Query heads per KV head (1 for MHA). */
    public int groupSize() {
        return numHeads / numKvHeads;
    }

    /** Rotary inverse frequencies, scaled, as float32 like transformers computes them. */
    public float[] ropeInverseFrequencies() {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            // transformers: 1 / base ** (arange(0, d, 2).float() / d), evaluated in float32
            float exponent = (float) (2 * i) / headDim;
            inv[i] = 1.0f / (float) Math.pow(ropeTheta, exponent);
        }
        ropeScaling.apply(inv);
        float[] out = new float[inv.length];
        for (int i = 0; i < inv.length; i++) {
            out[i] = (float) inv[i];
        }
        return out;
    }

    /** Chunks from this many tokens compute their rotary tables on the common fork-join pool. */
    private static final int PARALLEL_ROPE_TOKENS = 256;

    /**
     * Cosines and sines of the rotary angles {@code position · invFreq[i]} for positions
     * {@code start .. start + tokens − 1}, each {@code (tokens, headDim/2)}; the angle is a float32
     * product, as transformers computes it.
     */
    public float[][] ropeTables(float[] invFreq, int start, int tokens) {
        int half = headDim / 2;
        float[] cos = new float[tokens * half];
        float[] sin = new float[tokens * half];
        // a 2048-token prefill chunk is 2 × 131,072 double-precision cos/sin calls (8B geometry): a few
        // ms of host time per chunk while the GPU waits for it, so long chunks spread over the cores
        java.util.stream.IntStream rows = java.util.stream.IntStream.range(0, tokens);
        (tokens >= PARALLEL_ROPE_TOKENS ? rows.parallel() : rows).forEach(t -> {
            float pos = start + t;
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        });
        return new float[][] {cos, sin};
    }

    /** Number of parameters, for reports. */
    public long parameterCount() {
        long attn = (long) hiddenSize * qDim() * 2 + (long) hiddenSize * kvDim() * 2;
        long mlp = 3L * hiddenSize * intermediateSize;
        long perLayer = attn + mlp + 2L * hiddenSize;
        long embed = (long) vocabSize * hiddenSize;
        return perLayer * numLayers + embed * (tieWordEmbeddings ? 1 : 2) + hiddenSize;
    }
}
