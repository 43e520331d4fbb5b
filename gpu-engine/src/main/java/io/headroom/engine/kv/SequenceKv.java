package io.headroom.engine.kv;

import io.headroom.engine.KvCache;
import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.KvSpan;
import io.headroom.engine.duo.DuoLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The DuoAttention KV cache of one sequence. Retrieval heads keep every position, in pages of
 * {@code pageTokens} positions allocated as the sequence grows. Streaming heads keep the first
 * {@code sink} positions and a ring buffer of the last {@code recent} positions at or after the
 * sink, so their memory is constant whatever the sequence length. Keys are stored rotated, at the
 * position they were written for. Float32.
 *
 * <p>A forward pass over a chunk of n tokens at positions {@code start .. start+n-1} does, per layer:
 * {@link #append} (retrieval heads store the chunk), {@link #heads} (the spans attention reads:
 * for streaming heads the sink, the ring as it was before the chunk, and the chunk itself), then
 * {@link #commitStreaming} (streaming heads store the chunk), and finally {@link #advance}. Reading
 * the ring before the chunk overwrites it is what makes the result independent of the chunk size.
 */
public final class SequenceKv implements KvCache {

    private final DuoLayout layout;
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int pageTokens;
    private final int maxPositions;
    /** (layer, head) → pages of {@code pageTokens · headDim} keys; null for streaming heads. */
    private final List<float[]>[][] keyPages;
    private final List<float[]>[][] valuePages;
    /** (layer, head) → {@code (sink + recent) · headDim}: sink slots first, then the ring; null for retrieval. */
    private final float[][][] streamKeys;
    private final float[][][] streamValues;
    private int length;

    @SuppressWarnings("unchecked")
    public SequenceKv(DuoLayout layout, int headDim, int pageTokens, int maxPositions) {
        if (pageTokens < 1) {
            throw new IllegalArgumentException("page size must be >= 1 token, got " + pageTokens);
        }
        this.layout = layout;
        this.layers = layout.layers();
        this.kvHeads = layout.kvHeads();
        this.headDim = headDim;
        this.pageTokens = pageTokens;
        this.maxPositions = maxPositions;
        this.keyPages = new List[layers][kvHeads];
        this.valuePages = new List[layers][kvHeads];
        this.streamKeys = new float[layers][kvHeads][];
        this.streamValues = new float[layers][kvHeads][];
        int slots = layout.sink() + layout.recent();
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                if (layout.isRetrieval(l, h)) {
                    keyPages[l][h] = new ArrayList<>();
                    valuePages[l][h] = new ArrayList<>();
                } else {
                    streamKeys[l][h] = new float[slots * headDim];
                    streamValues[l][h] = new float[slots * headDim];
                }
            }
        }
    }

    @Override
    public DuoLayout layout() {
        return layout;
    }

    @Override
    public long bytes() {
        return memory().totalBytes();
    }

    /** This cache: it lives on the host already. */
    @Override
    public SequenceKv toHost() {
        return this;
    }

    @Override
    public SequenceKv streamingToHost() {
        return this;
    }

    @Override
    public RetrievalBlock exportRetrieval(java.lang.foreign.Arena arena) {
        return RetrievalBlock.export(this, arena);
    }

    /** Nothing to release: the cache lives in the Java heap. */
    @Override
    public void close() {
    }

    public int headDim() {
        return headDim;
    }

    public int pageTokens() {
        return pageTokens;
    }

    /** Positions held. */
    @Override
    public int length() {
        return length;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /** Checks that {@code tokens} more positions fit the model's context. */
    public void checkRoom(int tokens) {
        if (length + tokens > maxPositions) {
            throw new IllegalStateException("context of " + (length + tokens) + " tokens exceeds the model's limit of "
                    + maxPositions);
        }
    }

    /**
     * Stores the chunk's keys and values of every retrieval head of {@code layer}.
     *
     * @param k {@code (n, kvHeads · headDim)} rotated keys of positions {@code length() ..}
     * @param v {@code (n, kvHeads · headDim)}
     */
    public void append(int layer, float[] k, float[] v, int n) {
        int kvDim = kvHeads * headDim;
        for (int h = 0; h < kvHeads; h++) {
            if (!layout.isRetrieval(layer, h)) {
                continue;
            }
            List<float[]> kp = keyPages[layer][h];
            List<float[]> vp = valuePages[layer][h];
            for (int t = 0; t < n; t++) {
                int pos = length + t;
                int page = pos / pageTokens;
                while (kp.size() <= page) {
                    kp.add(new float[pageTokens * headDim]);
                    vp.add(new float[pageTokens * headDim]);
                }
                int slot = (pos % pageTokens) * headDim;
                System.arraycopy(k, t * kvDim + h * headDim, kp.get(page), slot, headDim);
                System.arraycopy(v, t * kvDim + h * headDim, vp.get(page), slot, headDim);
            }
        }
    }

    /**
     * The spans attention reads for the chunk of {@code n} positions whose keys and values are
     * {@code k} and {@code v} (after {@link #append}, before {@link #commitStreaming}).
     */
    public HeadKv[] heads(int layer, float[] k, float[] v, int n) {
        int kvDim = kvHeads * headDim;
        int sink = layout.sink();
        int recent = layout.recent();
        HeadKv[] out = new HeadKv[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            List<KvSpan> spans = new ArrayList<>();
            if (layout.isRetrieval(layer, h)) {
                int end = length + n;
                List<float[]> kp = keyPages[layer][h];
                List<float[]> vp = valuePages[layer][h];
                for (int p = 0; p * pageTokens < end; p++) {
                    int first = p * pageTokens;
                    spans.add(new KvSpan(kp.get(p), vp.get(p), 0, headDim, first, Math.min(pageTokens, end - first)));
                }
                out[h] = new HeadKv(false, 0, 1, spans.toArray(KvSpan[]::new));
                continue;
            }
            float[] sk = streamKeys[layer][h];
            float[] sv = streamValues[layer][h];
            int sinkHeld = Math.min(sink, length);
            if (sinkHeld > 0) {
                spans.add(new KvSpan(sk, sv, 0, headDim, 0, sinkHeld));
            }
            // ring: positions max(sink, length - recent) .. length - 1, slot = sink + pos % recent
            int from = Math.max(sink, length - recent);
            int pos = from;
            while (pos < length) {
                int slot = pos % recent;
                int run = Math.min(length - pos, recent - slot);
                spans.add(new KvSpan(sk, sv, (sink + slot) * headDim, headDim, pos, run));
                pos += run;
            }
            spans.add(new KvSpan(k, v, h * headDim, kvDim, length, n));
            out[h] = new HeadKv(true, sink, recent, spans.toArray(KvSpan[]::new));
        }
        return out;
    }

    /** Stores the chunk into every streaming head's sink or ring (after attention has read them). */
    public void commitStreaming(int layer, float[] k, float[] v, int n) {
        int kvDim = kvHeads * headDim;
        int sink = layout.sink();
        int recent = layout.recent();
        for (int h = 0; h < kvHeads; h++) {
            if (layout.isRetrieval(layer, h)) {
                continue;
            }
            float[] sk = streamKeys[layer][h];
            float[] sv = streamValues[layer][h];
            // only the last `recent` positions at or after the sink can survive in the ring
            int firstKept = Math.max(length, length + n - recent);
            for (int t = 0; t < n; t++) {
                int pos = length + t;
                int slot;
                if (pos < sink) {
                    slot = pos;
                } else if (pos >= firstKept) {
                    slot = sink + pos % recent;
                } else {
                    continue;
                }
                System.arraycopy(k, t * kvDim + h * headDim, sk, slot * headDim, headDim);
                System.arraycopy(v, t * kvDim + h * headDim, sv, slot * headDim, headDim);
            }
        }
    }

    /** Marks {@code n} more positions as held (after every layer stored them). */
    public void advance(int n) {
        length += n;
    }

    /** Bytes held by retrieval pages and streaming buffers, per layer. */
    public KvMemory memory() {
        long[] retrieval = new long[layers];
        long[] streaming = new long[layers];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                if (layout.isRetrieval(l, h)) {
                    retrieval[l] += 2L * keyPages[l][h].size() * pageTokens * headDim * Float.BYTES;
                } else {
                    streaming[l] += 2L * streamKeys[l][h].length * Float.BYTES;
                }
            }
        }
        return new KvMemory(retrieval, streaming);
    }

    // -- position-ordered reads and writes of one head, for KvStateCodec and the device cache --

    /** Key (or value) of retrieval head (layer, h) at {@code pos} into {@code dst}. */
    public void readRetrieval(int layer, int h, int pos, boolean value, float[] dst, int dstOff) {
        List<float[]> pages = value ? valuePages[layer][h] : keyPages[layer][h];
        System.arraycopy(pages.get(pos / pageTokens), (pos % pageTokens) * headDim, dst, dstOff, headDim);
    }

    public void writeRetrieval(int layer, int h, int pos, boolean value, float[] src, int srcOff) {
        List<float[]> kp = keyPages[layer][h];
        List<float[]> vp = valuePages[layer][h];
        while (kp.size() <= pos / pageTokens) {
            kp.add(new float[pageTokens * headDim]);
            vp.add(new float[pageTokens * headDim]);
        }
        List<float[]> pages = value ? vp : kp;
        System.arraycopy(src, srcOff, pages.get(pos / pageTokens), (pos % pageTokens) * headDim, headDim);
    }

    /** Positions a streaming head holds when the sequence has {@code length} positions, in order. */
    public int[] streamingPositions() {
        int sinkHeld = Math.min(layout.sink(), length);
        int from = Math.max(layout.sink(), length - layout.recent());
        int ring = Math.max(0, length - from);
        int[] out = new int[sinkHeld + ring];
        for (int i = 0; i < sinkHeld; i++) {
            out[i] = i;
        }
        for (int i = 0; i < ring; i++) {
            out[sinkHeld + i] = from + i;
        }
        return out;
    }

    private int streamingSlot(int pos) {
        return pos < layout.sink() ? pos : layout.sink() + pos % layout.recent();
    }

    public void readStreaming(int layer, int h, int pos, boolean value, float[] dst, int dstOff) {
        float[] buf = value ? streamValues[layer][h] : streamKeys[layer][h];
        System.arraycopy(buf, streamingSlot(pos) * headDim, dst, dstOff, headDim);
    }

    public void writeStreaming(int layer, int h, int pos, boolean value, float[] src, int srcOff) {
        float[] buf = value ? streamValues[layer][h] : streamKeys[layer][h];
        System.arraycopy(src, srcOff, buf, streamingSlot(pos) * headDim, headDim);
    }

    public void setLength(int length) {
        this.length = length;
    }
}
