package io.headroom.engine.backend;

import io.headroom.engine.tensor.WeightTensor;

/**
 * The operations of a Llama-family forward pass over float32 activations. Activations are row-major
 * {@code float[]} blocks of {@code tokens} rows. Each CPU implementation is checked against
 * {@link io.headroom.engine.backend.cpu.ScalarKernels}, the reference that defines the meaning.
 */
public interface Kernels {

    /** A short name for logs and reports. */
    String name();

    /** {@code out[t, :] = table[tokens[t], :]} for each token. */
    void embed(float[] out, WeightTensor table, int[] tokens);

    /**
     * {@code out[t, o] = Σ_i w[o, i] · x[t, i]} for {@code t < tokens}: x is {@code (tokens, w.cols)},
     * out is {@code (tokens, w.rows)}.
     */
    void matmul(float[] out, float[] x, WeightTensor w, int tokens);

    /** {@code out[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + eps) · weight} for each of {@code tokens} rows. */
    void rmsnorm(float[] out, float[] x, float[] weight, int tokens, int dim, float eps);

    /**
     * Rotary embedding in transformers' "rotate half" layout, in place: for each token t, head h and
     * i < headDim/2, with a = x[t, h, i], b = x[t, h, i + headDim/2] and θ = position(t) · invFreq[i]:
     * {@code x[t,h,i] = a·cosθ − b·sinθ}, {@code x[t,h,i+d/2] = b·cosθ + a·sinθ}.
     *
     * @param cos {@code (tokens, headDim/2)} cosines of the angles
     * @param sin {@code (tokens, headDim/2)} sines of the angles
     */
    void rope(float[] x, int tokens, int heads, int headDim, float[] cos, float[] sin);

    /**
     * Causal attention with grouped KV heads and DuoAttention masking. Query row t is at absolute
     * position {@code startPos + t}; query head h reads KV head {@code h / (numHeads / kv.length)},
     * over the positions of that head's spans that {@link HeadKv#visible} allows.
     *
     * @param out {@code (tokens, numHeads · headDim)}
     * @param q {@code (tokens, numHeads · headDim)}, already rotated
     * @param kv one entry per KV head
     */
    void attention(float[] out, float[] q, int tokens, int startPos, int numHeads, int headDim, float scale,
            HeadKv[] kv);

    /** {@code gate[i] = silu(gate[i]) · up[i]} for i < n, where silu(z) = z / (1 + e^(−z)). */
    void siluGate(float[] gate, float[] up, int n);

    /** {@code acc[i] += x[i]} for i < n. */
    void add(float[] acc, float[] x, int n);

    /** {@code x[t, i] += bias[i]} for t < tokens, i < dim. */
    default void addBias(float[] x, float[] bias, int tokens, int dim) {
        for (int t = 0; t < tokens; t++) {
            int base = t * dim;
            for (int i = 0; i < dim; i++) {
                x[base + i] += bias[i];
            }
        }
    }
}
