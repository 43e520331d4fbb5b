package io.headroom.engine;

/**
 * How a model is run.
 *
 * @param backend {@code cpu} (Vector API, multi-threaded) or {@code cpu-scalar} (the reference ops)
 * @param threads worker threads for the cpu backend
 * @param prefillChunk prompt tokens per forward pass during prefill
 */
public record EngineOptions(String backend, int threads, int prefillChunk) {

    public EngineOptions {
        if (!backend.equals("cpu") && !backend.equals("cpu-scalar") && !backend.equals("auto")) {
            throw new IllegalArgumentException("unknown backend '" + backend + "' (choose auto, cpu or cpu-scalar)");
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        if (prefillChunk < 1) {
            throw new IllegalArgumentException("prefill chunk must be >= 1, got " + prefillChunk);
        }
    }

    public static EngineOptions defaults() {
        return new EngineOptions("auto", Runtime.getRuntime().availableProcessors(), 128);
    }
}
