package io.headroom.engine.backend.cpu;

import io.headroom.engine.backend.Kernels;
import io.headroom.engine.tensor.WeightTensor;

/**
 * The reference implementation of every op: plain loops, one thread, float32 accumulation in index
 * order. It defines what the ops mean; the fast paths are tested against it. Slow by design.
 */
public final class ScalarKernels implements Kernels {

    @Override
    public String name() {
        return "cpu-scalar";
    }

    @Override
    public void embed(float[] out, WeightTensor table, int[] tokens) {
        int dim = table.cols();
        for (int t = 0; t < tokens.length; t++) {
            table.rowToFloat(tokens[t], out, t * dim);
        }
    }

    @Override
    public void matmul(float[] out, float[] x, WeightTensor w, int tokens) {
        int in = w.cols();
        int outDim = w.rows();
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < outDim; o++) {
                out[t * outDim + o] = w.dot((long) o * in, x, t * in, in);
            }
        }
    }

    @Override
    public void rmsnorm(float[] out, float[] x, float[] weight, int tokens, int dim, float eps) {
        for (int t = 0; t < tokens; t++) {
            int base = t * dim;
            float ss = 0f;
            for (int i = 0; i < dim; i++) {
                ss += x[base + i] * x[base + i];
            }
            float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) {
                out[base + i] = weight[i] * (x[base + i] * inv);
            }
        }
    }

    @Override
    public void rope(float[] x, int tokens, int heads, int headDim, float[] cos, float[] sin) {
        int half = headDim / 2;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int base = (t * heads + h) * headDim;
                for (int i = 0; i < half; i++) {
                    float c = cos[t * half + i];
                    float s = sin[t * half + i];
                    float a = x[base + i];
                    float b = x[base + half + i];
                    x[base + i] = a * c - b * s;
                    x[base + half + i] = b * c + a * s;
                }
            }
        }
    }

    @Override
    public void attention(float[] out, float[] q, float[] keys, float[] values, int tokens, int startPos,
            int numHeads, int numKvHeads, int headDim, float scale) {
        int group = numHeads / numKvHeads;
        int qDim = numHeads * headDim;
        int kvDim = numKvHeads * headDim;
        float[] scores = new float[startPos + tokens];
        for (int t = 0; t < tokens; t++) {
            int len = startPos + t + 1;
            for (int h = 0; h < numHeads; h++) {
                int qBase = t * qDim + h * headDim;
                int kvOff = (h / group) * headDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    float s = 0f;
                    for (int i = 0; i < headDim; i++) {
                        s += q[qBase + i] * keys[j * kvDim + kvOff + i];
                    }
                    scores[j] = s * scale;
                    max = Math.max(max, scores[j]);
                }
                float sum = 0f;
                for (int j = 0; j < len; j++) {
                    scores[j] = (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int i = 0; i < headDim; i++) {
                    out[qBase + i] = 0f;
                }
                for (int j = 0; j < len; j++) {
                    float p = scores[j] / sum;
                    for (int i = 0; i < headDim; i++) {
                        out[qBase + i] += p * values[j * kvDim + kvOff + i];
                    }
                }
            }
        }
    }

    @Override
    public void siluGate(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    @Override
    public void add(float[] acc, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            acc[i] += x[i];
        }
    }
}
