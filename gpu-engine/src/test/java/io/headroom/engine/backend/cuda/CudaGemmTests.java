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
