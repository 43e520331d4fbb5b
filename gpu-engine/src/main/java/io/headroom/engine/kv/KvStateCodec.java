package io.headroom.engine.kv;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.tensor.Bf16Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Export and import of one sequence's KV state as two self-describing byte blocks, so the session
 * cache can move them between tiers and verify them on the way back:
 * <ul>
 *   <li>{@link Part#RETRIEVAL}: every position of every retrieval head (grows with the sequence);</li>
 *   <li>{@link Part#STREAMING}: the sink and recent positions of every streaming head (constant).</li>
 * </ul>
 * Layout, little-endian:
 * <pre>
 *   magic "HRKV" | version u16 | part u8 | dtype u8 (1 = f32, 2 = bf16) | tokens i32 | layers i32
 *   | kvHeads i32 | headDim i32 | sink i32 | recent i32 | page size of the exporter i32
 *   | layout: layers·kvHeads bytes (1 = retrieval)
 *   | payload: per layer, per head of the part, per held position in order: key then value (headDim
 *     elements each)
 *   | CRC32C of everything before it, u32
 * </pre>
 * Retrieval positions are stored without their page structure, so a block imports into a cache with
 * any page size. Blocks are byte arrays, so each part stays under 2 GiB: the session cache persists
 * the streaming part with every turn in this format, and parks the retrieval part as a
 * {@link RetrievalBlock} (off-heap, the backend's element type, no size limit).
 */
public final class KvStateCodec {

    /** The two halves of a sequence's KV state. */
    public enum Part {
        RETRIEVAL(1), STREAMING(2);

        final int code;

        Part(int code) {
            this.code = code;
        }
    }

    static final int MAGIC = 0x564B5248; // "HRKV" read little-endian
    static final int VERSION = 1;

    private KvStateCodec() {
    }

    /** Serialises one part of {@code kv} in float32. */
    public static byte[] export(SequenceKv kv, Part part) {
        return export(kv, part, RetrievalBlock.Dtype.F32);
    }

    /**
     * Serialises one part of {@code kv} with elements of {@code dtype}: bf16 halves the bytes, and
     * loses nothing for a cache whose values came from bf16 (a device cache with bf16 KV).
     */
    public static byte[] export(SequenceKv kv, Part part, RetrievalBlock.Dtype dtype) {
        DuoLayout layout = kv.layout();
        int hd = kv.headDim();
        int[] streamingPositions = kv.streamingPositions();
        int heads = 0;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                heads += layout.isRetrieval(l, h) == (part == Part.RETRIEVAL) ? 1 : 0;
            }
        }
        int positions = part == Part.RETRIEVAL ? kv.length() : streamingPositions.length;
        long payload = 2L * heads * positions * hd * dtype.bytes();
        int header = 4 + 2 + 1 + 1 + 4 * 7 + layout.layers() * layout.kvHeads();
        long total = header + payload + 4;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("KV part of " + total + " bytes is too large for one block");
        }
        ByteBuffer b = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort((short) VERSION).put((byte) part.code).put((byte) dtype.code);
        b.putInt(kv.length()).putInt(layout.layers()).putInt(layout.kvHeads()).putInt(hd)
                .putInt(layout.sink()).putInt(layout.recent()).putInt(kv.pageTokens());
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                b.put((byte) (layout.isRetrieval(l, h) ? 1 : 0));
            }
        }
        float[] row = new float[hd];
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (layout.isRetrieval(l, h) != (part == Part.RETRIEVAL)) {
                    continue;
                }
                for (int i = 0; i < positions; i++) {
                    for (boolean value : new boolean[] {false, true}) {
                        if (part == Part.RETRIEVAL) {
                            kv.readRetrieval(l, h, i, value, row, 0);
                        } else {
                            kv.readStreaming(l, h, streamingPositions[i], value, row, 0);
                        }
                        for (float f : row) {
                            if (dtype == RetrievalBlock.Dtype.F32) {
                                b.putFloat(f);
                            } else {
                                b.putShort(Bf16Tensor.fromFloat(f));
                            }
                        }
                    }
                }
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /**
     * Rebuilds a sequence's cache from its two parts. Both must be intact (checksum), of this format
     * version, for {@code layout} and {@code headDim}, and hold the same number of tokens; otherwise
     * this fails with an {@link IllegalArgumentException} saying which check failed.
     */
    public static SequenceKv importState(byte[] retrieval, byte[] streaming, DuoLayout layout, int headDim,
            int pageTokens, int maxPositions) {
        Header r = Header.read(retrieval, Part.RETRIEVAL, layout, headDim);
        SequenceKv kv = importStreaming(streaming, layout, headDim, pageTokens, maxPositions);
        if (r.tokens != kv.length()) {
            throw new IllegalArgumentException("KV parts do not belong together: retrieval block holds " + r.tokens
                    + " tokens, streaming block " + kv.length());
        }
        checkPayload(r, "retrieval", 2L * layout.retrievalCount() * r.tokens * headDim * r.dtype.bytes());
        read(r, kv, true, r.tokens, headDim);
        return kv;
    }

    /**
     * A cache holding a streaming block's state: the streaming heads' sink and recent positions and
     * the sequence's length, with the retrieval heads still to be filled (from a
     * {@link RetrievalBlock}, {@link RetrievalBlock#readInto}, or by a device cache's upload). The
     * block is checked as {@link #importState} checks it.
     */
    public static SequenceKv importStreaming(byte[] streaming, DuoLayout layout, int headDim, int pageTokens,
            int maxPositions) {
        Header s = Header.read(streaming, Part.STREAMING, layout, headDim);
        if (s.tokens > maxPositions) {
            throw new IllegalArgumentException("KV state of " + s.tokens + " tokens exceeds the model's limit of "
                    + maxPositions);
        }
        SequenceKv kv = new SequenceKv(layout, headDim, pageTokens, maxPositions);
        kv.setLength(s.tokens);
        int positions = kv.streamingPositions().length;
        int streamingHeads = layout.layers() * layout.kvHeads() - layout.retrievalCount();
        checkPayload(s, "streaming", 2L * streamingHeads * positions * headDim * s.dtype.bytes());
        read(s, kv, false, positions, headDim);
        return kv;
    }

    /** Reads one part's payload into {@code kv}: per layer, per head of the part, per position, key then value. */
    private static void read(Header part, SequenceKv kv, boolean isRetrieval, int positions, int headDim) {
        ByteBuffer b = part.payload;
        DuoLayout layout = kv.layout();
        int[] streamingPositions = kv.streamingPositions();
        float[] row = new float[headDim];
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (layout.isRetrieval(l, h) != isRetrieval) {
                    continue;
                }
                for (int i = 0; i < positions; i++) {
                    for (boolean value : new boolean[] {false, true}) {
                        for (int d = 0; d < headDim; d++) {
                            row[d] = part.dtype == RetrievalBlock.Dtype.F32 ? b.getFloat()
                                    : Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                        }
                        if (isRetrieval) {
                            kv.writeRetrieval(l, h, i, value, row, 0);
                        } else {
                            kv.writeStreaming(l, h, streamingPositions[i], value, row, 0);
                        }
                    }
                }
            }
        }
    }

    private static void checkPayload(Header h, String what, long expected) {
        if (h.payload.remaining() - 4 != expected) {
            throw new IllegalArgumentException("KV " + what + " block holds " + (h.payload.remaining() - 4)
                    + " payload bytes, but " + h.tokens + " tokens need " + expected);
        }
    }

    /** A checked header; {@code payload} is positioned at the first payload byte. */
    private record Header(int tokens, RetrievalBlock.Dtype dtype, ByteBuffer payload) {

        static Header read(byte[] block, Part expected, DuoLayout layout, int headDim) {
            String what = "KV " + expected.name().toLowerCase(java.util.Locale.ROOT) + " block";
            int fixed = 4 + 2 + 1 + 1 + 4 * 7;
            if (block == null || block.length < fixed + 4) {
                throw new IllegalArgumentException(what + " is truncated (" + (block == null ? 0 : block.length)
                        + " bytes)");
            }
            ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
            if (b.getInt() != MAGIC) {
                throw new IllegalArgumentException(what + " is not a Headroom KV block (bad magic)");
            }
            CRC32C crc = new CRC32C();
            crc.update(block, 0, block.length - 4);
            int stored = ByteBuffer.wrap(block, block.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if ((int) crc.getValue() != stored) {
                throw new IllegalArgumentException(what + " is corrupt: checksum mismatch");
            }
            int version = b.getShort();
            if (version != VERSION) {
                throw new IllegalArgumentException(what + " has format version " + version + ", this engine reads "
                        + VERSION);
            }
            int part = b.get();
            if (part != expected.code) {
                throw new IllegalArgumentException(what + " holds part " + part + ", expected " + expected.code);
            }
            int code = b.get();
            RetrievalBlock.Dtype dtype = RetrievalBlock.Dtype.of(code);
            if (dtype == null) {
                throw new IllegalArgumentException(what + " has an unknown dtype code " + code);
            }
            int tokens = b.getInt();
            int layers = b.getInt();
            int kvHeads = b.getInt();
            int hd = b.getInt();
            int sink = b.getInt();
            int recent = b.getInt();
            b.getInt(); // page size of the exporter: informative only
            if (tokens < 0 || layers != layout.layers() || kvHeads != layout.kvHeads() || hd != headDim
                    || sink != layout.sink() || recent != layout.recent()) {
                throw new IllegalArgumentException(what + " does not match this model and layout: it has "
                        + layers + " layers, " + kvHeads + " KV heads, head dim " + hd + ", sink " + sink
                        + ", recent " + recent + "; expected " + layout.layers() + ", " + layout.kvHeads() + ", "
                        + headDim + ", " + layout.sink() + ", " + layout.recent());
            }
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < kvHeads; h++) {
                    if ((b.get() == 1) != layout.isRetrieval(l, h)) {
                        throw new IllegalArgumentException(what + " was exported with a different head layout"
                                + " (layer " + l + ", head " + h + ")");
                    }
                }
            }
            return new Header(tokens, dtype, b);
        }
    }
}
