package io.headroom.sessions.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A session whose retrieval KV is larger than 2 GiB (one byte array's limit; a Llama-3-8B session
 * passes it at about 16K tokens in float32, 32K in bf16) moves to host memory and to disk and comes
 * back intact. The cache stands in for a device sequence: its retrieval block (2.25 GB) is written
 * row by row from a formula of position and dimension, and the rows are checked on the way back on
 * both sides of the 2 GiB mark.
 */
class KvTiersLargeSessionTests {

    /** A session of one user (the tiers key every session by owner and id). */
    static SessionKey newKey() {
        return new SessionKey("user-a", UUID.randomUUID());
    }

    static final DuoLayout LAYOUT = DuoLayout.full(1, 1);
    static final int HEAD_DIM = 128;
    static final int TOKENS = 2_200_000;
    static final int ROWS = 4096;

    @TempDir
    Path spill;

    static float element(int position, int dim, boolean value) {
        return position * 0.5f + dim + (value ? 0.25f : 0f);
    }

    /** A device-like cache of TOKENS positions whose retrieval rows follow {@link #element}. */
    static final class LargeCache implements KvCache {
        @Override
        public int length() {
            return TOKENS;
        }

        @Override
        public DuoLayout layout() {
            return LAYOUT;
        }

        @Override
        public long bytes() {
            return RetrievalBlock.bytes(LAYOUT, TOKENS, HEAD_DIM, RetrievalBlock.Dtype.F32);
        }

        @Override
        public SequenceKv toHost() {
            throw new UnsupportedOperationException("the tiers move this cache as a block");
        }

        @Override
        public SequenceKv streamingToHost() {
            SequenceKv s = new SequenceKv(LAYOUT, HEAD_DIM, 4, TOKENS); // no streaming heads: only the length
            s.setLength(TOKENS);
            return s;
        }

        @Override
        public RetrievalBlock exportRetrieval(Arena arena) {
            RetrievalBlock b = RetrievalBlock.allocate(arena, LAYOUT, TOKENS, HEAD_DIM, 4, RetrievalBlock.Dtype.F32);
            float[] rows = new float[ROWS * HEAD_DIM];
            for (boolean value : new boolean[] {false, true}) {
                for (int from = 0; from < TOKENS; from += ROWS) {
                    int n = Math.min(ROWS, TOKENS - from);
                    for (int r = 0; r < n; r++) {
                        for (int d = 0; d < HEAD_DIM; d++) {
                            rows[r * HEAD_DIM + d] = element(from + r, d, value);
                        }
                    }
                    b.writeRows(0, 0, value, from, rows, n);
                }
            }
            return b; // not sealed, as a device cache's export: the spill seals it
        }

        @Override
        public void close() {
        }
    }

    @Test
    void aSessionOverTwoGibibytesShouldComeBackFromHostAndFromDisk() {
        byte[] streaming = KvStateCodec.export(new LargeCache().streamingToHost(), KvStateCodec.Part.STREAMING);
        for (KvTiers.Source via : new KvTiers.Source[] {KvTiers.Source.HOST, KvTiers.Source.DISK}) {
            long hostBudget = via == KvTiers.Source.HOST ? 1L << 40 : 1;
            try (KvTiers tiers = new KvTiers(1, hostBudget, Duration.ofMinutes(10), spill,
                    new KvTiers.KvShape(HEAD_DIM, 4, TOKENS))) {
                SessionKey id = newKey();
                tiers.checkin(id, new LargeCache()); // over the device budget: moved down at once
                long held = tiers.bytes(id).get(via == KvTiers.Source.HOST ? KvTiers.Tier.HOST : KvTiers.Tier.DISK);
                assertThat(held).isGreaterThan(Integer.MAX_VALUE);
                long[] checked = new long[1];
                KvTiers.Checkout back = tiers.checkout(id, TOKENS, LAYOUT, new KvTiers.Rebuild() {
                    @Override
                    public byte[] streamingState(int tokens) {
                        return streaming;
                    }

                    @Override
                    public KvCache recompute() {
                        throw new AssertionError("recomputed instead of read back");
                    }

                    @Override
                    public KvCache adopt(SequenceKv s, RetrievalBlock retrieval) {
                        assertThat(s.length()).isEqualTo(TOKENS);
                        assertThat(retrieval.segment().byteSize()).isEqualTo(new LargeCache().bytes());
                        float[] row = new float[HEAD_DIM];
                        for (int p : new int[] {0, 1, 1_999_999, 2_000_000, TOKENS - 1}) {
                            for (boolean value : new boolean[] {false, true}) {
                                retrieval.readRows(0, 0, value, p, row, 1);
                                for (int d = 0; d < HEAD_DIM; d++) {
                                    assertThat(row[d]).isEqualTo(element(p, d, value));
                                }
                                checked[0]++;
                            }
                        }
                        return new LargeCache();
                    }
                });
                assertThat(back.source()).isEqualTo(via);
                assertThat(checked[0]).isEqualTo(10);
            }
        }
    }
}
