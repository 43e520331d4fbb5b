package io.headroom.engine.bench;

import io.headroom.engine.backend.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the machine's sustainable memory read bandwidth the way decode uses memory: every thread
 * streams its share of a buffer far larger than the caches once, summing it with vector loads.
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private MemoryBandwidth() {
    }

    /** Best-of-{@code repeats} read bandwidth in bytes per second over a buffer of {@code bytes}. */
    public static double readBytesPerSecond(Parallel parallel, long bytes, int repeats) {
        try (Arena arena = Arena.ofShared()) {
            long floats = bytes / Float.BYTES / F.length() * F.length();
            MemorySegment seg = arena.allocate(floats * Float.BYTES, 64);
            for (long i = 0; i < floats; i += 1024) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) i);
            }
            int blocks = 4096;
            long perBlock = floats / blocks / F.length() * F.length();
            double best = 0;
            float[] sink = new float[blocks];
            for (int r = 0; r < repeats + 1; r++) {
                long t0 = System.nanoTime();
                parallel.forRange(blocks, 1, (from, to) -> {
                    for (int b = from; b < to; b++) {
                        long base = b * perBlock * Float.BYTES;
                        FloatVector acc = FloatVector.zero(F);
                        for (long i = 0; i < perBlock; i += F.length()) {
                            acc = acc.add(FloatVector.fromMemorySegment(F, seg, base + i * Float.BYTES,
                                    ByteOrder.nativeOrder()));
                        }
                        sink[b] = acc.reduceLanes(VectorOperators.ADD);
                    }
                });
                long t1 = System.nanoTime();
                if (r > 0) { // the first pass warms up the JIT and faults the pages in
                    best = Math.max(best, blocks * perBlock * Float.BYTES / ((t1 - t0) / 1e9));
                }
            }
            if (Float.isNaN(sink[0])) {
                throw new IllegalStateException("unreachable: keeps the sums alive");
            }
            return best;
        }
    }
}
