package io.headroom.engine.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.KernelTestData;
import io.headroom.engine.backend.KvSpan;
import io.headroom.engine.tensor.Bf16Tensor;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every fast op against the scalar reference on seeded random inputs, at sizes that are not
 * multiples of the vector width (16 floats with AVX-512, 8 with AVX2), with two threads. Outputs
 * are poisoned with NaN first, so an element the fast path forgets to write fails the comparison.
 *
 * <p>Tolerance table, {@code |fast − ref| ≤ ATOL + RTOL·|ref|}; both compute in float32 and differ
 * only in summation order (several vector accumulators, then a lane reduction):
 * <ul>
 *   <li>dot products of length n (matmul, attention scores, rmsnorm's sum of squares): the error
 *       bound grows like n·ε·Σ|aᵢbᵢ|; with n ≤ 1000 and inputs in [-1, 1], RTOL 1e-5 and ATOL 1e-5
 *       hold with margin;</li>
 *   <li>elementwise ops (rope, add): the same operations in the same order: RTOL 1e-6, ATOL 1e-7;</li>
 *   <li>silu-gate: the vector path's exp differs from Math.exp by a few ulp: RTOL 1e-5, ATOL 1e-6;</li>
 *   <li>attention: softmax weights ×(1/sum) instead of ÷sum, plus reordered dots: RTOL 1e-5, ATOL 1e-6.</li>
 * </ul>
 */
class VectorKernelsTests {

    static final double DOT_RTOL = 1e-5;
    static final double DOT_ATOL = 1e-5;
    static final double ELEMENTWISE_RTOL = 1e-6;
    static final double ELEMENTWISE_ATOL = 1e-7;
    static final double SILU_RTOL = 1e-5;
    static final double SILU_ATOL = 1e-6;
    static final double ATTENTION_RTOL = 1e-5;
    static final double ATTENTION_ATOL = 1e-6;

    static Parallel parallel;
    static VectorKernels fast;
    static final ScalarKernels REF = new ScalarKernels();

    final KernelTestData data = new KernelTestData(20261125);

    @BeforeAll
    static void start() {
        parallel = new Parallel(2);
        fast = new VectorKernels(parallel);
    }

    @AfterAll
    static void stop() {
        parallel.close();
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void matmulShouldMatchReferenceForEveryDtypeAndRaggedSizes(DType dtype) {
        for (int[] size : new int[][] {{1, 1, 1}, {1, 37, 23}, {3, 67, 45}, {5, 131, 97}, {1, 1000, 17}}) {
            int tokens = size[0];
            int in = size[1];
            int out = size[2];
            WeightTensor w = randomTensor(dtype, out, in);
            float[] x = randomArray(tokens * in);
            float[] expected = poisoned(tokens * out);
            float[] actual = poisoned(tokens * out);
            REF.matmul(expected, x, w, tokens);
            fast.matmul(actual, x, w, tokens);
            assertClose(actual, expected, DOT_RTOL, DOT_ATOL, "matmul " + dtype + " " + tokens + "x" + in + "x" + out);
        }
    }

    @Test
    void rmsnormShouldMatchReference() {
        for (int dim : new int[] {1, 15, 17, 100, 333}) {
            int tokens = 3;
            float[] x = randomArray(tokens * dim);
            float[] weight = randomArray(dim);
            float[] expected = poisoned(tokens * dim);
            float[] actual = poisoned(tokens * dim);
            REF.rmsnorm(expected, x, weight, tokens, dim, 1e-5f);
            fast.rmsnorm(actual, x, weight, tokens, dim, 1e-5f);
            assertClose(actual, expected, DOT_RTOL, DOT_ATOL, "rmsnorm dim " + dim);
        }
    }

    @Test
    void ropeShouldMatchReference() {
        for (int headDim : new int[] {2, 16, 24, 46, 128}) {
            int tokens = 4;
            int heads = 3;
            float[] x = randomArray(tokens * heads * headDim);
            float[] cos = randomArray(tokens * headDim / 2);
            float[] sin = randomArray(tokens * headDim / 2);
            float[] expected = x.clone();
            float[] actual = x.clone();
            REF.rope(expected, tokens, heads, headDim, cos, sin);
            fast.rope(actual, tokens, heads, headDim, cos, sin);
            assertClose(actual, expected, ELEMENTWISE_RTOL, ELEMENTWISE_ATOL, "rope headDim " + headDim);
        }
    }

    @Test
    void groupedQueryAttentionShouldMatchReference() {
        int[][] shapes = {{4, 4, 16}, {8, 2, 24}, {6, 1, 13 * 2}, {3, 3, 10}};
        for (int[] s : shapes) {
            int heads = s[0];
            int kvHeads = s[1];
            int headDim = s[2];
            int startPos = 29;
            int tokens = 7;
            int positions = startPos + tokens;
            float[] q = randomArray(tokens * heads * headDim);
            float[] k = randomArray(positions * kvHeads * headDim);
            float[] v = randomArray(positions * kvHeads * headDim);
            HeadKv[] kv = denseHeads(k, v, kvHeads, headDim, positions, false, 0, 1);
            float[] expected = poisoned(tokens * heads * headDim);
            float[] actual = poisoned(tokens * heads * headDim);
            float scale = (float) (1 / Math.sqrt(headDim));
            REF.attention(expected, q, tokens, startPos, heads, headDim, scale, kv);
            fast.attention(actual, q, tokens, startPos, heads, headDim, scale, kv);
            assertClose(actual, expected, ATTENTION_RTOL, ATTENTION_ATOL,
                    "attention " + heads + "/" + kvHeads + " heads, dim " + headDim);
        }
    }

    @Test
    void streamingHeadsOverSinkRingAndChunkSpansShouldMatchReference() {
        int heads = 4;
        int kvHeads = 2;
        int headDim = 20;
        int sink = 3;
        int recent = 5;
        int tokens = 6;
        int startPos = 17;
        float[] q = randomArray(tokens * heads * headDim);
        HeadKv[] kv = new HeadKv[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            // sink (positions 0..2), the ring before the chunk as two wrapped runs (12..14, 15..16),
            // then the chunk itself (17..22) with the stride of an interleaved (tokens, kvDim) array
            float[] sk = randomArray((sink + recent) * headDim);
            float[] sv = randomArray((sink + recent) * headDim);
            float[] ck = randomArray(tokens * kvHeads * headDim);
            float[] cv = randomArray(tokens * kvHeads * headDim);
            kv[h] = new HeadKv(h == 0, sink, recent, new KvSpan[] {
                new KvSpan(sk, sv, 0, headDim, 0, sink),
                new KvSpan(sk, sv, (sink + 2) * headDim, headDim, 12, 3),
                new KvSpan(sk, sv, sink * headDim, headDim, 15, 2),
                new KvSpan(ck, cv, h * headDim, kvHeads * headDim, startPos, tokens)});
        }
        float[] expected = poisoned(tokens * heads * headDim);
        float[] actual = poisoned(tokens * heads * headDim);
        REF.attention(expected, q, tokens, startPos, heads, headDim, 0.2f, kv);
        fast.attention(actual, q, tokens, startPos, heads, headDim, 0.2f, kv);
        assertClose(actual, expected, ATTENTION_RTOL, ATTENTION_ATOL, "streaming spans");
    }

    @Test
    void streamingHeadShouldSeeExactlyTheSinkAndTheRecentWindow() {
        // definition check on dense keys: a streaming head at position i equals full attention over
        // the subset {j < sink} ∪ {i − recent < j ≤ i}, computed here by dropping the other positions
        int headDim = 8;
        int positions = 30;
        int sink = 4;
        int recent = 6;
        float[] q = randomArray(headDim);
        float[] k = randomArray(positions * headDim);
        float[] v = randomArray(positions * headDim);
        int query = positions - 1;
        float[] streaming = new float[headDim];
        REF.attention(streaming, q, 1, query, 1, headDim, 0.3f, denseHeads(k, v, 1, headDim, positions, true, sink,
                recent));
        int[] kept = java.util.stream.IntStream.range(0, positions)
                .filter(j -> j < sink || j > query - recent).toArray();
        float[] k2 = new float[kept.length * headDim];
        float[] v2 = new float[kept.length * headDim];
        for (int i = 0; i < kept.length; i++) {
            System.arraycopy(k, kept[i] * headDim, k2, i * headDim, headDim);
            System.arraycopy(v, kept[i] * headDim, v2, i * headDim, headDim);
        }
        float[] subset = new float[headDim];
        REF.attention(subset, q, 1, kept.length - 1, 1, headDim, 0.3f, denseHeads(k2, v2, 1, headDim, kept.length,
                false, 0, 1));
        assertClose(streaming, subset, 1e-6, 1e-7, "streaming = full over sink + window");
        float[] full = new float[headDim];
        REF.attention(full, q, 1, query, 1, headDim, 0.3f, denseHeads(k, v, 1, headDim, positions, false, 0, 1));
        assertThat(full).isNotEqualTo(streaming);
    }

    @Test
    void attentionShouldIgnoreCachePositionsAfterTheQuery() {
        int heads = 2;
        int headDim = 16;
        float[] q = randomArray(heads * headDim);
        float[] k = randomArray(10 * heads * headDim);
        float[] v = randomArray(10 * heads * headDim);
        float[] first = new float[heads * headDim];
        fast.attention(first, q, 1, 4, heads, headDim, 0.25f, denseHeads(k, v, heads, headDim, 10, false, 0, 1));
        for (int i = 5 * heads * headDim; i < k.length; i++) { // positions 5.. are in the future of position 4
            k[i] = 1e6f;
            v[i] = Float.NaN;
        }
        float[] second = new float[heads * headDim];
        fast.attention(second, q, 1, 4, heads, headDim, 0.25f, denseHeads(k, v, heads, headDim, 10, false, 0, 1));
        assertThat(second).containsExactly(first);
    }

    /** One span per KV head over dense {@code (positions, kvHeads · headDim)} arrays. */
    static HeadKv[] denseHeads(float[] k, float[] v, int kvHeads, int headDim, int positions, boolean streaming,
            int sink, int recent) {
        HeadKv[] out = new HeadKv[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            out[h] = new HeadKv(streaming, sink, recent,
                    new KvSpan[] {new KvSpan(k, v, h * headDim, kvHeads * headDim, 0, positions)});
        }
        return out;
    }

    @Test
    void siluGateAndAddShouldMatchReference() {
        for (int n : new int[] {1, 15, 17, 1000}) {
            float[] gate = randomArray(n);
            for (int i = 0; i < n; i++) {
                gate[i] *= 20; // exercise both tails of the sigmoid
            }
            float[] up = randomArray(n);
            float[] expected = gate.clone();
            float[] actual = gate.clone();
            REF.siluGate(expected, up, n);
            fast.siluGate(actual, up, n);
            assertClose(actual, expected, SILU_RTOL, SILU_ATOL, "siluGate n " + n);

            float[] accRef = randomArray(n);
            float[] accFast = accRef.clone();
            REF.add(accRef, up, n);
            fast.add(accFast, up, n);
            assertClose(accFast, accRef, ELEMENTWISE_RTOL, ELEMENTWISE_ATOL, "add n " + n);
        }
    }

    @Test
    void embedShouldCopyTheRowsOfTheTokens() {
        WeightTensor table = randomTensor(DType.BF16, 50, 19);
        int[] tokens = {3, 49, 0, 3};
        float[] expected = poisoned(tokens.length * 19);
        float[] actual = poisoned(tokens.length * 19);
        REF.embed(expected, table, tokens);
        fast.embed(actual, table, tokens);
        assertThat(actual).containsExactly(expected);
        assertThat(actual[19]).isEqualTo(table.get(49L * 19));
    }

    @Test
    void bf16RoundingShouldBeRoundToNearestEven() {
        assertThat(Bf16Tensor.fromFloat(1.0f)).isEqualTo((short) 0x3F80);
        // 1 + 2^-8 lies halfway between two bf16 values: ties go to the even mantissa (1.0)
        assertThat(Bf16Tensor.fromFloat(1.00390625f)).isEqualTo((short) 0x3F80);
        // 1 + 3·2^-8 lies halfway: rounds up to the even neighbour 1 + 2^-6
        assertThat(Bf16Tensor.fromFloat(1.01171875f)).isEqualTo((short) 0x3F82);
        assertThat(Bf16Tensor.toFloat(Bf16Tensor.fromFloat(-2.5f))).isEqualTo(-2.5f);
        assertThat(Float.isNaN(Bf16Tensor.toFloat(Bf16Tensor.fromFloat(Float.NaN)))).isTrue();
    }

    WeightTensor randomTensor(DType dtype, int rows, int cols) {
        return data.weight(dtype, rows, cols);
    }

    float[] randomArray(int n) {
        return data.random(n);
    }

    static float[] poisoned(int n) {
        return KernelTestData.poisoned(n);
    }

    static void assertClose(float[] actual, float[] expected, double rtol, double atol, String what) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            double bound = atol + rtol * Math.abs(expected[i]);
            assertThat(Float.isFinite(actual[i]) && Math.abs(actual[i] - expected[i]) <= bound)
                    .as("%s [%d]: fast %s, reference %s, bound %s", what, i, actual[i], expected[i], bound)
                    .isTrue();
        }
    }
}
