package io.headroom.engine.duo.identify;

import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.tensor.WeightTensor;

/**
 * The frozen model as DuoAttention's identification sees it (arXiv 2410.10819, §3.2): every
 * attention head mixes full and streaming attention, {@code out = α·full + (1 − α)·streaming}, with
 * one trainable gate α per (layer, KV head). This class runs the forward pass over a whole sequence
 * (no KV cache), keeps what the backward pass needs, and returns dLoss/dα for a loss on the
 * final-norm hidden states. Weights are frozen: only activation gradients are computed. Double
 * precision throughout, so finite-difference checks are meaningful and the optimisation is not
 * limited by rounding; the model is small enough for that on a CPU.
 */
public final class GateModel {

    private final ModelConfig c;
    private final Parallel parallel;
    private final WeightTensor embeddingTensor; // (vocab, hidden), rows widened on use
    private final Layer[] layers;
    private final double[] finalNorm;         // (hidden)
    private final double[] invFreq;           // (headDim / 2)

    /** One decoder layer's weights, widened to double, row-major (out, in). */
    private record Layer(double[] attnNorm, double[] wq, double[] wk, double[] wv, double[] wo, double[] bq,
            double[] bk, double[] bv, double[] bo, double[] mlpNorm, double[] wg, double[] wu, double[] wd) {
    }

    public GateModel(ModelConfig config, LlamaWeights weights, Parallel parallel) {
        this.c = config;
        this.parallel = parallel;
        this.embeddingTensor = weights.embedding();
        this.layers = new Layer[config.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
            layers[l] = new Layer(d(w.attnNorm()), d(w.wq()), d(w.wk()), d(w.wv()), d(w.wo()), d(w.bq()), d(w.bk()),
                    d(w.bv()), d(w.bo()), d(w.mlpNorm()), d(w.wGate()), d(w.wUp()), d(w.wDown()));
        }
        this.finalNorm = d(weights.finalNorm());
        float[] inv = config.ropeInverseFrequencies();
        this.invFreq = new double[inv.length];
        for (int i = 0; i < inv.length; i++) {
            invFreq[i] = inv[i];
        }
    }

    private static double[] d(float[] a) {
        if (a == null) {
            return null;
        }
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    private static double[] d(WeightTensor t) {
        double[] out = new double[Math.toIntExact(t.size())];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.get(i);
        }
        return out;
    }

    public ModelConfig config() {
        return c;
    }

    /** Activations of one layer kept for the backward pass. */
    private static final class Saved {
        double[] x;      // (T, H) layer input
        double[] invRms1; // (T)
        double[] a;      // (T, H) normed input
        double[] q;      // (T, qDim) rotated
        double[] k;      // (T, kvDim) rotated
        double[] v;      // (T, kvDim)
        double[][] pFull;   // (heads)(T·T) attention probabilities, full
        double[][] pStream; // (heads)(T·T) attention probabilities, streaming
        double[] oFull;  // (T, qDim)
        double[] oStream; // (T, qDim)
        double[] att;    // (T, qDim) mixed
        double[] x2;     // (T, H) after attention residual
        double[] invRms2; // (T)
        double[] b;      // (T, H)
        double[] g;      // (T, I) gate pre-activation
        double[] u;      // (T, I)
    }

    /** The result of a forward pass: final-norm hidden states and what backward needs. */
    public static final class Pass {
        final int tokens;
        final Saved[] saved;
        final double[] xFinal;   // (T, H) before the final norm
        final double[] invRmsFinal;
        public final double[] hidden; // (T, H) final-norm hidden states

        Pass(int tokens, Saved[] saved, double[] xFinal, double[] invRmsFinal, double[] hidden) {
            this.tokens = tokens;
            this.saved = saved;
            this.xFinal = xFinal;
            this.invRmsFinal = invRmsFinal;
            this.hidden = hidden;
        }
    }

    /**
     * Forward pass with gates {@code (layers, kvHeads)}; {@code gates == null} means full attention
     * everywhere (the teacher).
     */
    public Pass forward(int[] tokens, double[][] gates, int sink, int recent) {
        int t = tokens.length;
        int h = c.hiddenSize();
        double[] x = new double[t * h];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < h; j++) {
                x[i * h + j] = embeddingTensor.get((long) tokens[i] * h + j);
            }
        }
        double[][] rot = ropeTables(t);
        double[] cos = rot[0];
        double[] sin = rot[1];
        Saved[] saved = new Saved[layers.length];
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            Saved s = new Saved();
            saved[l] = s;
            s.x = x;
            s.invRms1 = new double[t];
            s.a = rmsnorm(x, w.attnNorm, t, s.invRms1);
            s.q = linear(s.a, w.wq, w.bq, t, h, c.qDim());
            s.k = linear(s.a, w.wk, w.bk, t, h, c.kvDim());
            s.v = linear(s.a, w.wv, w.bv, t, h, c.kvDim());
            rope(s.q, t, c.numHeads(), cos, sin, false);
            rope(s.k, t, c.numKvHeads(), cos, sin, false);
            s.pFull = new double[c.numHeads()][];
            s.pStream = new double[c.numHeads()][];
            s.oFull = new double[t * c.qDim()];
            s.oStream = new double[t * c.qDim()];
            s.att = new double[t * c.qDim()];
            double[] layerGates = gates == null ? null : gates[l];
            parallel.forRange(c.numHeads(), 1, (from, to) -> {
                for (int head = from; head < to; head++) {
                    s.pFull[head] = attend(s.q, s.k, s.v, s.oFull, head, t, false, sink, recent);
                    if (layerGates != null) {
                        s.pStream[head] = attend(s.q, s.k, s.v, s.oStream, head, t, true, sink, recent);
                    }
                }
            });
            int hd = c.headDim();
            for (int i = 0; i < t; i++) {
                for (int head = 0; head < c.numHeads(); head++) {
                    double alpha = layerGates == null ? 1.0 : layerGates[head / c.groupSize()];
                    for (int d = 0; d < hd; d++) {
                        int idx = i * c.qDim() + head * hd + d;
                        s.att[idx] = alpha * s.oFull[idx] + (1 - alpha) * s.oStream[idx];
                    }
                }
            }
            double[] o = linear(s.att, w.wo, w.bo, t, c.qDim(), h);
            s.x2 = add(x, o);
            s.invRms2 = new double[t];
            s.b = rmsnorm(s.x2, w.mlpNorm, t, s.invRms2);
            s.g = linear(s.b, w.wg, null, t, h, c.intermediateSize());
            s.u = linear(s.b, w.wu, null, t, h, c.intermediateSize());
            double[] m = new double[s.g.length];
            for (int i = 0; i < m.length; i++) {
                m[i] = silu(s.g[i]) * s.u[i];
            }
            x = add(s.x2, linear(m, w.wd, null, t, c.intermediateSize(), h));
        }
        double[] invFinal = new double[t];
        double[] hidden = rmsnorm(x, finalNorm, t, invFinal);
        return new Pass(t, saved, x, invFinal, hidden);
    }

    /**
     * dLoss/dgate for a loss whose gradient with respect to the final-norm hidden states is
     * {@code dHidden} {@code (T, H)}; {@code gates} as in the forward pass.
     */
    public double[][] backward(Pass pass, double[] dHidden, double[][] gates, int sink, int recent) {
        int t = pass.tokens;
        int h = c.hiddenSize();
        int hd = c.headDim();
        double[][] rot = ropeTables(t);
        double[] cos = rot[0];
        double[] sin = rot[1];
        double[][] dGates = new double[layers.length][c.numKvHeads()];
        double[] dx = rmsnormBackward(pass.xFinal, finalNorm, pass.invRmsFinal, dHidden, t);
        for (int l = layers.length - 1; l >= 0; l--) {
            Layer w = layers[l];
            Saved s = pass.saved[l];
            // MLP: x_out = x2 + Wd (silu(g) ⊙ u), g = Wg b, u = Wu b, b = rmsnorm(x2)
            double[] dm = linearBackward(dx, w.wd, t, c.intermediateSize(), h);
            double[] dg = new double[s.g.length];
            double[] du = new double[s.u.length];
            for (int i = 0; i < dg.length; i++) {
                double sg = sigmoid(s.g[i]);
                du[i] = dm[i] * s.g[i] * sg;
                dg[i] = dm[i] * s.u[i] * sg * (1 + s.g[i] * (1 - sg));
            }
            double[] db = linearBackward(dg, w.wg, t, h, c.intermediateSize());
            addInPlace(db, linearBackward(du, w.wu, t, h, c.intermediateSize()));
            double[] dx2 = add(dx, rmsnormBackward(s.x2, w.mlpNorm, s.invRms2, db, t));
            // attention: x2 = x + Wo att, att = α·full + (1 − α)·stream per head
            double[] datt = linearBackward(dx2, w.wo, t, c.qDim(), h);
            double[] dq = new double[t * c.qDim()];
            double[] dk = new double[t * c.kvDim()];
            double[] dv = new double[t * c.kvDim()];
            double[] layerGates = gates == null ? null : gates[l];
            for (int head = 0; head < c.numHeads(); head++) {
                int g = head / c.groupSize();
                double alpha = layerGates == null ? 1.0 : layerGates[g];
                double dAlpha = 0;
                for (int i = 0; i < t; i++) {
                    for (int d = 0; d < hd; d++) {
                        int idx = i * c.qDim() + head * hd + d;
                        dAlpha += datt[idx] * (s.oFull[idx] - s.oStream[idx]);
                    }
                }
                if (layerGates != null) {
                    dGates[l][g] += dAlpha;
                }
            }
            // per-head attention backward (heads in parallel; K/V gradients of a group are summed after)
            double[][] dkHead = new double[c.numHeads()][];
            double[][] dvHead = new double[c.numHeads()][];
            parallel.forRange(c.numHeads(), 1, (from, to) -> {
                for (int head = from; head < to; head++) {
                    double alpha = layerGates == null ? 1.0 : layerGates[head / c.groupSize()];
                    double[] dkh = new double[t * hd];
                    double[] dvh = new double[t * hd];
                    attendBackward(s, head, s.pFull[head], alpha, datt, dq, dkh, dvh, t);
                    if (layerGates != null) {
                        attendBackward(s, head, s.pStream[head], 1 - alpha, datt, dq, dkh, dvh, t);
                    }
                    dkHead[head] = dkh;
                    dvHead[head] = dvh;
                }
            });
            for (int head = 0; head < c.numHeads(); head++) {
                int g = head / c.groupSize();
                for (int i = 0; i < t; i++) {
                    for (int d = 0; d < hd; d++) {
                        dk[i * c.kvDim() + g * hd + d] += dkHead[head][i * hd + d];
                        dv[i * c.kvDim() + g * hd + d] += dvHead[head][i * hd + d];
                    }
                }
            }
            rope(dq, t, c.numHeads(), cos, sin, true);
            rope(dk, t, c.numKvHeads(), cos, sin, true);
            double[] da = linearBackward(dq, w.wq, t, h, c.qDim());
            addInPlace(da, linearBackward(dk, w.wk, t, h, c.kvDim()));
            addInPlace(da, linearBackward(dv, w.wv, t, h, c.kvDim()));
            dx = add(dx2, rmsnormBackward(s.x, w.attnNorm, s.invRms1, da, t));
        }
        return dGates;
    }

    /** Cosines and sines of the rotary angles of positions 0 .. t−1, each {@code (t, headDim/2)}. */
    private double[][] ropeTables(int t) {
        int half = c.headDim() / 2;
        double[] cos = new double[t * half];
        double[] sin = new double[t * half];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < half; j++) {
                double angle = i * invFreq[j];
                cos[i * half + j] = Math.cos(angle);
                sin[i * half + j] = Math.sin(angle);
            }
        }
        return new double[][] {cos, sin};
    }

    /**
     * One head's attention over the whole sequence; writes its output into {@code out} and returns the
     * probabilities {@code (T·T)} (zero where masked).
     */
    private double[] attend(double[] q, double[] k, double[] v, double[] out, int head, int t, boolean streaming,
            int sink, int recent) {
        int hd = c.headDim();
        int g = head / c.groupSize();
        double scale = 1 / Math.sqrt(hd);
        double[] p = new double[t * t];
        for (int i = 0; i < t; i++) {
            double max = Double.NEGATIVE_INFINITY;
            int qo = i * c.qDim() + head * hd;
            for (int j = 0; j <= i; j++) {
                if (streaming && !(j < sink || j > i - recent)) {
                    continue;
                }
                int ko = j * c.kvDim() + g * hd;
                double s = 0;
                for (int d = 0; d < hd; d++) {
                    s += q[qo + d] * k[ko + d];
                }
                p[i * t + j] = s * scale;
                max = Math.max(max, s * scale);
            }
            double sum = 0;
            for (int j = 0; j <= i; j++) {
                boolean visible = !streaming || j < sink || j > i - recent;
                p[i * t + j] = visible ? Math.exp(p[i * t + j] - max) : 0;
                sum += p[i * t + j];
            }
            for (int d = 0; d < hd; d++) {
                out[qo + d] = 0;
            }
            for (int j = 0; j <= i; j++) {
                double pij = p[i * t + j] / sum;
                p[i * t + j] = pij;
                if (pij != 0) {
                    int vo = j * c.kvDim() + g * hd;
                    for (int d = 0; d < hd; d++) {
                        out[qo + d] += pij * v[vo + d];
                    }
                }
            }
        }
        return p;
    }

    /** Backward of one attention branch weighted by {@code weight} (α or 1 − α). */
    private void attendBackward(Saved s, int head, double[] p, double weight, double[] datt, double[] dq,
            double[] dk, double[] dv, int t) {
        if (weight == 0) {
            return;
        }
        int hd = c.headDim();
        int g = head / c.groupSize();
        double scale = 1 / Math.sqrt(hd);
        double[] dp = new double[t];
        for (int i = 0; i < t; i++) {
            int qo = i * c.qDim() + head * hd;
            double dot = 0;
            for (int j = 0; j <= i; j++) {
                double pij = p[i * t + j];
                if (pij == 0) {
                    dp[j] = 0;
                    continue;
                }
                int vo = j * c.kvDim() + g * hd;
                double acc = 0;
                for (int d = 0; d < hd; d++) {
                    double dout = weight * datt[qo + d];
                    acc += dout * s.v[vo + d];
                    dv[j * hd + d] += pij * dout;
                }
                dp[j] = acc;
                dot += pij * acc;
            }
            for (int j = 0; j <= i; j++) {
                double pij = p[i * t + j];
                if (pij == 0) {
                    continue;
                }
                double ds = pij * (dp[j] - dot) * scale;
                int ko = j * c.kvDim() + g * hd;
                for (int d = 0; d < hd; d++) {
                    dq[qo + d] += ds * s.k[ko + d];
                    dk[j * hd + d] += ds * s.q[qo + d];
                }
            }
        }
    }

    /** {@code y = x Wᵀ + b}: x (t, in), W (out, in). */
    private double[] linear(double[] x, double[] w, double[] b, int t, int in, int out) {
        double[] y = new double[t * out];
        parallel.forRange(t, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int o = 0; o < out; o++) {
                    double s = b == null ? 0 : b[o];
                    int wo = o * in;
                    int xo = i * in;
                    for (int j = 0; j < in; j++) {
                        s += w[wo + j] * x[xo + j];
                    }
                    y[i * out + o] = s;
                }
            }
        });
        return y;
    }

    /** {@code dx = dy W}: the input gradient of {@link #linear}. */
    private double[] linearBackward(double[] dy, double[] w, int t, int in, int out) {
        double[] dx = new double[t * in];
        parallel.forRange(t, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int o = 0; o < out; o++) {
                    double g = dy[i * out + o];
                    if (g == 0) {
                        continue;
                    }
                    int wo = o * in;
                    int xo = i * in;
                    for (int j = 0; j < in; j++) {
                        dx[xo + j] += g * w[wo + j];
                    }
                }
            }
        });
        return dx;
    }

    private double[] rmsnorm(double[] x, double[] w, int t, double[] invRms) {
        int h = c.hiddenSize();
        double[] y = new double[x.length];
        for (int i = 0; i < t; i++) {
            double ss = 0;
            for (int j = 0; j < h; j++) {
                ss += x[i * h + j] * x[i * h + j];
            }
            double r = 1 / Math.sqrt(ss / h + c.rmsNormEps());
            invRms[i] = r;
            for (int j = 0; j < h; j++) {
                y[i * h + j] = w[j] * x[i * h + j] * r;
            }
        }
        return y;
    }

    /** dx of {@code y = w ⊙ x · r}, r = (mean(x²) + eps)^(−1/2): {@code r·g − r³/H · x · Σ(x ⊙ g)}, g = w ⊙ dy. */
    private double[] rmsnormBackward(double[] x, double[] w, double[] invRms, double[] dy, int t) {
        int h = c.hiddenSize();
        double[] dx = new double[x.length];
        for (int i = 0; i < t; i++) {
            double r = invRms[i];
            double dot = 0;
            for (int j = 0; j < h; j++) {
                dot += x[i * h + j] * w[j] * dy[i * h + j];
            }
            double k = r * r * r * dot / h;
            for (int j = 0; j < h; j++) {
                dx[i * h + j] = r * w[j] * dy[i * h + j] - k * x[i * h + j];
            }
        }
        return dx;
    }

    /** Rotate-half RoPE in place; {@code inverse} applies the transpose (the backward pass). */
    private void rope(double[] x, int t, int heads, double[] cos, double[] sin, boolean inverse) {
        int hd = c.headDim();
        int half = hd / 2;
        double sign = inverse ? -1 : 1;
        for (int i = 0; i < t; i++) {
            for (int head = 0; head < heads; head++) {
                int base = (i * heads + head) * hd;
                for (int j = 0; j < half; j++) {
                    double co = cos[i * half + j];
                    double si = sign * sin[i * half + j];
                    double a = x[base + j];
                    double b = x[base + half + j];
                    x[base + j] = a * co - b * si;
                    x[base + half + j] = b * co + a * si;
                }
            }
        }
    }

    private static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
    }

    private static double silu(double z) {
        return z * sigmoid(z);
    }

    private static double[] add(double[] a, double[] b) {
        double[] out = a.clone();
        addInPlace(out, b);
        return out;
    }

    private static void addInPlace(double[] a, double[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }
}
