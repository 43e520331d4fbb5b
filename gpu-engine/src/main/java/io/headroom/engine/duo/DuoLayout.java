package io.headroom.engine.duo;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Which KV heads attend to everything (retrieval) and which only to the first {@code sink}
 * positions and the last {@code recent} ones (streaming). Applies identically in prefill and
 * decode: a streaming head at position i attends to keys j ≤ i with j < sink or j > i − recent.
 *
 * @param retrieval {@code (layers, kvHeads)}: true for a retrieval head
 */
public record DuoLayout(boolean[][] retrieval, int sink, int recent) {

    public DuoLayout {
        if (sink < 0) {
            throw new IllegalArgumentException("sink must be >= 0, got " + sink);
        }
        if (recent < 1) {
            throw new IllegalArgumentException("recent window must be >= 1, got " + recent);
        }
        retrieval = Arrays.stream(retrieval).map(boolean[]::clone).toArray(boolean[][]::new);
    }

    /** Every head a retrieval head: plain full attention. */
    public static DuoLayout full(int layers, int kvHeads) {
        boolean[][] r = new boolean[layers][kvHeads];
        for (boolean[] row : r) {
            Arrays.fill(row, true);
        }
        return new DuoLayout(r, 0, 1);
    }

    /** Every head a streaming head. */
    public static DuoLayout streamingOnly(int layers, int kvHeads, int sink, int recent) {
        return new DuoLayout(new boolean[layers][kvHeads], sink, recent);
    }

    /** {@code round(sparsity · heads)} streaming heads chosen uniformly at random (a baseline). */
    public static DuoLayout random(int layers, int kvHeads, double sparsity, long seed, int sink, int recent) {
        int total = layers * kvHeads;
        int[] idx = new int[total];
        Arrays.setAll(idx, i -> i);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = total - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        boolean[][] r = new boolean[layers][kvHeads];
        for (boolean[] row : r) {
            Arrays.fill(row, true);
        }
        for (int k = 0; k < Math.round(sparsity * total); k++) {
            r[idx[k] / kvHeads][idx[k] % kvHeads] = false;
        }
        return new DuoLayout(r, sink, recent);
    }

    public int layers() {
        return retrieval.length;
    }

    public int kvHeads() {
        return retrieval[0].length;
    }

    public boolean isRetrieval(int layer, int head) {
        return retrieval[layer][head];
    }

    /** Retrieval heads of one layer. */
    public int retrievalHeads(int layer) {
        int n = 0;
        for (boolean b : retrieval[layer]) {
            n += b ? 1 : 0;
        }
        return n;
    }

    public int retrievalCount() {
        int n = 0;
        for (boolean[] row : retrieval) {
            for (boolean b : row) {
                n += b ? 1 : 0;
            }
        }
        return n;
    }

    public boolean allRetrieval() {
        return retrievalCount() == layers() * kvHeads();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DuoLayout d && sink == d.sink && recent == d.recent
                && Arrays.deepEquals(retrieval, d.retrieval);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(retrieval) * 31 + sink * 7 + recent;
    }

    @Override
    public String toString() {
        return "DuoLayout[" + retrievalCount() + "/" + layers() * kvHeads() + " retrieval heads, sink " + sink
                + ", recent " + recent + "]";
    }
}
