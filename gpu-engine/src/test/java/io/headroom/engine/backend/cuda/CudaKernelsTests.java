package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.KernelTestData;
import io.headroom.engine.backend.KvSpan;
import io.headroom.engine.backend.cpu.ScalarKernels;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every CUDA kernel against the CPU scalar reference: fresh seeded random inputs, outputs poisoned
 * with NaN, sizes that are not multiples of the warp, the block or the 8-element vector loads.
 * Tagged {@code gpu}: runs on the GPU machine ({@code -Dgroups=gpu}) and fails — never skips — when
 * no device is present.
 *
 * <p>Tolerances, {@code |gpu − ref| ≤ ATOL + RTOL·|ref|}: the same bf16 weight values and float32
 * accumulation in a different order (warp shuffles), so dot products agree to ~1e-6 relative; the
 * device's expf, rsqrtf and fast division differ from Java's by a few ulp. 1e-4 / 1e-5 leaves
 * margin without hiding an indexing error (which shows as O(1) differences).
 */
@Tag("gpu")
class CudaKernelsTests {

    static final double RTOL = 1e-4;
    static final double ATOL = 1e-5;
    /** Float32 dot products summed in another order: relative to Σ|terms| (≈ sqrt(n)·2^-24 typical). */
    static final double DOT_RTOL = 1e-5;

    static CudaKernels gpu;
    static final ScalarKernels REF = new ScalarKernels();
    final KernelTestData data = new KernelTestData(System.nanoTime()); // fresh inputs on every run

    @BeforeAll
    static void open() {
        gpu = CudaKernels.open(); // throws when no device: the tag was selected, so that is a failure
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    @Test
    void matmulShouldMatchReferenceAtRaggedSizesAndTokenCounts() {
        // {tokens, cols, rows}: one token takes the two-rows-per-warp decode kernel (odd row counts
        // leave a warp's second row past the end), more the 8-token one
        for (int[] s : new int[][] {{1, 1, 1}, {1, 37, 23}, {3, 67, 45}, {9, 131, 97}, {17, 1000, 33},
            {2, 4096, 70}, {1, 4096, 71}, {1, 2048, 17}}) {
            WeightTensor w = bf16(s[2], s[1]);
            float[] x = random(s[0] * s[1]);
            float[] expected = poisoned(s[0] * s[2]);
            float[] actual = poisoned(s[0] * s[2]);
            REF.matmul(expected, x, w, s[0]);
            gpu.matmul(actual, x, w, s[0]);
            // a dot product's rounding scales with the sum of its terms' magnitudes, not with its
            // result (which cancellation can make small): bound by Σ|w·x|
            for (int t = 0; t < s[0]; t++) {
                for (int o = 0; o < s[2]; o++) {
                    double terms = 0;
                    for (int i = 0; i < s[1]; i++) {
                        terms += Math.abs((double) w.get((long) o * s[1] + i) * x[t * s[1] + i]);
                    }
                    int at = t * s[2] + o;
                    assertThat(Float.isFinite(actual[at])
                            && Math.abs(actual[at] - expected[at]) <= ATOL + DOT_RTOL * terms)
                            .as("matmul %s [%d]: gpu %s, reference %s, sum of |terms| %s", Arrays.toString(s), at,
                                    actual[at], expected[at], terms).isTrue();
                }
            }
        }
    }

    @Test
    void embeddingRmsnormRopeSiluAddShouldMatchReference() {
        WeightTensor table = bf16(50, 77);
        int[] tokens = {3, 49, 0, 3, 17};
        float[] e1 = poisoned(5 * 77);
        float[] e2 = poisoned(5 * 77);
        REF.embed(e1, table, tokens);
        gpu.embed(e2, table, tokens);
        assertThat(e2).containsExactly(e1);

        for (int dim : new int[] {1, 31, 33, 333, 4100}) {
            float[] x = random(3 * dim);
            float[] w = random(dim);
            float[] a = poisoned(3 * dim);
            float[] b = poisoned(3 * dim);
            REF.rmsnorm(a, x, w, 3, dim, 1e-5f);
            gpu.rmsnorm(b, x, w, 3, dim, 1e-5f);
            assertClose(b, a, "rmsnorm " + dim);
        }
        for (int headDim : new int[] {2, 24, 46, 128}) {
            float[] x = random(4 * 3 * headDim);
            float[] cos = random(4 * headDim / 2);
            float[] sin = random(4 * headDim / 2);
            float[] a = x.clone();
            float[] b = x.clone();
            REF.rope(a, 4, 3, headDim, cos, sin);
            gpu.rope(b, 4, 3, headDim, cos, sin);
            assertClose(b, a, "rope " + headDim);
        }
        for (int n : new int[] {1, 255, 257, 10000}) {
            float[] g = random(n);
            float[] up = random(n);
            float[] a = g.clone();
            float[] b = g.clone();
            REF.siluGate(a, up, n);
            gpu.siluGate(b, up, n);
            assertClose(b, a, "silu " + n);
            float[] acc1 = random(n);
            float[] acc2 = acc1.clone();
            REF.add(acc1, up, n);
            gpu.add(acc2, up, n);
            assertClose(acc2, acc1, "add " + n);
            float[] bias = random(7);
            float[] x1 = random(7 * 5);
            float[] x2 = x1.clone();
            REF.addBias(x1, bias, 5, 7);
            gpu.addBias(x2, bias, 5, 7);
            assertClose(x2, x1, "bias");
        }
    }

    @Test
    void attentionShouldMatchReferenceForRetrievalAndStreamingHeads() {
        int heads = 8;
        int kvHeads = 2;
        int headDim = 24;
        int sink = 3;
        int recent = 5;
        int tokens = 6;
        int startPos = 17;
        float[] q = random(tokens * heads * headDim);
        HeadKv[] kv = new HeadKv[kvHeads];
        // head 0 streaming over sink + wrapped ring + chunk; head 1 retrieval over two pages + chunk
        float[] sk = random((sink + recent) * headDim);
        float[] sv = random((sink + recent) * headDim);
        float[] ck = random(tokens * kvHeads * headDim);
        float[] cv = random(tokens * kvHeads * headDim);
        kv[0] = new HeadKv(true, sink, recent, new KvSpan[] {
            new KvSpan(sk, sv, 0, headDim, 0, sink),
            new KvSpan(sk, sv, (sink + 2) * headDim, headDim, 12, 3),
            new KvSpan(sk, sv, sink * headDim, headDim, 15, 2),
            new KvSpan(ck, cv, 0, kvHeads * headDim, startPos, tokens)});
        float[] p0 = random(16 * headDim);
        float[] p0v = random(16 * headDim);
        float[] p1 = random(16 * headDim);
        float[] p1v = random(16 * headDim);
        kv[1] = new HeadKv(false, 0, 1, new KvSpan[] {
            new KvSpan(p0, p0v, 0, headDim, 0, 16),
            new KvSpan(p1, p1v, 0, headDim, 16, startPos + tokens - 16)});
        float[] expected = poisoned(tokens * heads * headDim);
        float[] actual = poisoned(tokens * heads * headDim);
        REF.attention(expected, q, tokens, startPos, heads, headDim, 0.2f, kv);
        gpu.attention(actual, q, tokens, startPos, heads, headDim, 0.2f, kv);
        assertClose(actual, expected, "attention");
    }

    WeightTensor bf16(int rows, int cols) {
        return data.weight(DType.BF16, rows, cols);
    }

    float[] random(int n) {
        return data.random(n);
    }

    static float[] poisoned(int n) {
        return KernelTestData.poisoned(n);
    }

    static void assertClose(float[] actual, float[] expected, String what) {
        for (int i = 0; i < expected.length; i++) {
            double bound = ATOL + RTOL * Math.abs(expected[i]);
            assertThat(Float.isFinite(actual[i]) && Math.abs(actual[i] - expected[i]) <= bound)
                    .as("%s [%d]: gpu %s, reference %s", what, i, actual[i], expected[i]).isTrue();
        }
    }
}
