package io.headroom.sessions.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.KvCache;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tier movement, budgets, idle eviction and the fallbacks to recomputation, on the shipped model. */
class KvTiersTests {

    /** A session of one user (the tiers key every session by owner and id). */
    static SessionKey newKey() {
        return new SessionKey("user-a", UUID.randomUUID());
    }

    static LoadedModel model;
    static DuoLayout layout;
    static int[] tokens;

    @TempDir
    Path spill;

    @BeforeAll
    static void load() {
        Path dir = Path.of("..", "src", "models", "passkey", "model").toAbsolutePath().normalize();
        model = LoadedModel.load(dir, new EngineOptions("cpu", 2, 64, 16));
        layout = DuoLayout.streamingOnly(4, 4, 8, 32);
        tokens = model.tokenizer().encode("lindor muzo a pawimu wipako. the secret code of blue is 48213. "
                .repeat(6), true);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    SequenceKv filled() {
        return filled(layout);
    }

    static SequenceKv filled(DuoLayout l) {
        SequenceKv kv = model.cpuModel().newCache(l, 16);
        Generator.prefill(model.cpuModel(), kv, tokens, 64);
        return kv;
    }

    /** Both parts of a host cache's state, as bytes to compare. */
    static byte[][] state(KvCache kv) {
        return new byte[][] {KvStateCodec.export(kv.toHost(), KvStateCodec.Part.RETRIEVAL),
                KvStateCodec.export(kv.toHost(), KvStateCodec.Part.STREAMING)};
    }

    /** Counts recomputations and serves the streaming state the way the database would. */
    class Db implements KvTiers.Rebuild {
        final AtomicInteger recomputed = new AtomicInteger();
        final byte[] streaming;

        Db(SequenceKv committed) {
            streaming = KvStateCodec.export(committed, KvStateCodec.Part.STREAMING);
        }

        @Override
        public byte[] streamingState(int n) {
            return n == tokens.length ? streaming : null;
        }

        @Override
        public SequenceKv recompute() {
            recomputed.incrementAndGet();
            return filled();
        }

        @Override
        public KvCache adopt(SequenceKv streaming, RetrievalBlock retrieval) {
            return model.cpuModel().fromHost(streaming, retrieval);
        }
    }

    KvTiers tiers(long device, long host) {
        return new KvTiers(device, host, Duration.ofMinutes(10), spill, new KvTiers.KvShape(
                model.config().headDim(), 16, model.config().maxPositions()));
    }

    @Test
    void residentSessionShouldComeBackFromTheDevice() {
        try (KvTiers tiers = tiers(1L << 30, 1L << 30)) {
            SessionKey id = newKey();
            SequenceKv kv = filled();
            Db db = new Db(kv);
            tiers.checkin(id, kv);
            assertThat(tiers.tierOf(id)).isEqualTo(KvTiers.Tier.DEVICE);
            KvTiers.Checkout c = tiers.checkout(id, tokens.length, layout, db);
            assertThat(c.source()).isEqualTo(KvTiers.Source.DEVICE);
            assertThat(c.kv()).isSameAs(kv);
        }
    }

    @Test
    void budgetsShouldMoveTheLeastRecentlyUsedDownAndBackUpIntact() {
        SequenceKv a = filled();
        long one = a.memory().totalBytes();
        try (KvTiers tiers = tiers(one, 1)) { // room for one session on the device, none in host memory
            SessionKey first = newKey();
            SessionKey second = newKey();
            Db db = new Db(a);
            byte[] expected = KvStateCodec.export(a, KvStateCodec.Part.STREAMING);
            tiers.checkin(first, a);
            tiers.checkin(second, filled());
            assertThat(tiers.tierOf(second)).isEqualTo(KvTiers.Tier.DEVICE);
            assertThat(tiers.tierOf(first)).isEqualTo(KvTiers.Tier.DISK);
            assertThat(tiers.bytes(first).get(KvTiers.Tier.DISK)).isPositive();

            KvTiers.Checkout back = tiers.checkout(first, tokens.length, layout, db);
            assertThat(back.source()).isEqualTo(KvTiers.Source.DISK);
            assertThat(db.recomputed).hasValue(0);
            assertThat(KvStateCodec.export(back.kv().toHost(), KvStateCodec.Part.STREAMING)).isEqualTo(expected);
            assertThat(tiers.tierOf(first)).isNull(); // checked out: the tiers no longer hold it
        }
    }

    /**
     * A layout with retrieval and streaming heads in every layer: the state that comes back from host
     * memory and from disk is the state that went down, bit for bit, and continues the same.
     */
    @Test
    void retrievalAndStreamingHeadsShouldComeBackBitExactFromHostAndDisk() {
        boolean[][] retrieval = new boolean[4][4];
        for (int l = 0; l < 4; l++) {
            for (int h = 0; h < 4; h++) {
                retrieval[l][h] = (l + h) % 2 == 0;
            }
        }
        DuoLayout mixed = new DuoLayout(retrieval, 8, 32);
        int next = model.tokenizer().encode(" yes", false)[0];
        for (KvTiers.Source via : new KvTiers.Source[] {KvTiers.Source.HOST, KvTiers.Source.DISK}) {
            try (KvTiers tiers = tiers(1, via == KvTiers.Source.HOST ? 1L << 30 : 1)) {
                SessionKey id = newKey();
                SequenceKv kv = filled(mixed);
                byte[][] expected = state(kv);
                Db db = new Db(kv);
                tiers.checkin(id, kv);
                tiers.checkin(newKey(), filled(mixed)); // over the device budget: the first moves down
                assertThat(tiers.tierOf(id)).isEqualTo(via == KvTiers.Source.HOST ? KvTiers.Tier.HOST
                        : KvTiers.Tier.DISK);
                KvTiers.Checkout back = tiers.checkout(id, tokens.length, mixed, db);
                assertThat(back.source()).isEqualTo(via);
                assertThat(db.recomputed).hasValue(0);
                assertThat(state(back.kv())).isDeepEqualTo(expected);
                // the same state continues the same (kv, a host cache, is still readable after the move)
                float[] restored = model.cpuModel().forward(new int[] {next}, back.kv(), new int[] {0})[0];
                float[] original = model.cpuModel().forward(new int[] {next}, kv, new int[] {0})[0];
                assertThat(restored).containsExactly(original, org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
    }

    @Test
    void idleSessionsShouldMoveToHostAndComeBackFromThere() {
        try (KvTiers tiers = new KvTiers(1L << 30, 1L << 30, Duration.ofSeconds(1), spill, new KvTiers.KvShape(
                model.config().headDim(), 16, model.config().maxPositions()))) {
            SessionKey id = newKey();
            SequenceKv kv = filled();
            Db db = new Db(kv);
            tiers.checkin(id, kv);
            tiers.evictIdle(Instant.now().plusMillis(1500)); // idle > 1 timeout: host; > 2 timeouts: disk
            assertThat(tiers.tierOf(id)).isEqualTo(KvTiers.Tier.HOST);
            assertThat(tiers.bytes(id).get(KvTiers.Tier.HOST)).isPositive();
            assertThat(tiers.checkout(id, tokens.length, layout, db).source()).isEqualTo(KvTiers.Source.HOST);
        }
    }

    @Test
    void corruptOrStaleSpillFilesShouldBeRecomputedAndRemoved() throws Exception {
        try (KvTiers tiers = tiers(1, 1)) {
            SessionKey corrupt = newKey();
            SessionKey stale = newKey();
            SequenceKv kv = filled();
            Db db = new Db(kv);
            tiers.checkin(corrupt, kv);
            tiers.checkin(stale, filled());
            Path file = tiers.spillFile(corrupt);
            byte[] bytes = Files.readAllBytes(file);
            bytes[bytes.length / 3] ^= 1;
            Files.write(file, bytes);

            assertThat(tiers.checkout(corrupt, tokens.length, layout, db).source())
                    .isEqualTo(KvTiers.Source.RECOMPUTED);
            assertThat(file).doesNotExist();
            // the database says the session has grown since the file was written
            assertThat(tiers.checkout(stale, tokens.length + 5, layout, db).source())
                    .isEqualTo(KvTiers.Source.RECOMPUTED);
            assertThat(db.recomputed).hasValue(2);
        }
    }

    @Test
    void anotherUsersKeyForTheSameSessionIdShouldReachNoTierOfTheOwners() {
        UUID shared = UUID.randomUUID();
        SessionKey owner = new SessionKey("user-a", shared);
        SessionKey forged = new SessionKey("user-b", shared);
        try (KvTiers tiers = tiers(1L << 30, 1L << 30)) {
            SequenceKv kv = filled();
            Db db = new Db(kv);
            tiers.checkin(owner, kv);
            assertThat(tiers.bytes(forged).values()).containsOnly(0L);
            KvTiers.Checkout c = tiers.checkout(forged, tokens.length, layout, db);
            assertThat(c.source()).isEqualTo(KvTiers.Source.RECOMPUTED);
            assertThat(c.kv()).isNotSameAs(kv);
            c.kv().close();
            assertThat(tiers.checkout(owner, tokens.length, layout, db).source()).isEqualTo(KvTiers.Source.DEVICE);
        }
        try (KvTiers tiers = tiers(1, 1)) { // every checkin spills to disk
            SequenceKv kv = filled();
            Db db = new Db(kv);
            tiers.checkin(owner, kv);
            assertThat(tiers.spillFile(owner)).exists();
            assertThat(tiers.spillFile(forged)).doesNotExist().isNotEqualTo(tiers.spillFile(owner));
            KvTiers.Checkout c = tiers.checkout(forged, tokens.length, layout, db);
            assertThat(c.source()).isEqualTo(KvTiers.Source.RECOMPUTED);
            c.kv().close();
            KvTiers.Checkout mine = tiers.checkout(owner, tokens.length, layout, db);
            assertThat(mine.source()).isEqualTo(KvTiers.Source.DISK);
            mine.kv().close();
        }
    }

    @Test
    void spillFilesShouldBeTheServicesAloneAndTornOnesRemovedAtStart() throws Exception {
        Path torn = spill.resolve(UUID.randomUUID() + ".kv.tmp");
        Files.write(torn, new byte[] {1, 2, 3});
        Path unkeyed = spill.resolve(UUID.randomUUID() + ".kv");
        Files.write(unkeyed, new byte[] {1, 2, 3});
        Files.setPosixFilePermissions(spill, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        try (KvTiers tiers = tiers(1, 1)) {
            assertThat(torn).as("a spill a crash cut off").doesNotExist();
            assertThat(unkeyed).as("a spill named by the session id alone").doesNotExist();
            assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(spill)))
                    .isEqualTo("rwx------");
            SessionKey id = newKey();
            tiers.checkin(id, filled());
            Path file = tiers.spillFile(id);
            assertThat(file).exists();
            assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                    .isEqualTo("rw-------");
        }
    }

    /**
     * A checkout that recomputes (here: held on a latch) does not hold the tiers' lock: the metrics,
     * another session's checkin and checkout, and questions about any session go on meanwhile. Each is
     * given 30 s, so a regression fails instead of hanging.
     */
    @Test
    void aLongRecomputationShouldNotHoldUpMetricsOrOtherSessions() throws Exception {
        try (KvTiers tiers = tiers(1L << 30, 1L << 30)) {
            SessionKey slow = newKey();
            SessionKey other = newKey();
            SequenceKv committed = filled();
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Db db = new Db(committed) {
                @Override
                public SequenceKv recompute() {
                    inside.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return super.recompute();
                }
            };
            ExecutorService worker = Executors.newSingleThreadExecutor();
            try {
                Future<KvTiers.Checkout> pending = worker.submit(() -> tiers.checkout(slow, tokens.length, layout,
                        db));
                assertThat(inside.await(30, TimeUnit.SECONDS)).isTrue();
                CompletableFuture<Void> meanwhile = CompletableFuture.runAsync(() -> {
                    tiers.checkin(other, committed);
                    assertThat(tiers.counts()).containsExactly(1, 0);
                    assertThat(tiers.totals().get(KvTiers.Tier.DEVICE)).isEqualTo(committed.bytes());
                    assertThat(tiers.tierOf(slow)).isNull();
                    assertThat(tiers.checkout(other, tokens.length, layout, new Db(committed)).source())
                            .isEqualTo(KvTiers.Source.DEVICE);
                    assertThat(tiers.counts()).containsExactly(0, 0);
                });
                meanwhile.get(30, TimeUnit.SECONDS);
                release.countDown();
                assertThat(pending.get(30, TimeUnit.SECONDS).source()).isEqualTo(KvTiers.Source.RECOMPUTED);
                assertThat(tiers.checkouts(KvTiers.Source.RECOMPUTED)).isEqualTo(1);
            } finally {
                release.countDown();
                worker.shutdownNow();
            }
        }
    }

    @Test
    void dropShouldForgetTheSessionInEveryTier() {
        try (KvTiers tiers = tiers(1, 1)) {
            SessionKey id = newKey();
            tiers.checkin(id, filled());
            assertThat(tiers.spillFile(id)).exists();
            tiers.drop(id);
            assertThat(tiers.tierOf(id)).isNull();
            assertThat(tiers.spillFile(id)).doesNotExist();
            assertThat(Arrays.stream(KvTiers.Tier.values()).mapToLong(t -> tiers.bytes(id).get(t)).sum()).isZero();
        }
    }
}
