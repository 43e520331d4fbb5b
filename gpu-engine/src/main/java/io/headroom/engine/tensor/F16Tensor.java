package io.headroom.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** IEEE 754 half-precision storage. */
public final class F16Tensor extends WeightTensor {

    static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public F16Tensor(String name, MemorySegment segment, int rows, int cols) {
        super(name, segment, rows, cols);
    }

    @Override
    public DType dtype() {
        return DType.F16;
    }

    @Override
    public float get(long index) {
        return Float.float16ToFloat(segment().getAtIndex(LAYOUT, index));
    }
}
