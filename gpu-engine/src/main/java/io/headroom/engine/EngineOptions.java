package io.headroom.engine;

/**
 * How a model is run.
 *
 * @param backend {@code auto} (cuda when a device and the kernels are present, else cpu), {@code cpu}
 *     (Vector API, multi-threaded), {@code cpu-scalar} (the reference ops) or {@code cuda}
 * @param threads worker threads for the cpu backend
 * @param prefillChunk prompt tokens per forward pass during prefill
 * @param kvPageTokens positions per retrieval-head KV page
 */
public record EngineOptions(String backend, int threads, int prefillChunk, int kvPageTokens) {

    public EngineOptions(String backend, int threads, int prefillChunk) {
        this(backend, threads, prefillChunk, 64);
    }

    public EngineOptions {
        if (!java.util.List.of("auto", "cpu", "cpu-scalar", "cuda").contains(backend)) {
            throw new IllegalArgumentException("unknown backend '" + backend
                    + "' (choose auto, cpu, cpu-scalar or cuda)");
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
    }
}
