package io.headroom.engine.backend.cpu;

import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.KvSpan;
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
    public void attention(float[] out, float[] q, int tokens, int startPos, int numHeads, int headDim, float scale,
            HeadKv[] kv) {
        int group = numHeads / kv.length;
        int qDim = numHeads * headDim;
        for (int t = 0; t < tokens; t++) {
            int position = startPos + t;
            for (int h = 0; h < numHeads; h++) {
                HeadKv head = kv[h / group];
                int qBase = t * qDim + h * headDim;
                float[] scores = new float[head.positions()];
                float max = Float.NEGATIVE_INFINITY;
                int n = 0;
                for (KvSpan span : head.spans()) {
                    for (int i = 0; i < span.count(); i++, n++) {
                        scores[n] = Float.NEGATIVE_INFINITY;
                        if (!head.visible(span.firstPosition() + i, position)) {
                            continue;
                        }
                        int k = span.offset() + i * span.stride();
                        float s = 0f;
                        for (int d = 0; d < headDim; d++) {
                            s += q[qBase + d] * span.keys()[k + d];
                        }
                        scores[n] = s * scale;
                        max = Math.max(max, scores[n]);
                    }
                }
                float sum = 0f;
                for (int j = 0; j < n; j++) {
                    scores[j] = scores[j] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int d = 0; d < headDim; d++) {
                    out[qBase + d] = 0f;
                }
                n = 0;
                for (KvSpan span : head.spans()) {
                    for (int i = 0; i < span.count(); i++, n++) {
                        if (scores[n] == 0f) {
                            continue; // masked (or underflowed): contributes nothing
                        }
                        float p = scores[n] / sum;
                        int v = span.offset() + i * span.stride();
                        for (int d = 0; d < headDim; d++) {
                            out[qBase + d] += p * span.values()[v + d];
                        }
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
