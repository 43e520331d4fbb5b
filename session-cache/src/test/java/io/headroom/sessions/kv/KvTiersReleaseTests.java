package io.headroom.sessions.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backend cache that lives outside the Java heap (the CUDA backend's device sequences) must be
 * released whenever the tiers let go of it: parked to host, dropped, found stale at checkout, or
 * at shutdown; and never released while checked out. A recording cache stands in for the device
 * one, around a real host cache, so the release bookkeeping is checked without a GPU.
 */
class KvTiersReleaseTests {

    /** A session of one user (the tiers key every session by owner and id). */
    static SessionKey newKey() {
        return new SessionKey("user-a", UUID.randomUUID());
    }

    static final DuoLayout LAYOUT = DuoLayout.streamingOnly(2, 2, 2, 4);
    static final int HEAD_DIM = 8;

    @TempDir
    Path spill;

    /** A device-like cache: its state is a host cache, its bytes count as device memory. */
    static final class RecordingCache implements KvCache {
        final SequenceKv host;
        int closes;
        int copies;

        RecordingCache(int length) {
            host = new SequenceKv(LAYOUT, HEAD_DIM, 4, 1024);
            host.setLength(length);
        }

        @Override
        public int length() {
            return host.length();
        }

        @Override
        public DuoLayout layout() {
            return LAYOUT;
        }

        @Override
        public long bytes() {
            return 1000;
        }

        @Override
        public SequenceKv toHost() {
            assertThat(closes).as("copied after release").isZero();
            copies++;
            return host;
        }

        @Override
        public SequenceKv streamingToHost() {
            assertThat(closes).as("copied after release").isZero();
            return host;
        }

        @Override
        public RetrievalBlock exportRetrieval(Arena arena) {
            return toHost().exportRetrieval(arena);
        }

        @Override
        public void close() {
            closes++;
        }
    }

    final List<RecordingCache> adopted = new ArrayList<>();

    KvTiers.Rebuild rebuild(int tokens) {
        return new KvTiers.Rebuild() {
            @Override
            public byte[] streamingState(int n) {
                return null;
            }

            @Override
            public KvCache recompute() {
                RecordingCache c = new RecordingCache(tokens);
                adopted.add(c);
                return c;
            }

            @Override
            public KvCache adopt(SequenceKv streaming, RetrievalBlock retrieval) {
                RecordingCache c = new RecordingCache(streaming.length());
                adopted.add(c);
                return c;
            }
        };
    }

    KvTiers tiers(long deviceBudget) {
        return new KvTiers(deviceBudget, 1L << 30, Duration.ofMinutes(10), spill,
                new KvTiers.KvShape(HEAD_DIM, 4, 1024));
    }

    @Test
    void parkingToHostShouldCopyThenRelease() {
        try (KvTiers t = tiers(1500)) { // room for one
            RecordingCache a = new RecordingCache(5);
            RecordingCache b = new RecordingCache(5);
            t.checkin(newKey(), a);
            t.checkin(newKey(), b);
            assertThat(a.copies).isEqualTo(1);
            assertThat(a.closes).isEqualTo(1);
            assertThat(b.closes).isZero();
        }
    }

    @Test
    void comingBackFromHostShouldGoThroughTheBackend() {
        try (KvTiers t = tiers(1L << 30)) {
            SessionKey id = newKey();
            RecordingCache a = new RecordingCache(5);
            t.checkin(id, a);
            t.evictIdle(Instant.now().plus(Duration.ofMinutes(11)));
            assertThat(a.closes).isEqualTo(1);
            KvTiers.Checkout c = t.checkout(id, 5, LAYOUT, rebuild(5));
            assertThat(c.source()).isEqualTo(KvTiers.Source.HOST);
            assertThat(c.kv()).isSameAs(adopted.getFirst());
            assertThat(c.kv().length()).isEqualTo(5);
        }
    }

    @Test
    void checkedOutCachesShouldNotBeReleasedAndDroppedOnesShould() {
        try (KvTiers t = tiers(1L << 30)) {
            SessionKey id = newKey();
            RecordingCache a = new RecordingCache(5);
            t.checkin(id, a);
            KvTiers.Checkout c = t.checkout(id, 5, LAYOUT, rebuild(5));
            assertThat(c.kv()).isSameAs(a);
            t.drop(id); // not held by the tiers while checked out
            assertThat(a.closes).isZero();
            t.checkin(id, a);
            t.drop(id);
            assertThat(a.closes).isEqualTo(1);
        }
    }

    @Test
    void staleCachesAndShutdownShouldRelease() {
        RecordingCache kept = new RecordingCache(3);
        RecordingCache stale = new RecordingCache(4);
        try (KvTiers t = tiers(1L << 30)) {
            SessionKey id = newKey();
            t.checkin(id, stale);
            // the session has 6 tokens now (say another instance wrote): the resident one is stale
            KvTiers.Checkout c = t.checkout(id, 6, LAYOUT, rebuild(6));
            assertThat(c.source()).isEqualTo(KvTiers.Source.RECOMPUTED);
            assertThat(stale.closes).isEqualTo(1);
            t.checkin(newKey(), kept);
        }
        assertThat(kept.closes).isEqualTo(1);
    }
}
