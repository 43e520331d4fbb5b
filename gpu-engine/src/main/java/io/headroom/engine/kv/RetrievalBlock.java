package io.headroom.engine.kv;

import io.headroom.engine.duo.DuoLayout;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.util.zip.CRC32C;

/**
 * The retrieval heads' KV of one sequence as one checksummed block outside the Java heap: what the
 * session cache parks in host memory and spills to disk between turns. Unlike the byte arrays of
 * {@link KvStateCodec} it has no 2 GiB limit (a Llama-3-8B session at 128K tokens holds 8.6 GB of
 * retrieval KV at 50% retrieval heads, in bf16), and it keeps the backend's own element type, so a
 * device cache moves its pages to host memory and back as they are, without a float32 conversion.
 * Layout, little-endian:
 * <pre>
 *   magic "HRKV" | version u16 (2) | part u8 (1 = retrieval) | dtype u8 (1 = f32, 2 = bf16) | tokens i32
 *   | layers i32 | kvHeads i32 | headDim i32 | sink i32 | recent i32 | page size of the exporter i32
 *   | layout: layers·kvHeads bytes (1 = retrieval)
 *   | payload: per layer, per retrieval head: the keys of every position (tokens · headDim elements),
 *     then the values
 *   | CRC32C of everything before it, u32
 * </pre>
 * Positions are stored without their page structure, so a block imports into a cache with any page
 * size. The checksum guards the block where it leaves the process: it is written by {@link #seal},
 * which {@link #writeTo} does first, so a block parked in host memory and brought back from there
 * never pays for it (about 0.1 s per GB); {@link #open} verifies it before anything reads a block
 * from outside.
 */
public final class RetrievalBlock {

    /** Element types of the payload. */
    public enum Dtype {
        F32(1, 4), BF16(2, 2);

        final int code;
        private final int bytes;

        Dtype(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }

        static Dtype of(int code) {
            for (Dtype d : values()) {
                if (d.code == code) {
                    return d;
                }
            }
            return null;
        }
    }

    static final int VERSION = 2;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Checksums and channel writes go through byte-buffer views of at most this many bytes. */
    private static final long SLICE = 1L << 30;
    private static final int FIXED_HEADER = 4 + 2 + 1 + 1 + 4 * 7;

    private final MemorySegment segment;
    private final DuoLayout layout;
    private final int tokens;
    private final int headDim;
    private final Dtype dtype;
    private final long payload;
    /** (layer · kvHeads + head) → the head's index among the retrieval heads, -1 for a streaming head. */
    private final int[] ordinal;
    private boolean sealed;

    private RetrievalBlock(MemorySegment segment, DuoLayout layout, int tokens, int headDim, Dtype dtype) {
        this.segment = segment;
        this.layout = layout;
        this.tokens = tokens;
        this.headDim = headDim;
        this.dtype = dtype;
        this.payload = FIXED_HEADER + (long) layout.layers() * layout.kvHeads();
        this.ordinal = new int[layout.layers() * layout.kvHeads()];
        int next = 0;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                ordinal[l * layout.kvHeads() + h] = layout.isRetrieval(l, h) ? next++ : -1;
            }
        }
    }

    /** Bytes of a block for {@code tokens} positions. */
    public static long bytes(DuoLayout layout, int tokens, int headDim, Dtype dtype) {
        return FIXED_HEADER + (long) layout.layers() * layout.kvHeads()
                + 2L * layout.retrievalCount() * tokens * headDim * dtype.bytes() + 4;
    }

    /**
     * A new block in {@code arena} with its header written; the caller fills every head's rows
     * ({@link #offset}, {@link #writeRows}); the checksum follows with {@link #seal}.
     */
    public static RetrievalBlock allocate(Arena arena, DuoLayout layout, int tokens, int headDim, int pageTokens,
            Dtype dtype) {
        if (tokens < 0) {
            throw new IllegalArgumentException("a KV block holds >= 0 tokens, got " + tokens);
        }
        MemorySegment s = HostMemory.allocate(arena, bytes(layout, tokens, headDim, dtype));
        s.set(I32, 0, KvStateCodec.MAGIC);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4, (short) VERSION);
        s.set(ValueLayout.JAVA_BYTE, 6, (byte) KvStateCodec.Part.RETRIEVAL.code);
        s.set(ValueLayout.JAVA_BYTE, 7, (byte) dtype.code);
        int[] fields = {tokens, layout.layers(), layout.kvHeads(), headDim, layout.sink(), layout.recent(), pageTokens};
        for (int i = 0; i < fields.length; i++) {
            s.set(I32, 8 + 4L * i, fields[i]);
        }
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                s.set(ValueLayout.JAVA_BYTE, FIXED_HEADER + (long) l * layout.kvHeads() + h,
                        (byte) (layout.isRetrieval(l, h) ? 1 : 0));
            }
        }
        return new RetrievalBlock(s, layout, tokens, headDim, dtype);
    }

    /** Writes the checksum of the block as it is now (once: the rows must not change after). */
    public void seal() {
        if (!sealed) {
            long end = segment.byteSize() - 4;
            segment.set(I32, end, (int) checksum(segment, end));
            sealed = true;
        }
    }

    /**
     * A block read back from {@code segment} (host memory or a mapped spill file), checked: intact
     * (checksum), of this format, for {@code layout} and {@code headDim}, and of the size its token
     * count needs; otherwise an {@link IllegalArgumentException} says which check failed.
     */
    public static RetrievalBlock open(MemorySegment segment, DuoLayout layout, int headDim) {
        String what = "KV retrieval block";
        long size = segment.byteSize();
        if (size < FIXED_HEADER + 4) {
            throw new IllegalArgumentException(what + " is truncated (" + size + " bytes)");
        }
        if (segment.get(I32, 0) != KvStateCodec.MAGIC) {
            throw new IllegalArgumentException(what + " is not a Headroom KV block (bad magic)");
        }
        int version = segment.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4);
        if (version != VERSION) {
            throw new IllegalArgumentException(what + " has format version " + version + ", this engine reads "
                    + VERSION);
        }
        int part = segment.get(ValueLayout.JAVA_BYTE, 6);
        if (part != KvStateCodec.Part.RETRIEVAL.code) {
            throw new IllegalArgumentException(what + " holds part " + part + ", expected "
                    + KvStateCodec.Part.RETRIEVAL.code);
        }
        Dtype dtype = Dtype.of(segment.get(ValueLayout.JAVA_BYTE, 7));
        if (dtype == null) {
            throw new IllegalArgumentException(what + " has an unknown dtype code " + segment.get(ValueLayout.JAVA_BYTE,
                    7));
        }
        int tokens = segment.get(I32, 8);
        int layers = segment.get(I32, 12);
        int kvHeads = segment.get(I32, 16);
        int hd = segment.get(I32, 20);
        int sink = segment.get(I32, 24);
        int recent = segment.get(I32, 28);
        if (tokens < 0 || layers != layout.layers() || kvHeads != layout.kvHeads() || hd != headDim
                || sink != layout.sink() || recent != layout.recent()) {
            throw new IllegalArgumentException(what + " does not match this model and layout: it has " + layers
                    + " layers, " + kvHeads + " KV heads, head dim " + hd + ", sink " + sink + ", recent " + recent
                    + ", " + tokens + " tokens; expected " + layout.layers() + ", " + layout.kvHeads() + ", "
                    + headDim + ", " + layout.sink() + ", " + layout.recent());
        }
        long expected = bytes(layout, tokens, headDim, dtype);
        if (size != expected) {
            throw new IllegalArgumentException(what + " holds " + size + " bytes, but " + tokens + " tokens need "
                    + expected);
        }
        if ((int) checksum(segment, size - 4) != segment.get(I32, size - 4)) {
            throw new IllegalArgumentException(what + " is corrupt: checksum mismatch");
        }
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                if ((segment.get(ValueLayout.JAVA_BYTE, FIXED_HEADER + (long) l * kvHeads + h) == 1)
                        != layout.isRetrieval(l, h)) {
                    throw new IllegalArgumentException(what + " was exported with a different head layout (layer "
                            + l + ", head " + h + ")");
                }
            }
        }
        RetrievalBlock verified = new RetrievalBlock(segment, layout, tokens, headDim, dtype);
        verified.sealed = true;
        return verified;
    }

    /** The retrieval part of a host cache, in float32 (not yet sealed). */
    public static RetrievalBlock export(SequenceKv kv, Arena arena) {
        RetrievalBlock b = allocate(arena, kv.layout(), kv.length(), kv.headDim(), kv.pageTokens(), Dtype.F32);
        float[] row = new float[kv.headDim()];
        b.forEachHead((l, h) -> {
            for (int value = 0; value < 2; value++) {
                for (int p = 0; p < b.tokens; p++) {
                    kv.readRetrieval(l, h, p, value == 1, row, 0);
                    b.writeRows(l, h, value == 1, p, row, 1);
                }
            }
        });
        return b;
    }

    /** Writes every retrieval head's rows into {@code kv} (same layout and head size), converting to float32. */
    public void readInto(SequenceKv kv) {
        if (!kv.layout().equals(layout) || kv.headDim() != headDim) {
            throw new IllegalArgumentException("the KV block has another head layout or head size than the cache");
        }
        float[] row = new float[headDim];
        forEachHead((l, h) -> {
            for (int value = 0; value < 2; value++) {
                for (int p = 0; p < tokens; p++) {
                    readRows(l, h, value == 1, p, row, 1);
                    kv.writeRetrieval(l, h, p, value == 1, row, 0);
                }
            }
        });
    }

    /** Calls {@code action} for every retrieval head, layer by layer. */
    public void forEachHead(HeadAction action) {
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (layout.isRetrieval(l, h)) {
                    action.run(l, h);
                }
            }
        }
    }

    /** What {@link #forEachHead} runs. */
    @FunctionalInterface
    public interface HeadAction {
        void run(int layer, int head);
    }

    /** Byte offset of retrieval head (layer, head)'s keys (or values): {@code tokens} rows of {@link #rowBytes}. */
    public long offset(int layer, int head, boolean value) {
        int i = ordinal[layer * layout.kvHeads() + head];
        if (i < 0) {
            throw new IllegalArgumentException("layer " + layer + " head " + head + " is a streaming head");
        }
        return payload + (2L * i + (value ? 1 : 0)) * tokens * rowBytes();
    }

    public long rowBytes() {
        return (long) headDim * dtype.bytes;
    }

    /** Writes {@code rows} rows from {@code src} at position {@code from} on, converting from float32. */
    public void writeRows(int layer, int head, boolean value, int from, float[] src, int rows) {
        long at = offset(layer, head, value) + from * rowBytes();
        int n = rows * headDim;
        if (dtype == Dtype.F32) {
            MemorySegment.copy(src, 0, segment, F32, at, n);
        } else {
            for (int i = 0; i < n; i++) {
                segment.set(BF16, at + 2L * i, io.headroom.engine.tensor.Bf16Tensor.fromFloat(src[i]));
            }
        }
    }

    /** Reads {@code rows} rows at position {@code from} on into {@code dst} as float32. */
    public void readRows(int layer, int head, boolean value, int from, float[] dst, int rows) {
        long at = offset(layer, head, value) + from * rowBytes();
        int n = rows * headDim;
        if (dtype == Dtype.F32) {
            MemorySegment.copy(segment, F32, at, dst, 0, n);
        } else {
            for (int i = 0; i < n; i++) {
                dst[i] = Float.intBitsToFloat((segment.get(BF16, at + 2L * i) & 0xffff) << 16);
            }
        }
    }

    /** Seals the block and writes it to {@code channel}. */
    public void writeTo(WritableByteChannel channel) throws IOException {
        seal();
        for (long at = 0; at < segment.byteSize(); at += SLICE) {
            var buf = segment.asSlice(at, Math.min(SLICE, segment.byteSize() - at)).asByteBuffer();
            while (buf.hasRemaining()) {
                channel.write(buf);
            }
        }
    }

    public MemorySegment segment() {
        return segment;
    }

    public DuoLayout layout() {
        return layout;
    }

    public int tokens() {
        return tokens;
    }

    public int headDim() {
        return headDim;
    }

    public Dtype dtype() {
        return dtype;
    }

    private static long checksum(MemorySegment s, long length) {
        CRC32C crc = new CRC32C();
        for (long at = 0; at < length; at += SLICE) {
            crc.update(s.asSlice(at, Math.min(SLICE, length - at)).asByteBuffer());
        }
        return crc.getValue();
    }
}
