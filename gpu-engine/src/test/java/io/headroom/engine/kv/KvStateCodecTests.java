package io.headroom.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.tensor.Bf16Tensor;
import org.junit.jupiter.api.Test;

/** The streaming block in bf16: half the payload, the values a bf16 cache holds kept exactly. */
class KvStateCodecTests {

    static final int HEAD_DIM = RetrievalBlockTests.HEAD_DIM;

    static float bf16(float f) {
        return Float.intBitsToFloat((Bf16Tensor.fromFloat(f) & 0xffff) << 16);
    }

    @Test
    void bf16StreamingBlocksShouldHalveThePayloadAndKeepBf16ValuesExactly() {
        DuoLayout layout = RetrievalBlockTests.layout();
        SequenceKv kv = RetrievalBlockTests.filled(layout, 9, 3); // sink 2 + ring 4 of 9 positions: the ring wrapped
        byte[] f32 = KvStateCodec.export(kv, KvStateCodec.Part.STREAMING);
        byte[] half = KvStateCodec.export(kv, KvStateCodec.Part.STREAMING, RetrievalBlock.Dtype.BF16);
        int streamingHeads = layout.layers() * layout.kvHeads() - layout.retrievalCount();
        long payloadF32 = 2L * streamingHeads * kv.streamingPositions().length * HEAD_DIM * 4;
        assertThat(f32.length - half.length).isEqualTo(payloadF32 / 2);

        // the exporter's page size, so that the header exported again is the same
        SequenceKv back = KvStateCodec.importStreaming(half, layout, HEAD_DIM, 3, 1000);
        assertThat(back.length()).isEqualTo(9);
        float[] a = new float[HEAD_DIM];
        float[] b = new float[HEAD_DIM];
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (layout.isRetrieval(l, h)) {
                    continue;
                }
                for (int p : kv.streamingPositions()) {
                    for (boolean value : new boolean[] {false, true}) {
                        back.readStreaming(l, h, p, value, a, 0);
                        kv.readStreaming(l, h, p, value, b, 0);
                        for (int d = 0; d < HEAD_DIM; d++) {
                            b[d] = bf16(b[d]); // what a bf16 cache would have held
                        }
                        assertThat(a).as("layer %d head %d pos %d", l, h, p).containsExactly(b);
                    }
                }
            }
        }
        // a cache of bf16 values comes back bit for bit, so exporting it again gives the same block
        assertThat(KvStateCodec.export(back, KvStateCodec.Part.STREAMING, RetrievalBlock.Dtype.BF16)).isEqualTo(half);
    }
}
