package io.headroom.engine.kv;

/**
 * Bytes of KV state one sequence holds.
 *
 * @param retrievalBytesPerLayer bytes of allocated retrieval-head pages, per layer
 * @param streamingBytesPerLayer bytes of streaming-head sink and ring buffers, per layer
 */
public record KvMemory(long[] retrievalBytesPerLayer, long[] streamingBytesPerLayer) {

    public long retrievalBytes() {
        long n = 0;
        for (long b : retrievalBytesPerLayer) {
            n += b;
        }
        return n;
    }

    public long streamingBytes() {
        long n = 0;
        for (long b : streamingBytesPerLayer) {
            n += b;
        }
        return n;
    }

    public long totalBytes() {
        return retrievalBytes() + streamingBytes();
    }
}
