package io.headroom.engine.backend.cuda;

import java.util.Locale;

/** Which kernel runs prefill attention (forward calls of more than one token) on the device. */
public enum PrefillAttention {
    /** {@code duo_attention}: float32 FMA tiles; with f32 KV it matches the CPU engine to 1e-4 (exact mode). */
    CUDA_CORES("duo_attention"),
    /**
     * {@code flash_prefill}: WMMA bf16 products (Q, K, V and P rounded to bf16), float32 online
     * softmax; scores, P and the output strip pass through shared memory.
     */
    TENSOR_CORES("flash_prefill"),
    /**
     * {@code flash_prefill_mma}: mma.sync on register fragments (scores, P and the output stay in
     * registers); the same rounding as {@link #TENSOR_CORES}.
     */
    TENSOR_CORES_MMA("flash_prefill_mma"),
    /**
     * {@code flash_prefill_wgmma}: the same kernel with both products on Hopper's warpgroup MMA
     * (compute capability 9.0, head_dim 64 or 128); elsewhere the model runs {@link #TENSOR_CORES_MMA}.
     */
    WGMMA("flash_prefill_wgmma"),
    /**
     * {@code flash_prefill_ws128}: the wgmma products with the block's warps specialised: one
     * warpgroup stages 128-key K/V tiles (by the tensor-copy engine where it can), two multiply (128
     * query rows per block); the same geometries and rounding as {@link #WGMMA}, and
     * {@link #TENSOR_CORES_MMA} elsewhere.
     */
    WARP_SPECIALIZED("flash_prefill_ws128");

    private final String kernel;

    PrefillAttention(String kernel) {
        this.kernel = kernel;
    }

    /** Whether this is the warp-specialised kernel (three warpgroups, 128 rows, tensor maps). */
    public boolean warpSpecialized() {
        return this == WARP_SPECIALIZED;
    }

    /** The kernel's base name (without the KV type suffix). */
    public String kernel() {
        return kernel;
    }

    /** Parses cuda-cores, tensor-cores, mma, wgmma or ws (also ws128); the error names the choices. */
    public static PrefillAttention parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cuda-cores" -> CUDA_CORES;
            case "tensor-cores", "wmma" -> TENSOR_CORES;
            case "mma" -> TENSOR_CORES_MMA;
            case "wgmma" -> WGMMA;
            case "ws", "ws128", "warp-specialized" -> WARP_SPECIALIZED;
            default -> throw new IllegalArgumentException("unknown prefill attention '" + name
                    + "' (cuda-cores, tensor-cores, mma, wgmma, ws)");
        };
    }
}
