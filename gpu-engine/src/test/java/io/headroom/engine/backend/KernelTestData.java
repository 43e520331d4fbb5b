package io.headroom.engine.backend;

import io.headroom.engine.tensor.Bf16Tensor;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Inputs for kernel tests: seeded uniform values in [-1, 1), weights in every dtype, poisoned outputs. */
public final class KernelTestData {

    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final SplittableRandom random;
    private final Arena arena = Arena.ofAuto();

    public KernelTestData(long seed) {
        this.random = new SplittableRandom(seed);
    }

    public float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** A {@code (rows, cols)} weight of the given storage format. */
    public WeightTensor weight(DType dtype, int rows, int cols) {
        MemorySegment seg = arena.allocate((long) rows * cols * dtype.bytes());
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) (random.nextDouble() * 2 - 1);
            switch (dtype) {
                case BF16 -> seg.setAtIndex(SHORT_LE, i, Bf16Tensor.fromFloat(v));
                case F16 -> seg.setAtIndex(SHORT_LE, i, Float.floatToFloat16(v));
                case F32 -> seg.setAtIndex(FLOAT_LE, i, v);
                default -> throw new IllegalStateException("unreachable");
            }
        }
        return WeightTensor.of("w", dtype, seg, rows, cols);
    }

    /** An output array filled with NaN, so an element a kernel forgets to write fails the comparison. */
    public static float[] poisoned(int n) {
        float[] a = new float[n];
        Arrays.fill(a, Float.NaN);
        return a;
    }
}
