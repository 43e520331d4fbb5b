package io.headroom.engine.tensor;

import java.util.Optional;

/** Storage formats of weights, named as safetensors names them. */
public enum DType {
    BF16(2),
    F16(2),
    F32(4);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The dtype for a safetensors dtype string, or empty when Headroom does not load that format. */
    public static Optional<DType> fromSafetensors(String name) {
        return switch (name) {
            case "BF16" -> Optional.of(BF16);
            case "F16" -> Optional.of(F16);
            case "F32" -> Optional.of(F32);
            default -> Optional.empty();
        };
    }
}
