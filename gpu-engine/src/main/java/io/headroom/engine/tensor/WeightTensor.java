package io.headroom.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A read-only weight tensor over (usually memory-mapped) little-endian storage, viewed as a row-major
 * matrix {@code (rows, cols)}; a vector is one row. One subclass per storage format. The scalar
 * methods here are the meaning; the CPU backend's vector kernels read {@link #segment()} directly
 * and are tested against these.
 */
public abstract sealed class WeightTensor permits Bf16Tensor, F16Tensor, F32Tensor {

    private final String name;
    private final MemorySegment segment;
    private final int rows;
    private final int cols;

    protected WeightTensor(String name, MemorySegment segment, int rows, int cols) {
        long need = (long) rows * cols * dtype().bytes();
        if (segment.byteSize() != need) {
            throw new IllegalArgumentException(name + ": " + segment.byteSize() + " bytes for shape ("
                    + rows + ", " + cols + ") of " + dtype() + ", expected " + need);
        }
        this.name = name;
        this.segment = segment;
        this.rows = rows;
        this.cols = cols;
    }

    /** Wraps {@code segment} as a tensor of the given storage format. */
    public static WeightTensor of(String name, DType dtype, MemorySegment segment, int rows, int cols) {
        return switch (dtype) {
            case BF16 -> new Bf16Tensor(name, segment, rows, cols);
            case F16 -> new F16Tensor(name, segment, rows, cols);
            case F32 -> new F32Tensor(name, segment, rows, cols);
        };
    }

    public abstract DType dtype();

    /** Element {@code index} of the flattened tensor, widened to float. */
    public abstract float get(long index);

    public String name() {
        return name;
    }

    public MemorySegment segment() {
        return segment;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public long size() {
        return (long) rows * cols;
    }

    public long byteSize() {
        return segment.byteSize();
    }

    /** Copies row {@code row} into {@code dst[dstOffset .. dstOffset + cols)} as float. */
    public void rowToFloat(int row, float[] dst, int dstOffset) {
        long base = (long) row * cols;
        for (int i = 0; i < cols; i++) {
            dst[dstOffset + i] = get(base + i);
        }
    }

    /** Σ_i this[index + i] · x[xOffset + i] for i < n, accumulated in float in index order. */
    public float dot(long index, float[] x, int xOffset, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += get(index + i) * x[xOffset + i];
        }
        return sum;
    }

    /** The whole tensor as floats (for small tensors: norms, biases). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(size())];
        for (int i = 0; i < out.length; i++) {
            out[i] = get(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype() + Arrays.toString(new int[] {rows, cols});
    }
}
