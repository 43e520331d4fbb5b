package io.headroom.engine.backend.cpu;

import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.KvSpan;
import io.headroom.engine.tensor.Bf16Tensor;
import io.headroom.engine.tensor.F16Tensor;
import io.headroom.engine.tensor.F32Tensor;
import io.headroom.engine.tensor.WeightTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast CPU path: the Vector API at the machine's preferred width, work split over
 * {@link Parallel}'s threads. Each method computes what {@link ScalarKernels} computes; sums are
 * reassociated (several vector accumulators), so results agree within the tolerances in
 * {@code VectorKernelsTests}. Vector loops finish ragged edges with a scalar tail.
 */
public final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Shorts with as many lanes as {@link #F}: half its bit width. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    private final Parallel parallel;

    public VectorKernels(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public String name() {
        return "cpu-vector(" + F.vectorBitSize() + "-bit, " + parallel.threads() + " threads)";
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
        // Rows are split between threads; each weight row is read once and applied to every token
        // while it is in cache, so prefill streams the weights once per chunk, not once per token.
        parallel.forRange(outDim, 16, (from, to) -> {
            float[] row = w instanceof F16Tensor ? new float[in] : null;
            for (int o = from; o < to; o++) {
                long rowByte = (long) o * in * w.dtype().bytes();
                if (row != null) {
                    widenF16(w.segment(), rowByte, row, in);
                }
                for (int t = 0; t < tokens; t++) {
                    out[t * outDim + o] = switch (w) {
                        case Bf16Tensor b -> dotBf16(b.segment(), rowByte, x, t * in, in);
                        case F32Tensor f -> dotF32(f.segment(), rowByte, x, t * in, in);
                        case F16Tensor h -> dot(row, 0, x, t * in, in);
                    };
                }
            }
        });
    }

    static float dotBf16(MemorySegment seg, long byteOffset, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            acc0 = bf16(seg, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = bf16(seg, byteOffset + 2L * (i + L)).fma(FloatVector.fromArray(F, x, xOff + i + L), acc1);
            acc2 = bf16(seg, byteOffset + 2L * (i + 2 * L)).fma(FloatVector.fromArray(F, x, xOff + i + 2 * L), acc2);
            acc3 = bf16(seg, byteOffset + 2L * (i + 3 * L)).fma(FloatVector.fromArray(F, x, xOff + i + 3 * L), acc3);
        }
        for (; i + L <= n; i += L) {
            acc0 = bf16(seg, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += Bf16Tensor.toFloat(seg.get(SHORT_LE, byteOffset + 2L * i)) * x[xOff + i];
        }
        return sum;
    }

    private static FloatVector bf16(MemorySegment seg, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, byteOffset, LE);
        IntVector widened = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return widened.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static float dotF32(MemorySegment seg, long byteOffset, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromMemorySegment(F, seg, byteOffset + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, seg, byteOffset + 4L * (i + L), LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i + L), acc1);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromMemorySegment(F, seg, byteOffset + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += seg.get(FLOAT_LE, byteOffset + 4L * i)
                    * x[xOff + i];
        }
        return sum;
    }

    private static void widenF16(MemorySegment seg, long byteOffset, float[] dst, int n) {
        for (int i = 0; i < n; i++) {
            dst[i] = Float.float16ToFloat(seg.get(SHORT_LE, byteOffset + 2L * i));
        }
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** {@code acc[accOff + i] += p · v[vOff + i]}. */
    private static void axpy(float[] acc, int accOff, float p, float[] v, int vOff, int n) {
        int i = 0;
        FloatVector pv = FloatVector.broadcast(F, p);
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, v, vOff + i).fma(pv, FloatVector.fromArray(F, acc, accOff + i))
                    .intoArray(acc, accOff + i);
        }
        for (; i < n; i++) {
            acc[accOff + i] += p * v[vOff + i];
        }
    }

    @Override
    public void rmsnorm(float[] out, float[] x, float[] weight, int tokens, int dim, float eps) {
        for (int t = 0; t < tokens; t++) {
            int base = t * dim;
            float ss = dot(x, base, x, base, dim);
            float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
            FloatVector invV = FloatVector.broadcast(F, inv);
            int i = 0;
            for (; i + L <= dim; i += L) {
                FloatVector.fromArray(F, x, base + i).mul(invV).mul(FloatVector.fromArray(F, weight, i))
                        .intoArray(out, base + i);
            }
            for (; i < dim; i++) {
                out[base + i] = weight[i] * (x[base + i] * inv);
            }
        }
    }

    @Override
    public void rope(float[] x, int tokens, int heads, int headDim, float[] cos, float[] sin) {
        int half = headDim / 2;
        for (int t = 0; t < tokens; t++) {
            int cs = t * half;
            for (int h = 0; h < heads; h++) {
                int base = (t * heads + h) * headDim;
                int i = 0;
                for (; i + L <= half; i += L) {
                    FloatVector c = FloatVector.fromArray(F, cos, cs + i);
                    FloatVector s = FloatVector.fromArray(F, sin, cs + i);
                    FloatVector a = FloatVector.fromArray(F, x, base + i);
                    FloatVector b = FloatVector.fromArray(F, x, base + half + i);
                    a.mul(c).sub(b.mul(s)).intoArray(x, base + i);
                    b.mul(c).add(a.mul(s)).intoArray(x, base + half + i);
                }
                for (; i < half; i++) {
                    float c = cos[cs + i];
                    float s = sin[cs + i];
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
        parallel.forRange(tokens * numHeads, 1, (from, to) -> {
            float[] scores = new float[0];
            for (int task = from; task < to; task++) {
                int t = task / numHeads;
                int h = task % numHeads;
                HeadKv head = kv[h / group];
                int position = startPos + t;
                int qBase = t * qDim + h * headDim;
                if (scores.length < head.positions()) {
                    scores = new float[head.positions()];
                }
                float max = Float.NEGATIVE_INFINITY;
                int n = 0;
                for (KvSpan span : head.spans()) {
                    for (int i = 0; i < span.count(); i++, n++) {
                        if (head.visible(span.firstPosition() + i, position)) {
                            scores[n] = dot(q, qBase, span.keys(), span.offset() + i * span.stride(), headDim) * scale;
                            max = Math.max(max, scores[n]);
                        } else {
                            scores[n] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
                float sum = 0f;
                for (int j = 0; j < n; j++) {
                    scores[j] = scores[j] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                Arrays.fill(out, qBase, qBase + headDim, 0f);
                float invSum = 1f / sum;
                n = 0;
                for (KvSpan span : head.spans()) {
                    for (int i = 0; i < span.count(); i++, n++) {
                        if (scores[n] != 0f) {
                            axpy(out, qBase, scores[n] * invSum, span.values(), span.offset() + i * span.stride(),
                                    headDim);
                        }
                    }
                }
            }
        });
    }

    @Override
    public void siluGate(float[] gate, float[] up, int n) {
        int i = 0;
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (; i + L <= n; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            g.div(one.add(g.neg().lanewise(VectorOperators.EXP))).mul(FloatVector.fromArray(F, up, i))
                    .intoArray(gate, i);
        }
        for (; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    @Override
    public void add(float[] acc, float[] x, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, x, i)).intoArray(acc, i);
        }
        for (; i < n; i++) {
            acc[i] += x[i];
        }
    }
}
