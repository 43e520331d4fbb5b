package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.tensor.Bf16Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The tensor-core prefill GEMM against a double-precision reference of the same bf16 products
 * (weights bf16, activations rounded to bf16): fresh random inputs, a NaN-poisoned output, sizes
 * that are not multiples of the 64×64×32 tiles (and columns that are not multiples of 8, which
 * take the unaligned staging path); and the cuBLAS path the engine takes where libcublas loads
 * (f32_to_bf16, then cublasGemmEx) on the same inputs. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaGemmTests {

    /** Relative error (L2) allowed: only the float32 accumulation order differs from the reference. */
    static final double TOLERANCE = 1e-5;

    @ParameterizedTest
    @CsvSource({"64, 64, 64", "77, 200, 37", "130, 203, 9", "2048, 2048, 256", "33, 8192, 65", "1, 32, 1",
        "136, 96, 200", "520, 264, 130"})
    void gemmShouldMatchTheBf16Reference(int rows, int cols, int tokens) {
        Case c = new Case(rows, cols, tokens);
        try (CudaDevice dev = CudaDevice.open(0)) {
            assertMatches(run(dev, null, c.w, c.x, rows, cols, tokens), c.expected, c + "gemm_bf16_tc");
        }
    }

    /**
     * The engine's cuBLAS path (f32_to_bf16, then cublasGemmEx) on the same cases (columns a multiple
     * of 8, as the engine requires for it). A test of its own so that racecheck can leave cuBLAS's
     * kernels out (device-run.sh).
     */
    @ParameterizedTest
    @CsvSource({"64, 64, 64", "77, 200, 37", "2048, 2048, 256", "33, 8192, 65", "1, 32, 1", "136, 96, 200",
        "520, 264, 130"})
    void cublasShouldMatchTheBf16Reference(int rows, int cols, int tokens) {
        Case c = new Case(rows, cols, tokens);
        try (CudaDevice dev = CudaDevice.open(0); Cublas cublas = Cublas.open(dev).orElseThrow(
                () -> new AssertionError("libcublas should load where a GPU runs these tests"))) {
            assertMatches(run(dev, cublas, c.w, c.x, rows, cols, tokens), c.expected, c + cublas.library());
        }
    }

    /**
     * cublasGemmEx with bf16 outputs (the chunk's gate and up in one GEMM): each element within one
     * bf16 rounding (2⁻⁸ relative, with float32 accumulation's slack) of the double reference.
     */
    @ParameterizedTest
    @CsvSource({"64, 64, 64", "2048, 2048, 256", "136, 96, 200", "520, 264, 130"})
    void cublasBf16OutputShouldBeTheReferenceRounded(int rows, int cols, int tokens) {
        Case c = new Case(rows, cols, tokens);
        try (CudaDevice dev = CudaDevice.open(0); Cublas cublas = Cublas.open(dev).orElseThrow(
                () -> new AssertionError("libcublas should load where a GPU runs these tests"))) {
            CUdeviceptr dw = dev.upload(c.w);
            CUdeviceptr dx = dev.upload(c.x, c.x.length);
            CUdeviceptr dxb = dev.alloc(2L * c.x.length);
            CUdeviceptr dout = dev.upload(bf16NaNs(tokens * rows)); // every element must be written
            try {
                dev.launchAsync("f32_to_bf16", 64, 256, 0, dx, dxb, (long) c.x.length / 2);
                cublas.gemmBf16Out(dw, dxb, dout, rows, cols, tokens);
                dev.synchronize("cublasGemmEx, bf16 out");
                short[] out = new short[tokens * rows];
                dev.download(dout, out);
                double scale = 0;
                for (double e : c.expected) {
                    scale = Math.max(scale, Math.abs(e));
                }
                for (int i = 0; i < out.length; i++) {
                    float got = bf16(out[i]);
                    assertThat(Float.isFinite(got)).as("%s element %d written", c, i).isTrue();
                    assertThat((double) got).as("%s element %d", c, i).isCloseTo(c.expected[i],
                            org.assertj.core.data.Offset.offset(Math.abs(c.expected[i]) / 256 + scale * 1e-6));
                }
            } finally {
                for (CUdeviceptr p : new CUdeviceptr[] {dw, dx, dxb, dout}) {
                    dev.free(p);
                }
            }
        }
    }

    /**
     * silu_gate_pairs_bf16 against float32 arithmetic on the same bf16 gate and up (one row's gate
     * and up side by side): at most one bf16 step apart (expf against Math.exp may tip a rounding),
     * and nearly always identical; inter 200 (not a multiple of the block) and 14336.
     */
    @ParameterizedTest
    @CsvSource({"3, 200", "17, 14336"})
    void siluGatePairsShouldRoundTheFloatProduct(int tokens, int inter) {
        SplittableRandom rnd = new SplittableRandom(tokens * 7L + inter);
        short[] gu = new short[tokens * 2 * inter];
        for (int i = 0; i < gu.length; i++) {
            gu[i] = Bf16Tensor.fromFloat((float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-4, 3))));
        }
        try (CudaDevice dev = CudaDevice.open(0)) {
            CUdeviceptr dgu = dev.upload(gu);
            CUdeviceptr dout = dev.upload(bf16NaNs(tokens * inter));
            try {
                int threads = tokens * inter / 8;
                dev.launch("silu_gate_pairs_bf16", (threads + 255) / 256, 256, 0, dgu, dout, tokens, inter / 8);
                short[] out = new short[tokens * inter];
                dev.download(dout, out);
                int differ = 0;
                for (int t = 0; t < tokens; t++) {
                    for (int i = 0; i < inter; i++) {
                        float g = bf16(gu[t * 2 * inter + i]);
                        float u = bf16(gu[t * 2 * inter + inter + i]);
                        short expected = Bf16Tensor.fromFloat(g / (1f + (float) Math.exp(-g)) * u);
                        short got = out[t * inter + i];
                        assertThat(Math.abs(got - expected)).as("token %d, element %d", t, i).isLessThanOrEqualTo(1);
                        differ += got != expected ? 1 : 0;
                    }
                }
                assertThat(differ).as("elements one bf16 step apart").isLessThanOrEqualTo(tokens * inter / 1000);
            } finally {
                dev.free(dgu);
                dev.free(dout);
            }
        }
    }

    private static short[] bf16NaNs(int n) {
        short[] nans = new short[n];
        Arrays.fill(nans, (short) 0x7fc0);
        return nans;
    }

    private static float bf16(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /**
     * The kernels that write a chunk's GEMM input in bf16 directly (rmsnorm_bf16,
     * rmsnorm_residual_bf16, silu_gate_bf16) should give bit for bit what f32_to_bf16 makes of their
     * float32 forms' outputs, and the same residual sum: rows on the vectorised path (4096) and on the
     * scalar one (203, not a multiple of 4); values spread over many binades, with ties to round.
     */
    @ParameterizedTest
    @CsvSource({"3, 4096", "5, 203"})
    void theBf16OutputKernelsShouldRoundAsF32ToBf16Does(int rows, int dim) {
        SplittableRandom rnd = new SplittableRandom(rows * 131L + dim);
        int n = rows * dim;
        float[] x = new float[n];
        float[] delta = new float[n];
        float[] weight = new float[dim];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-6, 6)));
            delta[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < dim; i++) {
            weight[i] = i % 7 == 0 ? 1f : (float) rnd.nextDouble(-2, 2);
        }
        try (CudaDevice dev = CudaDevice.open(0)) {
            CUdeviceptr dw = dev.upload(weight, dim);
            CUdeviceptr dd = dev.upload(delta, n);
            CUdeviceptr x32 = dev.upload(x, n);
            CUdeviceptr x16 = dev.upload(x, n);
            CUdeviceptr f32 = dev.alloc(4L * n);
            CUdeviceptr viaF32 = dev.alloc(2L * n + 4);
            CUdeviceptr direct = dev.alloc(2L * n + 4);
            CUdeviceptr gate = dev.upload(x, n);
            try {
                dev.launch("rmsnorm_f32", rows, 256, 0, x32, dw, f32, dim, 1e-5f);
                dev.launch("rmsnorm_bf16", rows, 256, 0, x16, dw, direct, dim, 1e-5f);
                assertSameBf16(dev, f32, viaF32, direct, n, "rmsnorm_bf16");
                dev.launch("rmsnorm_residual_f32", rows, 256, 0, x32, dd, dw, f32, dim, 1e-5f);
                dev.launch("rmsnorm_residual_bf16", rows, 256, 0, x16, dd, dw, direct, dim, 1e-5f);
                assertSameBf16(dev, f32, viaF32, direct, n, "rmsnorm_residual_bf16");
                float[] sum32 = new float[n];
                float[] sum16 = new float[n];
                dev.download(x32, sum32, n);
                dev.download(x16, sum16, n);
                assertThat(sum16).as("residual sum").containsExactly(sum32);
                // the SwiGLU product: gate = x, up = delta
                dev.launch("silu_gate_bf16", (n + 255) / 256, 256, 0, gate, dd, direct, n);
                dev.launch("silu_gate_f32", (n + 255) / 256, 256, 0, gate, dd, n);
                assertSameBf16(dev, gate, viaF32, direct, n, "silu_gate_bf16");
            } finally {
                for (CUdeviceptr p : new CUdeviceptr[] {dw, dd, x32, x16, f32, viaF32, direct, gate}) {
                    dev.free(p);
                }
            }
        }
    }

    /** f32_to_bf16(f32) into viaF32 (n even or odd: pairs rounded up) equals direct in its n values. */
    private static void assertSameBf16(CudaDevice dev, CUdeviceptr f32, CUdeviceptr viaF32, CUdeviceptr direct, int n,
            String kernel) {
        dev.launch("f32_to_bf16", 64, 256, 0, f32, viaF32, (long) n / 2);
        short[] expected = new short[n / 2 * 2];
        short[] actual = new short[expected.length];
        dev.download(viaF32, expected);
        dev.download(direct, actual);
        assertThat(actual).as(kernel).containsExactly(expected);
    }

    /** Random bf16 weights and float32 activations, and the double-precision reference of their product. */
    private static final class Case {
        final int rows;
        final int cols;
        final int tokens;
        final short[] w;
        final float[] x;
        final double[] expected;

        Case(int rows, int cols, int tokens) {
            this.rows = rows;
            this.cols = cols;
            this.tokens = tokens;
            SplittableRandom rnd = new SplittableRandom(rows * 31L + cols * 7L + tokens);
            short[] w = new short[rows * cols];
            float[] x = new float[tokens * cols];
            for (int i = 0; i < w.length; i++) {
                w[i] = Bf16Tensor.fromFloat((float) rnd.nextDouble(-1, 1));
            }
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextDouble(-2, 2);
            }
            double[] expected = new double[tokens * rows];
            for (int t = 0; t < tokens; t++) {
                for (int r = 0; r < rows; r++) {
                    double s = 0;
                    for (int k = 0; k < cols; k++) {
                        float xr = Float.intBitsToFloat((Bf16Tensor.fromFloat(x[t * cols + k]) & 0xffff) << 16);
                        float wr = Float.intBitsToFloat((w[r * cols + k] & 0xffff) << 16);
                        s += (double) xr * wr;
                    }
                    expected[t * rows + r] = s;
                }
            }
            this.w = w;
            this.x = x;
            this.expected = expected;
        }

        @Override
        public String toString() {
            return rows + "x" + cols + " x " + tokens + " tokens: ";
        }
    }

    private static float[] run(CudaDevice dev, Cublas cublas, short[] w, float[] x, int rows, int cols, int tokens) {
        float[] actual = new float[tokens * rows];
        Arrays.fill(actual, Float.NaN);
        CUdeviceptr dw = dev.upload(w);
        CUdeviceptr dx = dev.upload(x, x.length);
        CUdeviceptr dxb = dev.alloc(2L * x.length);
        CUdeviceptr dout = dev.upload(actual, actual.length);
        try {
            if (cublas == null) {
                CudaLlamaModel.gemm(dev, dw, dx, dout, rows, cols, tokens);
            } else {
                dev.launchAsync("f32_to_bf16", 64, 256, 0, dx, dxb, (long) x.length / 2);
                cublas.gemm(dw, dxb, dout, rows, cols, tokens);
            }
            dev.synchronize(cublas == null ? "gemm_bf16_tc" : "cublasGemmEx");
            dev.download(dout, actual, actual.length);
            return actual;
        } finally {
            dev.free(dw);
            dev.free(dx);
            dev.free(dxb);
            dev.free(dout);
        }
    }

    private static void assertMatches(float[] actual, double[] expected, String what) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < actual.length; i++) {
            assertThat(Float.isFinite(actual[i])).as("%s: element %d written", what, i).isTrue();
            num += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            den += expected[i] * expected[i];
        }
        assertThat(Math.sqrt(num / den)).as(what).isLessThanOrEqualTo(TOLERANCE);
    }
}
