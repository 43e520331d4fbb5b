package io.headroom.engine.safetensors;

import io.headroom.engine.tensor.DType;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param begin byte offset of the first element, relative to the start of the data section
 * @param end byte offset one past the last element, relative to the start of the data section
 */
public record TensorInfo(Path file, String name, DType dtype, long[] shape, long begin, long end) {

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
