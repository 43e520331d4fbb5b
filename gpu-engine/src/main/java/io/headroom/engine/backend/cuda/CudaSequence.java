package io.headroom.engine.backend.cuda;

import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * The device KV state of one sequence of a {@link CudaLlamaModel}: its page table (retrieval heads'
 * pages in the model's pool, allocated as the sequence grows), its streaming heads' sink + ring
 * buffers, its length and, once it has decoded, its captured decode-step graph. Pages go back to
 * the pool on {@link #close}. Not thread-safe: one sequence is driven by one thread at a time.
 *
 * <p>{@link #exportRetrieval} and {@link #upload(SequenceKv, RetrievalBlock)} move the state between
 * the device and host memory as the session cache keeps it between turns: the retrieval heads' pages
 * as they are on the device (bf16 or float32) in one off-heap block, the streaming heads' small sink
 * and ring buffers through a float32 host cache. {@link #download} copies the whole state into a
 * float32 host cache ({@link #toHost}). All go through pinned buffers with asynchronous copies.
 */
public final class CudaSequence implements KvCache {

    private final CudaLlamaModel model;
    private final CudaDevice dev;
    private final DuoLayout layout;
    private final int kvHeads;
    private final int maxPages;
    /** (layers, kvHeads, maxPages) page ids; -1 where none is allocated. */
    private final int[] pageTable;
    private final int[] pagesHeld; // per (layer, head)
    final CUdeviceptr devicePageTable;
    final CUdeviceptr ringKeys;
    final CUdeviceptr ringValues;
    /** (layers, kvHeads): 1 for a streaming head. */
    private final CUdeviceptr streamingFlags;
    /** (layers, kvHeads): a layer's retrieval heads, then its streaming heads (the decode kernels' grid order). */
    private final CUdeviceptr headOrder;
    private final long ringBytesPerLayer;
    private int length;
    /** Captured decode steps by split-K share count. */
    private final java.util.Map<Integer, CudaGraph> decodeGraphs = new java.util.HashMap<>();
    private boolean closed;

    CudaSequence(CudaLlamaModel model, CudaDevice dev, DuoLayout layout, int kvHeads, int maxPages,
            long ringBytesPerLayer) {
        this.model = model;
        this.dev = dev;
        this.layout = layout;
        this.kvHeads = kvHeads;
        this.maxPages = maxPages;
        this.pageTable = new int[layout.layers() * kvHeads * maxPages];
        Arrays.fill(pageTable, -1);
        this.pagesHeld = new int[layout.layers() * kvHeads];
        this.ringBytesPerLayer = ringBytesPerLayer;
        int[] flags = new int[layout.layers() * kvHeads];
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < kvHeads; h++) {
                flags[l * kvHeads + h] = layout.isRetrieval(l, h) ? 0 : 1;
            }
        }
        int[] order = new int[layout.layers() * kvHeads];
        for (int l = 0; l < layout.layers(); l++) {
            System.arraycopy(CudaLlamaModel.headOrder(layout, l), 0, order, l * kvHeads, kvHeads);
        }
        // one batch of page updates holds what a full chunk takes: every retrieval head's pages for
        // maxChunk positions, plus the page a chunk may start inside
        var o = model.options();
        this.pageUpdateCapacity = Math.max(1, layout.retrievalCount()
                * ((o.maxChunk() + o.pageTokens() - 1) / o.pageTokens() + 1));
        this.pageUpdatesHost = new int[2 * pageUpdateCapacity];
        List<CUdeviceptr> done = new ArrayList<>();
        PinnedBuffer pinned = null;
        CudaDevice.Fence fence = null;
        try {
            done.add(dev.upload(pageTable));
            done.add(dev.alloc(ringBytesPerLayer * layout.layers()));
            done.add(dev.alloc(ringBytesPerLayer * layout.layers()));
            done.add(dev.upload(flags));
            done.add(dev.upload(order));
            done.add(dev.alloc(8L * pageUpdateCapacity));
            pinned = dev.allocPinned(8L * pageUpdateCapacity);
            fence = dev.fence();
        } catch (RuntimeException e) {
            done.forEach(dev::free);
            if (pinned != null) {
                pinned.close();
            }
            throw e;
        }
        this.pageUpdatesPinned = pinned;
        this.pageUpdatesCopied = fence;
        this.devicePageTable = done.get(0);
        this.ringKeys = done.get(1);
        this.ringValues = done.get(2);
        this.streamingFlags = done.get(3);
        this.headOrder = done.get(4);
        this.pageUpdates = done.get(5);
    }

    /**
     * (table index, page) pairs one scatter_i32 launch writes: a chunk's new pages, so that a prefill chunk's
     * reserve is one copy and one launch; a reserve that takes more (a jump past many chunks) writes them in
     * several batches, each waiting for the copy before it.
     */
    private final int pageUpdateCapacity;
    /** Device staging of reserve's page table updates (pageUpdateCapacity pairs), its pinned host side, the pairs. */
    private final CUdeviceptr pageUpdates;
    private final PinnedBuffer pageUpdatesPinned;
    /** Recorded after each copy from pageUpdatesPinned: the host waits for that copy alone before refilling it. */
    private final CudaDevice.Fence pageUpdatesCopied;
    private final int[] pageUpdatesHost;

    /** Positions held. */
    @Override
    public int length() {
        return length;
    }

    boolean belongsTo(CudaLlamaModel m) {
        return model == m && !closed;
    }

    /** Device bytes held: the pages in use and the sink + ring buffers. */
    @Override
    public long bytes() {
        return pages() * 2 * pageBytes() + 2 * ringBytesPerLayer * layout.layers();
    }

    @Override
    public SequenceKv toHost() {
        return download(model.options().pageTokens());
    }

    @Override
    public SequenceKv streamingToHost() {
        return download(model.options().pageTokens(), false);
    }

    /** In the device's element type: bf16 KV gives half the bytes of float32, exactly the same values. */
    @Override
    public byte[] exportStreaming() {
        return KvStateCodec.export(streamingToHost(), KvStateCodec.Part.STREAMING, blockDtype());
    }

    /**
     * The retrieval heads' pages in a block of the device's element type: per head, its pages are
     * copied into a pinned buffer (keys, then values, each in position order), and from there into
     * the block, without conversion. Two pinned buffers take turns, so the device copies one head's
     * pages while the host moves the head before into the block.
     */
    @Override
    public RetrievalBlock exportRetrieval(Arena arena) {
        RetrievalBlock block = RetrievalBlock.allocate(arena, layout, length, model.config().headDim(),
                model.options().pageTokens(), blockDtype());
        int pages = pagesFor(length);
        long rows = length * rowBytes();
        List<int[]> heads = new ArrayList<>();
        block.forEachHead((l, h) -> heads.add(new int[] {l, h}));
        long staging = Math.max(1, 2L * pages * pageBytes());
        try (PinnedBuffer first = dev.allocPinned(staging); PinnedBuffer second = dev.allocPinned(staging);
                CudaDevice.Fence firstCopied = dev.fence(); CudaDevice.Fence secondCopied = dev.fence()) {
            PinnedBuffer[] buffers = {first, second};
            CudaDevice.Fence[] copied = {firstCopied, secondCopied};
            for (int k = 0; k <= heads.size(); k++) {
                if (k < heads.size()) { // queue head k's pages into buffer k % 2 (the host finished with it at k - 2)
                    int lh = heads.get(k)[0] * kvHeads + heads.get(k)[1];
                    PinnedBuffer into = buffers[k % 2];
                    for (int i = 0; i < pages; i++) {
                        int page = pageTable[lh * maxPages + i];
                        dev.copyAsync(into, i * pageBytes(), model.poolKeys(page), pageBytes());
                        dev.copyAsync(into, (pages + i) * pageBytes(), model.poolValues(page), pageBytes());
                    }
                    copied[k % 2].record();
                }
                if (k > 0) { // meanwhile move head k - 1 from its buffer into the block
                    int[] head = heads.get(k - 1);
                    copied[(k - 1) % 2].await("export of a sequence's retrieval KV");
                    MemorySegment staged = MemorySegment.ofBuffer(buffers[(k - 1) % 2].buffer());
                    MemorySegment.copy(staged, 0, block.segment(), block.offset(head[0], head[1], false), rows);
                    MemorySegment.copy(staged, pages * pageBytes(), block.segment(),
                            block.offset(head[0], head[1], true), rows);
                }
            }
        }
        return block;
    }

    void advance(int n) {
        length += n;
    }

    @Override
    public DuoLayout layout() {
        return layout;
    }

    /** Pages of the model's pool this sequence holds. */
    public int pages() {
        return Arrays.stream(pagesHeld).sum();
    }

    CUdeviceptr pageTable(int layer) {
        return devicePageTable.withByteOffset(4L * layer * kvHeads * maxPages);
    }

    CUdeviceptr streamingFlags(int layer) {
        return streamingFlags.withByteOffset(4L * layer * kvHeads);
    }

    CUdeviceptr headOrder(int layer) {
        return headOrder.withByteOffset(4L * layer * kvHeads);
    }

    CUdeviceptr ringKeys(int layer) {
        return ringKeys.withByteOffset(ringBytesPerLayer * layer);
    }

    CUdeviceptr ringValues(int layer) {
        return ringValues.withByteOffset(ringBytesPerLayer * layer);
    }

    CudaGraph decodeGraph(int splits) {
        return decodeGraphs.get(splits);
    }

    void decodeGraph(int splits, CudaGraph graph) {
        decodeGraphs.put(splits, graph);
    }

    /** Makes sure every retrieval head has pages for positions below {@code positions}. */
    void reserve(int positions) {
        int pageTokens = model.options().pageTokens();
        int needed = (positions + pageTokens - 1) / pageTokens;
        if (needed > maxPages) {
            throw new IllegalStateException("context of " + positions + " tokens exceeds the device KV capacity of "
                    + model.options().capacity());
        }
        // pages are recorded as held as soon as they are taken, so close() returns them whatever fails later;
        // and the device table gets every page taken even when the pool runs out partway (finally), since a
        // later reserve skips the heads that hold their pages
        int[] updates = pageUpdatesHost;
        int count = 0;
        try {
            for (int l = 0; l < layout.layers(); l++) {
                for (int h = 0; h < kvHeads; h++) {
                    int lh = l * kvHeads + h;
                    int held = pagesHeld[lh];
                    if (!layout.isRetrieval(l, h) || held >= needed) {
                        continue;
                    }
                    int[] fresh = model.pool().allocate(needed - held);
                    System.arraycopy(fresh, 0, pageTable, lh * maxPages + held, fresh.length);
                    pagesHeld[lh] = needed;
                    for (int i = lh * maxPages + held; i < lh * maxPages + needed; i++) {
                        updates[2 * count] = i;
                        updates[2 * count + 1] = pageTable[i];
                        if (++count == pageUpdateCapacity) {
                            scatterPages(updates, count);
                            count = 0;
                        }
                    }
                }
            }
        } finally {
            scatterPages(updates, count);
        }
    }

    /**
     * Queues the write of {@code count} (index, page) pairs into the device page table: one
     * asynchronous copy through pinned memory and one launch (a write per head was 256 synchronous
     * copies per 8B prefill chunk, about 0.2 s of a 128K prefill's wall time in which the GPU waited;
     * and a synchronous copy waits for everything queued, so the next chunk could not be queued while
     * one runs). The pinned staging is refilled only once its last copy has run.
     */
    private void scatterPages(int[] updates, int count) {
        if (count == 0) {
            return;
        }
        pageUpdatesCopied.await("the page table copy before a reserve");
        pageUpdatesPinned.buffer().asIntBuffer().put(updates, 0, 2 * count);
        dev.copyAsync(pageUpdates, pageUpdatesPinned, 0, 8L * count);
        pageUpdatesCopied.record();
        dev.launchAsync("scatter_i32", (count + 255) / 256, 256, 0, devicePageTable, pageUpdates, count);
    }

    /**
     * Benchmark support: makes the sequence hold {@code positions} positions of random keys and
     * values (pages reserved, every page and ring filled on the device) without computing them, so
     * decode can be timed and capacity checked at contexts whose prefill would take hours.
     */
    public void fillSynthetic(int positions) {
        reserve(positions);
        String kernel = model.options().kvType() == DeviceKvType.BF16 ? "fill_random_bf16" : "fill_random_f32";
        long ringElements = ringBytesPerLayer * layout.layers() / model.options().kvType().bytes();
        dev.launchAsync(kernel, 1024, 256, 0, ringKeys, ringElements, 1, 0.5f);
        dev.launchAsync(kernel, 1024, 256, 0, ringValues, ringElements, 2, 0.5f);
        // the whole pool at once (whatever pages this sequence got, they are filled)
        long poolElements = pageBytes() / model.options().kvType().bytes() * model.plan().pages();
        dev.launchAsync(kernel, 4096, 256, 0, model.poolKeys(0), poolElements, 3, 0.5f);
        dev.launchAsync(kernel, 4096, 256, 0, model.poolValues(0), poolElements, 4, 0.5f);
        dev.synchronize("synthetic KV fill");
        length = positions;
    }

    /**
     * Copies the whole state to a new host cache: one (layer, head) at a time through a pinned
     * buffer (asynchronous copies of its pages or ring, one wait, then the conversion to float32).
     */
    public SequenceKv download(int hostPageTokens) {
        return download(hostPageTokens, true);
    }

    private SequenceKv download(int hostPageTokens, boolean withRetrieval) {
        SequenceKv host = new SequenceKv(layout, model.config().headDim(), hostPageTokens,
                model.config().maxPositions());
        host.setLength(length);
        float[] row = new float[model.config().headDim()];
        int[] streamingPositions = host.streamingPositions();
        try (PinnedBuffer pinned = dev.allocPinned(withRetrieval ? unitBytes() : 2 * ringHeadBytes())) {
            ByteBuffer buf = pinned.buffer();
            for (int l = 0; l < layout.layers(); l++) {
                for (int h = 0; h < kvHeads; h++) {
                    int lh = l * kvHeads + h;
                    boolean retrieval = layout.isRetrieval(l, h);
                    if (retrieval && !withRetrieval) {
                        continue;
                    }
                    if (retrieval) {
                        for (int i = 0; i < pagesHeld[lh]; i++) {
                            int page = pageTable[lh * maxPages + i];
                            dev.copyAsync(pinned, 2L * i * pageBytes(), model.poolKeys(page), pageBytes());
                            dev.copyAsync(pinned, (2L * i + 1) * pageBytes(), model.poolValues(page), pageBytes());
                        }
                    } else {
                        dev.copyAsync(pinned, 0, ringKeys(l).withByteOffset(h * ringHeadBytes()), ringHeadBytes());
                        dev.copyAsync(pinned, ringHeadBytes(), ringValues(l).withByteOffset(h * ringHeadBytes()),
                                ringHeadBytes());
                    }
                    dev.synchronize("download of a sequence's KV");
                    for (int value = 0; value < 2; value++) {
                        if (retrieval) {
                            for (int p = 0; p < length; p++) {
                                read(buf, retrievalOffset(p, value), row);
                                host.writeRetrieval(l, h, p, value == 1, row, 0);
                            }
                        } else {
                            for (int p : streamingPositions) {
                                read(buf, value * ringHeadBytes() + rowBytes() * slot(p), row);
                                host.writeStreaming(l, h, p, value == 1, row, 0);
                            }
                        }
                    }
                }
            }
        }
        return host;
    }

    /**
     * Replaces this sequence's state with {@code streaming}'s streaming heads and length and
     * {@code retrieval}'s retrieval heads (same layout, head size and element type as the device's):
     * per head, the block's keys and values go into a pinned buffer and from there into the head's
     * pages, without conversion.
     */
    public void upload(SequenceKv streaming, RetrievalBlock retrieval) {
        checkHostLayout(streaming);
        if (!retrieval.layout().equals(layout) || retrieval.headDim() != model.config().headDim()) {
            throw new IllegalArgumentException("the KV block has another head layout or head size than the device "
                    + "sequence");
        }
        if (retrieval.dtype() != blockDtype()) {
            throw new IllegalArgumentException("the KV block holds " + retrieval.dtype() + " elements, the device "
                    + "sequence " + blockDtype());
        }
        if (retrieval.tokens() != streaming.length()) {
            throw new IllegalArgumentException("KV parts do not belong together: retrieval block holds "
                    + retrieval.tokens() + " tokens, streaming state " + streaming.length());
        }
        int tokens = retrieval.tokens();
        reserve(tokens);
        int pages = pagesFor(tokens);
        long rows = tokens * rowBytes();
        int[] streamingPositions = streaming.streamingPositions();
        float[] row = new float[model.config().headDim()];
        try (PinnedBuffer pinned = dev.allocPinned(Math.max(2L * pages * pageBytes(), 2 * ringHeadBytes()))) {
            MemorySegment staged = MemorySegment.ofBuffer(pinned.buffer());
            for (int l = 0; l < layout.layers(); l++) {
                for (int h = 0; h < kvHeads; h++) {
                    int lh = l * kvHeads + h;
                    if (layout.isRetrieval(l, h)) {
                        MemorySegment.copy(retrieval.segment(), retrieval.offset(l, h, false), staged, 0, rows);
                        MemorySegment.copy(retrieval.segment(), retrieval.offset(l, h, true), staged,
                                pages * pageBytes(), rows);
                        for (int i = 0; i < pages; i++) {
                            int page = pageTable[lh * maxPages + i];
                            dev.copyAsync(model.poolKeys(page), pinned, i * pageBytes(), pageBytes());
                            dev.copyAsync(model.poolValues(page), pinned, (pages + i) * pageBytes(), pageBytes());
                        }
                    } else {
                        uploadStreaming(l, h, streaming, streamingPositions, pinned, row);
                    }
                    dev.synchronize("upload of a sequence's KV"); // the pinned buffer is reused next
                }
            }
        }
        length = tokens;
    }

    /** Queues streaming head (l, h)'s sink and ring from {@code host} into its device buffers via {@code pinned}. */
    private void uploadStreaming(int l, int h, SequenceKv host, int[] streamingPositions, PinnedBuffer pinned,
            float[] row) {
        ByteBuffer buf = pinned.buffer();
        for (int value = 0; value < 2; value++) {
            for (int p : streamingPositions) {
                host.readStreaming(l, h, p, value == 1, row, 0);
                write(buf, value * ringHeadBytes() + rowBytes() * slot(p), row);
            }
        }
        dev.copyAsync(ringKeys(l).withByteOffset(h * ringHeadBytes()), pinned, 0, ringHeadBytes());
        dev.copyAsync(ringValues(l).withByteOffset(h * ringHeadBytes()), pinned, ringHeadBytes(), ringHeadBytes());
    }

    private void checkHostLayout(SequenceKv host) {
        if (!Arrays.deepEquals(host.layout().retrieval(), layout.retrieval()) || host.layout().sink() != layout.sink()
                || host.layout().recent() != layout.recent() || host.headDim() != model.config().headDim()) {
            throw new IllegalArgumentException("the host KV state has another head layout or head size than the "
                    + "device sequence");
        }
    }

    private RetrievalBlock.Dtype blockDtype() {
        return model.options().kvType() == DeviceKvType.BF16 ? RetrievalBlock.Dtype.BF16 : RetrievalBlock.Dtype.F32;
    }

    private int pagesFor(int positions) {
        return (positions + model.options().pageTokens() - 1) / model.options().pageTokens();
    }

    private long rowBytes() {
        return (long) model.config().headDim() * model.options().kvType().bytes();
    }

    private long pageBytes() {
        return model.options().pageTokens() * rowBytes();
    }

    private long ringHeadBytes() {
        return (layout.sink() + layout.recent()) * rowBytes();
    }

    /** Staging size of one (layer, head): a retrieval head's keys and values at full capacity, or a ring. */
    private long unitBytes() {
        return Math.max(2L * maxPages * pageBytes(), 2 * ringHeadBytes());
    }

    /** Where position p's key (value = 0) or value (1) sits in a retrieval head's staged pages. */
    private long retrievalOffset(int p, int value) {
        int pageTokens = model.options().pageTokens();
        return (2L * (p / pageTokens) + value) * pageBytes() + (p % pageTokens) * rowBytes();
    }

    private int slot(int pos) {
        return pos < layout.sink() ? pos : layout.sink() + pos % layout.recent();
    }

    private void read(ByteBuffer buf, long at, float[] row) {
        int kvBytes = model.options().kvType().bytes();
        int p = Math.toIntExact(at);
        for (int d = 0; d < row.length; d++) {
            row[d] = kvBytes == 4 ? buf.getFloat(p + 4 * d)
                    : Float.intBitsToFloat((buf.getShort(p + 2 * d) & 0xffff) << 16);
        }
    }

    private void write(ByteBuffer buf, long at, float[] row) {
        int kvBytes = model.options().kvType().bytes();
        int p = Math.toIntExact(at);
        for (int d = 0; d < row.length; d++) {
            if (kvBytes == 4) {
                buf.putFloat(p + 4 * d, row[d]);
            } else {
                buf.putShort(p + 2 * d, io.headroom.engine.tensor.Bf16Tensor.fromFloat(row[d]));
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        decodeGraphs.values().forEach(CudaGraph::close);
        decodeGraphs.clear();
        for (int lh = 0; lh < pagesHeld.length; lh++) {
            model.pool().release(Arrays.copyOfRange(pageTable, lh * maxPages, lh * maxPages + pagesHeld[lh]));
        }
        dev.free(devicePageTable);
        dev.free(ringKeys);
        dev.free(ringValues);
        dev.free(streamingFlags);
        dev.free(headOrder);
        dev.free(pageUpdates);
        pageUpdatesPinned.close();
        pageUpdatesCopied.close();
    }
}
