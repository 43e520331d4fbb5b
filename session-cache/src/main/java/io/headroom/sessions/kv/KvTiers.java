package io.headroom.sessions.kv;

import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.sessions.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each session's KV lives between turns, by tier:
 * <ul>
 *   <li>{@link Tier#DEVICE}: the engine's own cache object (in GPU memory for the CUDA backend),
 *       ready for the next turn;</li>
 *   <li>{@link Tier#HOST}: the retrieval heads' {@link RetrievalBlock} in off-heap memory (the
 *       backend's element type, no size limit) plus the streaming block;</li>
 *   <li>{@link Tier#DISK}: the retrieval block in a checksummed spill file, read back through a
 *       memory mapping (the streaming block is in PostgreSQL).</li>
 * </ul>
 * Sessions move down when a tier's byte budget is exceeded (least recently used first) or when
 * idle: to host after one idle timeout, to disk after two; they move back up on their next turn. Nothing here is
 * durable: a missing, stale or corrupt spill file means the caller recomputes the KV from the
 * session's stored tokens. Thread-safe; the engine worker is its main user. A checkout takes the
 * session out of the tiers under the lock and then imports, reads or recomputes without it, so a
 * long recomputation does not hold up other sessions; the metrics ({@link #totals}, {@link #counts})
 * read a snapshot published after every change and never wait for the lock. A session whose KV
 * cannot be moved down (host memory exhausted, a failed device copy, a full disk) loses it and is
 * recomputed on its next turn; the turn that triggered the move is not failed by it.
 */
public final class KvTiers implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KvTiers.class);
    /** A spill file named by the session id alone (the format before {@link SessionKey}). */
    private static final java.util.regex.Pattern UNKEYED_SPILL = java.util.regex.Pattern.compile(
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.kv");

    /** Storage tiers, fastest first. */
    public enum Tier { DEVICE, HOST, DISK }

    /** How a checked-out cache was obtained. */
    public enum Source { DEVICE, HOST, DISK, RECOMPUTED, EMPTY, CORPUS }

    /** What the caller knows that tiers do not: the durable streaming state and how to rebuild. */
    public interface Rebuild {
        /** The streaming block stored with the session for {@code tokens} tokens, or null. */
        byte[] streamingState(int tokens);

        /** The cache recomputed by prefilling the session's stored tokens. */
        KvCache recompute();

        /**
         * The cache rebuilt when no tier holds it, and how: by default {@link #recompute}. A session
         * started from a corpus starts from the corpus's snapshot ({@link Source#CORPUS}) instead.
         */
        default Checkout rebuild(int tokens) {
            return new Checkout(recompute(), tokens == 0 ? Source.EMPTY : Source.RECOMPUTED);
        }

        /**
         * The engine's cache holding {@code streaming}'s streaming state and length and
         * {@code retrieval}'s retrieval heads (read while the call runs; the tiers release it after).
         */
        KvCache adopt(SequenceKv streaming, RetrievalBlock retrieval);
    }

    /** A checked-out cache and where it came from; the caller checks it in or closes it. */
    public record Checkout(KvCache kv, Source source) {
    }

    /** Shape a cache needs to be imported. */
    public record KvShape(int headDim, int pageTokens, int maxPositions) {
    }

    private record Resident(KvCache kv, long bytes, Instant lastUsed) {
    }

    private record Parked(Arena arena, RetrievalBlock retrieval, byte[] streaming, DuoLayout layout, int tokens,
            Instant lastUsed) {
        long bytes() {
            return retrieval.segment().byteSize() + streaming.length;
        }
    }

    private final long deviceBudget;
    private final long hostBudget;
    private final Duration idleTimeout;
    private final Path spillDirectory;
    private final KvShape shape;
    private final LinkedHashMap<SessionKey, Resident> device = new LinkedHashMap<>(16, 0.75f, true);
    private final LinkedHashMap<SessionKey, Parked> host = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<Source, AtomicLong> checkouts = new EnumMap<>(Source.class);
    /** The memory tiers' bytes and sessions as of the last change (published under the lock). */
    private volatile Snapshot snapshot = new Snapshot(0, 0, 0, 0);

    private record Snapshot(long deviceBytes, long hostBytes, int deviceSessions, int hostSessions) {
    }

    public KvTiers(long deviceBudget, long hostBudget, Duration idleTimeout, Path spillDirectory, KvShape shape) {
        this.deviceBudget = deviceBudget;
        this.hostBudget = hostBudget;
        this.idleTimeout = idleTimeout;
        this.spillDirectory = spillDirectory;
        this.shape = shape;
        for (Source s : Source.values()) {
            checkouts.put(s, new AtomicLong());
        }
        try {
            prepareSpillDirectory(spillDirectory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the KV spill directory " + spillDirectory, e);
        }
    }

    /**
     * Spill files hold users' conversations as KV: the directory is the service's alone (0700, files
     * 0600, where the file system has POSIX permissions). A {@code .tmp} file is a spill a crash cut
     * off (the finished ones are renamed into place); it is deleted here, as is a spill named by the
     * session id alone (written before spills were keyed by owner too, see {@link SessionKey}): no
     * key names it any more.
     */
    static void prepareSpillDirectory(Path dir) throws IOException {
        PrivateFiles.directory(dir);
        try (var files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (name.endsWith(".kv.tmp")) {
                    LOG.info("removing {}: a spill cut off by an earlier crash", f);
                    Files.deleteIfExists(f);
                } else if (UNKEYED_SPILL.matcher(name).matches()) {
                    LOG.info("removing {}: a spill from before spills were keyed by owner", f);
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    /**
     * Takes the session's cache out of the tiers for a turn: from the fastest tier that holds it for
     * exactly {@code tokens} tokens, else rebuilt. Until {@link #checkin} the tiers do not hold it.
     */
    public Checkout checkout(SessionKey id, int tokens, DuoLayout layout, Rebuild rebuild) {
        Resident r;
        Parked p;
        synchronized (this) { // the session leaves the tiers; what follows is the caller's alone
            r = device.remove(id);
            p = r != null && r.kv.length() == tokens && r.kv.layout().equals(layout) ? null : host.remove(id);
            publish();
        }
        Checkout c = find(id, tokens, layout, rebuild, r, p);
        checkouts.get(c.source()).incrementAndGet();
        return c;
    }

    private Checkout find(SessionKey id, int tokens, DuoLayout layout, Rebuild rebuild, Resident r, Parked p) {
        if (r != null) {
            if (r.kv.length() == tokens && r.kv.layout().equals(layout)) {
                return new Checkout(r.kv, Source.DEVICE);
            }
            r.kv.close();
        }
        if (p != null) {
            try {
                if (p.tokens == tokens && p.layout.equals(layout)) {
                    return new Checkout(rebuild.adopt(streaming(p.streaming, layout), p.retrieval), Source.HOST);
                }
            } finally {
                p.arena.close();
            }
        }
        Path file = spillFile(id);
        if (Files.isRegularFile(file)) {
            try {
                byte[] streaming = rebuild.streamingState(tokens);
                if (streaming != null) {
                    SequenceKv kv = streaming(streaming, layout);
                    KvCache adopted = KvFiles.read(file, layout, shape.headDim(), block ->
                            block.tokens() == tokens && kv.length() == tokens ? rebuild.adopt(kv, block) : null);
                    if (adopted != null) {
                        return new Checkout(adopted, Source.DISK);
                    }
                }
            } catch (IOException | IllegalArgumentException e) {
                // stale, corrupt or unreadable: recomputed below
            } finally {
                deleteQuietly(file);
            }
        }
        return rebuild.rebuild(tokens);
    }

    /** Returns a session's cache after a turn; then budgets are enforced. */
    public synchronized void checkin(SessionKey id, KvCache kv) {
        Resident old = device.put(id, new Resident(kv, kv.bytes(), Instant.now()));
        if (old != null && old.kv != kv) {
            old.kv.close();
        }
        try {
            enforceBudgets();
        } finally {
            publish();
        }
    }

    /** Moves sessions idle longer than the idle timeout from device to host (and host to disk). */
    public synchronized void evictIdle(Instant now) {
        Instant limit = now.minus(idleTimeout);
        for (SessionKey id : new ArrayList<>(device.keySet())) {
            Resident r = device.get(id);
            if (r.lastUsed.isBefore(limit)) {
                park(id, device.remove(id));
            }
        }
        for (SessionKey id : new ArrayList<>(host.keySet())) {
            Parked p = host.get(id);
            if (p.lastUsed.isBefore(limit.minus(idleTimeout))) {
                spill(id, host.remove(id));
            }
        }
        try {
            enforceBudgets();
        } finally {
            publish();
        }
    }

    /** Forgets a session in every tier (its spill file too). */
    public synchronized void drop(SessionKey id) {
        Resident r = device.remove(id);
        if (r != null) {
            r.kv.close();
        }
        Parked p = host.remove(id);
        if (p != null) {
            p.arena.close();
        }
        publish();
        deleteQuietly(spillFile(id));
    }

    /** Bytes this session holds per tier. */
    public synchronized Map<Tier, Long> bytes(SessionKey id) {
        Map<Tier, Long> out = new EnumMap<>(Tier.class);
        Resident r = device.get(id);
        Parked p = host.get(id);
        Path f = spillFile(id);
        out.put(Tier.DEVICE, r == null ? 0L : r.bytes);
        out.put(Tier.HOST, p == null ? 0L : p.bytes());
        long disk = 0;
        try {
            disk = Files.isRegularFile(f) ? Files.size(f) : 0;
        } catch (IOException e) {
            disk = 0;
        }
        out.put(Tier.DISK, disk);
        return out;
    }

    /** The fastest tier holding the session, or null when none does. */
    public synchronized Tier tierOf(SessionKey id) {
        if (device.containsKey(id)) {
            return Tier.DEVICE;
        }
        if (host.containsKey(id)) {
            return Tier.HOST;
        }
        return Files.isRegularFile(spillFile(id)) ? Tier.DISK : null;
    }

    /** Total bytes per tier, for metrics: the memory tiers as of the last change, the spill files now. */
    public Map<Tier, Long> totals() {
        Snapshot now = snapshot;
        Map<Tier, Long> out = new EnumMap<>(Tier.class);
        out.put(Tier.DEVICE, now.deviceBytes());
        out.put(Tier.HOST, now.hostBytes());
        long disk = 0;
        try (var files = Files.list(spillDirectory)) {
            disk = files.filter(f -> f.toString().endsWith(".kv")).mapToLong(f -> f.toFile().length()).sum();
        } catch (IOException e) {
            disk = 0;
        }
        out.put(Tier.DISK, disk);
        return out;
    }

    /** How often each source served a checkout. */
    public long checkouts(Source source) {
        return checkouts.get(source).get();
    }

    private void enforceBudgets() {
        Iterator<Map.Entry<SessionKey, Resident>> d = device.entrySet().iterator();
        while (deviceBytes() > deviceBudget && d.hasNext()) { // LRU first (access order)
            Map.Entry<SessionKey, Resident> e = d.next();
            d.remove();
            park(e.getKey(), e.getValue());
        }
        Iterator<Map.Entry<SessionKey, Parked>> h = host.entrySet().iterator();
        while (hostBytes() > hostBudget && h.hasNext()) {
            Map.Entry<SessionKey, Parked> e = h.next();
            h.remove();
            spill(e.getKey(), e.getValue());
        }
    }

    /** Publishes the memory tiers' totals for the lock-free readers (called under the lock). */
    private void publish() {
        snapshot = new Snapshot(deviceBytes(), hostBytes(), device.size(), host.size());
    }

    private long deviceBytes() {
        return device.values().stream().mapToLong(Resident::bytes).sum();
    }

    private long hostBytes() {
        return host.values().stream().mapToLong(Parked::bytes).sum();
    }

    /**
     * Moves a device session's KV to host memory: its retrieval block off-heap, its streaming block
     * as bytes. The device memory is freed whatever happens; when the move fails (host memory
     * exhausted, a failed copy) the session holds no KV and recomputes on its next turn.
     */
    private void park(SessionKey id, Resident r) {
        Arena arena = Arena.ofShared();
        try {
            RetrievalBlock retrieval = r.kv.exportRetrieval(arena);
            byte[] streaming = r.kv.exportStreaming();
            host.put(id, new Parked(arena, retrieval, streaming, r.kv.layout(), r.kv.length(), r.lastUsed));
        } catch (RuntimeException | OutOfMemoryError e) { // OutOfMemoryError: the arena found no native memory
            arena.close();
            LOG.warn("session {}: its KV could not be moved to host memory ({}); it is recomputed on its next turn",
                    id, e.toString());
        } finally {
            r.kv.close();
        }
    }

    /** A cache holding a streaming block's state, for {@link Rebuild#adopt}. */
    private SequenceKv streaming(byte[] block, DuoLayout layout) {
        return KvStateCodec.importStreaming(block, layout, shape.headDim(), shape.pageTokens(), shape.maxPositions());
    }

    private void spill(SessionKey id, Parked p) {
        Path file = spillFile(id);
        try {
            KvFiles.write(p.retrieval, file);
        } catch (IOException e) { // the session recomputes on its next turn; nothing durable is lost
            LOG.warn("session {}: its KV could not be spilled to {} ({}); it is recomputed on its next turn", id,
                    file, e.toString());
        } finally {
            p.arena.close();
        }
    }

    Path spillFile(SessionKey id) {
        return spillDirectory.resolve(id.fileName());
    }

    private static void deleteQuietly(Path f) {
        try {
            Files.deleteIfExists(f);
        } catch (IOException e) {
            // a leftover file is re-validated (checksum, token count) before any use
        }
    }

    /** Sessions held in the memory tiers (device and host) as of the last change, for metrics. */
    public List<Integer> counts() {
        Snapshot now = snapshot;
        return List.of(now.deviceSessions(), now.hostSessions());
    }

    @Override
    public synchronized void close() {
        host.values().forEach(p -> p.arena.close());
        host.clear();
        device.values().forEach(r -> r.kv.close());
        device.clear();
        publish();
    }
}
