package io.headroom.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** IEEE 754 single-precision storage. */
public final class F32Tensor extends WeightTensor {

    static final ValueLayout.OfFloat LAYOUT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public F32Tensor(String name, MemorySegment segment, int rows, int cols) {
        super(name, segment, rows, cols);
    }

    @Override
    public DType dtype() {
        return DType.F32;
    }

    @Override
    public float get(long index) {
        return segment().getAtIndex(LAYOUT, index);
    }
}
