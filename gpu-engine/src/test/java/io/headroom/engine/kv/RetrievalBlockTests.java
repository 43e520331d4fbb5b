package io.headroom.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.tensor.Bf16Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The off-heap retrieval block: round trips, element types, and every check {@code open} makes. */
class RetrievalBlockTests {

    static final int HEAD_DIM = 8;

    static DuoLayout layout() {
        boolean[][] retrieval = {{true, false, true}, {false, true, false}};
        return new DuoLayout(retrieval, 2, 4);
    }

    /** A host cache of {@code tokens} positions with random keys and values in every head. */
    static SequenceKv filled(DuoLayout layout, int tokens, long seed) {
        SequenceKv kv = new SequenceKv(layout, HEAD_DIM, 3, 1000);
        kv.setLength(tokens);
        Random r = new Random(seed);
        float[] row = new float[HEAD_DIM];
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                int[] positions = layout.isRetrieval(l, h) ? java.util.stream.IntStream.range(0, tokens).toArray()
                        : kv.streamingPositions();
                for (int p : positions) {
                    for (boolean value : new boolean[] {false, true}) {
                        for (int d = 0; d < HEAD_DIM; d++) {
                            row[d] = (float) r.nextGaussian();
                        }
                        if (layout.isRetrieval(l, h)) {
                            kv.writeRetrieval(l, h, p, value, row, 0);
                        } else {
                            kv.writeStreaming(l, h, p, value, row, 0);
                        }
                    }
                }
            }
        }
        return kv;
    }

    @Test
    void aHostCacheShouldRoundTripBitExactIntoAnyPageSize() {
        DuoLayout layout = layout();
        SequenceKv kv = filled(layout, 11, 1);
        try (Arena arena = Arena.ofConfined()) {
            RetrievalBlock exported = kv.exportRetrieval(arena);
            exported.seal();
            RetrievalBlock block = RetrievalBlock.open(exported.segment(), layout, HEAD_DIM);
            assertThat(block.tokens()).isEqualTo(11);
            assertThat(block.segment().byteSize())
                    .isEqualTo(RetrievalBlock.bytes(layout, 11, HEAD_DIM, RetrievalBlock.Dtype.F32));
            SequenceKv back = KvStateCodec.importStreaming(KvStateCodec.export(kv, KvStateCodec.Part.STREAMING),
                    layout, HEAD_DIM, 5, 1000);
            block.readInto(back);
            float[] a = new float[HEAD_DIM];
            float[] b = new float[HEAD_DIM];
            for (int l = 0; l < layout.layers(); l++) {
                for (int h = 0; h < layout.kvHeads(); h++) {
                    boolean retrieval = layout.isRetrieval(l, h);
                    for (int p : retrieval ? java.util.stream.IntStream.range(0, 11).toArray()
                            : kv.streamingPositions()) {
                        for (boolean value : new boolean[] {false, true}) {
                            if (retrieval) {
                                back.readRetrieval(l, h, p, value, a, 0);
                                kv.readRetrieval(l, h, p, value, b, 0);
                            } else {
                                back.readStreaming(l, h, p, value, a, 0);
                                kv.readStreaming(l, h, p, value, b, 0);
                            }
                            assertThat(a).as("layer %d head %d pos %d", l, h, p).containsExactly(b);
                        }
                    }
                }
            }
        }
    }

    @Test
    void bf16BlocksShouldHoldTheRoundedElements() {
        DuoLayout layout = layout();
        try (Arena arena = Arena.ofConfined()) {
            RetrievalBlock block = RetrievalBlock.allocate(arena, layout, 2, HEAD_DIM, 4, RetrievalBlock.Dtype.BF16);
            float[] rows = new float[2 * HEAD_DIM];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = 1.0f + i / 3.0f;
            }
            block.writeRows(1, 1, true, 0, rows, 2);
            block.seal();
            assertThat(block.offset(1, 1, true) - block.offset(1, 1, false)).isEqualTo(2L * HEAD_DIM * 2);
            float[] back = new float[2 * HEAD_DIM];
            RetrievalBlock.open(block.segment(), layout, HEAD_DIM).readRows(1, 1, true, 0, back, 2);
            for (int i = 0; i < rows.length; i++) {
                assertThat(back[i]).isEqualTo(Float.intBitsToFloat((Bf16Tensor.fromFloat(rows[i]) & 0xffff) << 16));
            }
            assertThatThrownBy(() -> block.offset(0, 1, false)).hasMessageContaining("streaming head");
        }
    }

    @Test
    void openShouldRefuseDamagedOrForeignBlocks() {
        DuoLayout layout = layout();
        SequenceKv kv = filled(layout, 6, 2);
        try (Arena arena = Arena.ofConfined()) {
            RetrievalBlock exported = kv.exportRetrieval(arena);
            assertThatThrownBy(() -> RetrievalBlock.open(exported.segment(), layout, HEAD_DIM))
                    .as("not sealed yet").hasMessageContaining("checksum");
            exported.seal();
            MemorySegment good = exported.segment();
            MemorySegment flipped = copy(arena, good);
            flipped.set(ValueLayout.JAVA_BYTE, good.byteSize() / 2,
                    (byte) (flipped.get(ValueLayout.JAVA_BYTE, good.byteSize() / 2) ^ 1));
            assertThatThrownBy(() -> RetrievalBlock.open(flipped, layout, HEAD_DIM)).hasMessageContaining("checksum");
            assertThatThrownBy(() -> RetrievalBlock.open(good.asSlice(0, good.byteSize() - 8), layout, HEAD_DIM))
                    .hasMessageContaining("need");
            assertThatThrownBy(() -> RetrievalBlock.open(good.asSlice(0, 20), layout, HEAD_DIM))
                    .hasMessageContaining("truncated");
            assertThatThrownBy(() -> RetrievalBlock.open(good, layout, HEAD_DIM * 2))
                    .hasMessageContaining("does not match");
            boolean[][] other = {{false, true, true}, {true, false, false}}; // as many retrieval heads
            assertThatThrownBy(() -> RetrievalBlock.open(good, new DuoLayout(other, 2, 4), HEAD_DIM))
                    .hasMessageContaining("different head layout");
            MemorySegment v1 = copy(arena, good);
            v1.set(ValueLayout.JAVA_SHORT_UNALIGNED, 4, (short) 1);
            assertThatThrownBy(() -> RetrievalBlock.open(v1, layout, HEAD_DIM)).hasMessageContaining("version 1");
            byte[] streaming = KvStateCodec.export(kv, KvStateCodec.Part.STREAMING);
            assertThatThrownBy(() -> RetrievalBlock.open(MemorySegment.ofArray(streaming), layout, HEAD_DIM))
                    .hasMessageContaining("version 1");
        }
    }

    private static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment c = arena.allocate(s.byteSize());
        c.copyFrom(s);
        return c;
    }
}
