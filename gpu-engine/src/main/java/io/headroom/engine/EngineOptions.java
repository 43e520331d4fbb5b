package io.headroom.engine;

import java.util.List;

/**
 * How a model is run.
 *
 * @param backend {@code auto} (cuda when a device and the kernels are present, else cpu), {@code cpu}
 *     (Vector API, multi-threaded), {@code cpu-scalar} (the reference ops), {@code cuda} (the
 *     device-resident model: weights, activations and KV on the GPU) or {@code cuda-kernels} (the
 *     CPU forward pass with each op run as a CUDA kernel: the kernel contract's test harness, slow)
 * @param threads worker threads for the cpu backend
 * @param prefillChunk prompt tokens per forward pass during prefill
 * @param kvPageTokens positions per retrieval-head KV page
 * @param deviceKvType cuda: KV element type on the device: {@code bf16} (with tensor-core prefill
 *     projections) or {@code f32} (the exact mode: float32 KV and projections, as the CPU engine)
 * @param deviceSequences cuda: sequences whose KV may be on the device at once at full context
 *     (sizes the KV page pool; the memory plan refuses what does not fit)
 * @param deviceContext cuda: most positions one sequence may hold (0: the model's maximum)
 */
public record EngineOptions(String backend, int threads, int prefillChunk, int kvPageTokens, String deviceKvType,
        int deviceSequences, int deviceContext) {

    public static final List<String> BACKENDS = List.of("auto", "cpu", "cpu-scalar", "cuda", "cuda-kernels");

    public EngineOptions(String backend, int threads, int prefillChunk) {
        this(backend, threads, prefillChunk, 64);
    }

    public EngineOptions(String backend, int threads, int prefillChunk, int kvPageTokens) {
        this(backend, threads, prefillChunk, kvPageTokens, "bf16", 1, 0);
    }

    public EngineOptions {
        if (!BACKENDS.contains(backend)) {
            throw new IllegalArgumentException("unknown backend '" + backend
                    + "' (choose auto, cpu, cpu-scalar, cuda or cuda-kernels)");
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        if (prefillChunk < 1) {
            throw new IllegalArgumentException("prefill chunk must be >= 1, got " + prefillChunk);
        }
        if (kvPageTokens < 1) {
            throw new IllegalArgumentException("KV page size must be >= 1 token, got " + kvPageTokens);
        }
        if (!List.of("bf16", "f32").contains(deviceKvType)) {
            throw new IllegalArgumentException("device KV type must be bf16 or f32, got '" + deviceKvType + "'");
        }
        if (deviceSequences < 1) {
            throw new IllegalArgumentException("device sequences must be >= 1, got " + deviceSequences);
        }
        if (deviceContext < 0) {
            throw new IllegalArgumentException("device context must be >= 0 (0: the model's maximum), got "
                    + deviceContext);
        }
    }
}
