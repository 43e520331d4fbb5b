package io.headroom.engine.backend.cuda;

/**
 * Element type of the device KV cache. {@code BF16} halves KV memory and the bytes each decode
 * step reads (the long-context setting); {@code F32} keeps keys and values exactly as the CPU
 * engine does (the setting the golden-parity tests use).
 */
public enum DeviceKvType {
    F32(4, "f32kv"), BF16(2, "bf16kv");

    private final int bytes;
    private final String kernelSuffix;

    DeviceKvType(int bytes, String kernelSuffix) {
        this.bytes = bytes;
        this.kernelSuffix = kernelSuffix;
    }

    public int bytes() {
        return bytes;
    }

    String kernel(String base) {
        return base + "_" + kernelSuffix;
    }

    /** Parses "f32" or "bf16" (case-insensitive). */
    public static DeviceKvType parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "f32", "float32" -> F32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("KV type must be f32 or bf16, got '" + s + "'");
        };
    }
}
