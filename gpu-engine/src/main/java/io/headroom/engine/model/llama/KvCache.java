package io.headroom.engine.model.llama;

import io.headroom.engine.model.ModelConfig;
import java.util.Arrays;

/**
 * The key/value cache of one sequence: per layer, rotated keys and values of every position so
 * far, {@code (positions, kvDim)} float32, grown by doubling up to the model's maximum context.
 */
public final class KvCache {

    private final int layers;
    private final int kvDim;
    private final int maxPositions;
    private final float[][] keys;   // (layers)(capacity · kvDim)
    private final float[][] values; // (layers)(capacity · kvDim)
    private int capacity;
    private int length;

    public KvCache(ModelConfig config) {
        this(config.numLayers(), config.kvDim(), config.maxPositions());
    }

    KvCache(int layers, int kvDim, int maxPositions) {
        this.layers = layers;
        this.kvDim = kvDim;
        this.maxPositions = maxPositions;
        this.capacity = Math.min(maxPositions, 64);
        this.keys = new float[layers][capacity * kvDim];
        this.values = new float[layers][capacity * kvDim];
    }

    /** Number of positions held. */
    public int length() {
        return length;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /** Makes room for positions up to {@code newLength} (exclusive). */
    void ensureCapacity(int newLength) {
        if (newLength > maxPositions) {
            throw new IllegalStateException("context of " + newLength + " tokens exceeds the model's limit of "
                    + maxPositions);
        }
        if (newLength <= capacity) {
            return;
        }
        int grown = (int) Math.min(maxPositions, Math.max(newLength, 2L * capacity));
        for (int l = 0; l < layers; l++) {
            keys[l] = Arrays.copyOf(keys[l], grown * kvDim);
            values[l] = Arrays.copyOf(values[l], grown * kvDim);
        }
        capacity = grown;
    }

    /** Copies {@code tokens} rows of k and v into layer {@code layer} at positions {@code start ..}. */
    void write(int layer, int start, float[] k, float[] v, int tokens) {
        System.arraycopy(k, 0, keys[layer], start * kvDim, tokens * kvDim);
        System.arraycopy(v, 0, values[layer], start * kvDim, tokens * kvDim);
    }

    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    void setLength(int length) {
        this.length = length;
    }

    /** Forgets every position from {@code newLength} on (the next forward pass overwrites them). */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
        }
        length = newLength;
    }

    /** Bytes held by keys and values. */
    public long bytes() {
        return 2L * layers * capacity * kvDim * Float.BYTES;
    }
}
