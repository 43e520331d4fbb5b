package io.headroom.engine.backend;

/**
 * Keys and values of one KV head at {@code count} consecutive positions starting at
 * {@code firstPosition}: position {@code firstPosition + i} has its key at
 * {@code keys[offset + i·stride .. + headDim)} and its value at the same place in {@code values}.
 */
public record KvSpan(float[] keys, float[] values, int offset, int stride, int firstPosition, int count) {
}
