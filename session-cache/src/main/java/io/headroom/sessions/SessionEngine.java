package io.headroom.sessions;

import io.headroom.engine.KvCache;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.FinishReason;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.SamplingParams;
import io.headroom.engine.generate.TokenListener;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.engine.tokenizer.ChatMessage;
import io.headroom.sessions.corpus.CorpusSnapshots;
import io.headroom.sessions.kv.KvFiles;
import io.headroom.sessions.kv.KvTiers;
import io.headroom.sessions.kv.SessionKey;
import io.headroom.sessions.store.SessionNotFoundException;
import io.headroom.sessions.store.SessionRecord;
import io.headroom.sessions.store.SessionStore;
import io.headroom.sessions.store.StreamingStateRecord;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One call per operation for the service and batch jobs: acquire a session's KV (paging it in from
 * host or disk, or recomputing it from PostgreSQL), run the engine, persist what the turn added,
 * and hand the KV back to the tiers. Engine work runs on the {@link EngineQueue}'s worker, so it
 * never blocks an event loop; database work happens in short transactions before and after, never
 * across a stream.
 *
 * <p>What each operation adds as tokens is {@link SessionPrompts}' job.
 */
public final class SessionEngine implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SessionEngine.class);

    /** Token accounting of one operation. */
    public record Usage(int promptTokens, int contextTokens, int completionTokens) {
    }

    /** Where the time went, in nanoseconds. */
    public record Timing(long queueNanos, long prefillNanos, long decodeNanos, KvTiers.Source kvSource) {
    }

    /** The outcome of a turn or a stateless completion. */
    public record TurnResult(String text, int[] tokens, FinishReason finishReason, Usage usage, Timing timing) {
    }

    /** The outcome of appending a document. */
    public record AppendResult(int documentTokens, int sessionTokens, Timing timing) {
    }

    /** Sampling and limits of one generation. */
    public record GenerationOptions(int maxTokens, SamplingParams sampling, List<String> stop) {
    }

    /** A session with its KV placement. */
    public record SessionInfo(SessionRecord record, Map<KvTiers.Tier, Long> kvBytes, String state) {
    }

    private final LoadedModel model;
    private final AttentionPattern pattern;
    private final KvTiers tiers;
    private final SessionStore store;
    private final EngineQueue queue;
    private final String modelName;
    private final SessionPrompts prompts;
    /** Corpus snapshots that sessions may start from (none: corpus sessions are not offered). */
    private final CorpusSnapshots snapshots;
    /** Quotas: asked before work is queued, told what it consumed. */
    private volatile Admission admission = Admission.UNLIMITED;
    /** Sessions running an operation now (one at a time per session). */
    private final Set<UUID> busy = ConcurrentHashMap.newKeySet();
    /** Database work that follows engine work, in submission order (partial saves before their commit). */
    private final ExecutorService persistence = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "headroom-persist");
        t.setDaemon(true);
        return t;
    });

    public SessionEngine(LoadedModel model, String modelName, AttentionPattern pattern, KvTiers tiers,
            SessionStore store, EngineQueue queue) {
        this(model, modelName, pattern, tiers, store, queue, null);
    }

    public SessionEngine(LoadedModel model, String modelName, AttentionPattern pattern, KvTiers tiers,
            SessionStore store, EngineQueue queue, CorpusSnapshots snapshots) {
        this.snapshots = snapshots;
        this.model = model;
        this.prompts = new SessionPrompts(model);
        this.modelName = modelName;
        this.pattern = pattern;
        this.tiers = tiers;
        this.store = store;
        this.queue = queue;
        if (pattern != null) {
            pattern.checkFits(model.config().numLayers(), model.config().numKvHeads());
        }
    }

    public String modelName() {
        return modelName;
    }

    /** Puts operations under {@code admission} (the service's quotas); unlimited until set. */
    public void setAdmission(Admission admission) {
        this.admission = admission;
    }

    public LoadedModel model() {
        return model;
    }

    public EngineQueue queue() {
        return queue;
    }

    public KvTiers tiers() {
        return tiers;
    }

    /** Whether sessions may ask for DuoAttention (a pattern is loaded). */
    public boolean hasPattern() {
        return pattern != null;
    }

    /** Creates a session (no engine work: its KV is built on first use). */
    public SessionRecord create(String owner, Double sparsity, String systemPrompt) {
        if (sparsity != null) {
            if (pattern == null) {
                throw new IllegalArgumentException("this deployment has no DuoAttention pattern; omit sparsity");
            }
            if (!(sparsity >= 0 && sparsity <= 1)) {
                throw new IllegalArgumentException("sparsity must be in [0, 1], got " + sparsity);
            }
        }
        int[] systemTokens = null;
        if (systemPrompt != null) {
            systemTokens = prompts.system(systemPrompt, false, 0);
            checkContext(systemTokens.length, 0);
        }
        if (systemTokens != null) {
            admission.admit(owner, systemTokens.length, 0);
        }
        return store.create(owner, modelName, sparsity, systemPrompt, systemTokens, admission.maxSessions(owner));
    }

    /**
     * Creates a session that starts from a corpus snapshot: its first tokens are the corpus, already
     * prefilled, so its first turn costs the snapshot's upload and the question. A system prompt
     * follows the corpus. {@code sparsity}, when given, must be the snapshot's.
     */
    public SessionRecord createFromCorpus(String owner, CorpusSnapshots.Snapshot snapshot, Double sparsity,
            String systemPrompt) {
        if (!snapshot.ready() || !snapshot.owner().equals(owner)) {
            throw new IllegalArgumentException("corpus snapshot " + snapshot.id() + " is not ready");
        }
        if (!snapshot.model().equals(modelName)) {
            throw new IllegalArgumentException("the corpus was prefilled for model " + snapshot.model()
                    + ", this deployment serves " + modelName + ": ingest it again");
        }
        if (sparsity != null && !sparsity.equals(snapshot.sparsity())) {
            throw new IllegalArgumentException("the corpus was prefilled " + (snapshot.sparsity() == null
                    ? "with full attention" : "at sparsity " + snapshot.sparsity()) + "; omit sparsity or pass "
                    + "the same");
        }
        int[] systemTokens = null;
        if (systemPrompt != null) {
            systemTokens = prompts.system(systemPrompt, true, snapshot.tokenCount());
        }
        int added = systemTokens == null ? 0 : systemTokens.length;
        checkContext(added, snapshot.tokenCount());
        admission.admit(owner, snapshot.tokenCount() + added, added);
        return store.create(owner, modelName, snapshot.sparsity(), snapshot.id(), snapshot.tokenCount(), systemPrompt,
                systemTokens, admission.maxSessions(owner));
    }

    /** How operations turn into tokens (also what a corpus snapshot's documents are). */
    public SessionPrompts prompts() {
        return prompts;
    }

    /** The head layout of a session at {@code sparsity} (null: full attention). */
    public DuoLayout layout(Double sparsity) {
        var c = model.config();
        if (sparsity == null) {
            return DuoLayout.full(c.numLayers(), c.numKvHeads());
        }
        if (pattern == null) {
            throw new IllegalStateException("DuoAttention at sparsity " + sparsity + " needs a pattern; none is "
                    + "loaded");
        }
        int sink = pattern.sinkSize() != null ? pattern.sinkSize() : 64;
        int recent = pattern.recentSize() != null ? pattern.recentSize() : 256;
        return new DuoLayout(pattern.retrievalBySparsity(sparsity), sink, recent);
    }

    /**
     * The KV of a finished corpus snapshot, loaded from its spill file and its last streaming state;
     * when the file is missing, stale or corrupt, recomputed from the snapshot's tokens (the file is
     * a cache: PostgreSQL holds what it is made of). Runs on the engine thread.
     */
    private KvTiers.Checkout corpusKv(UUID snapshotId, int tokens, DuoLayout layout) {
        var file = snapshots.spillFile(snapshotId);
        try {
            Optional<byte[]> streaming = snapshots.streamingStateAt(snapshotId, tokens);
            if (streaming.isPresent() && java.nio.file.Files.isRegularFile(file)) {
                KvCache kv = KvFiles.load(file, streaming.get(), tokens, layout, model);
                if (kv != null) {
                    return new KvTiers.Checkout(kv, KvTiers.Source.CORPUS);
                }
            }
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("corpus snapshot {}: its KV file could not be used ({}); recomputing it from its tokens",
                    snapshotId, e.getMessage());
        }
        return new KvTiers.Checkout(prefilled(model.model().newCache(layout, model.options().kvPageTokens()),
                snapshots.tokens(snapshotId)), KvTiers.Source.RECOMPUTED);
    }

    /** {@code kv} with {@code tokens} prefilled into it; closed when the prefill fails. */
    private KvCache prefilled(KvCache kv, int[] tokens) {
        try {
            if (tokens.length > 0) {
                Generator.prefill(model.model(), kv, tokens, model.options().prefillChunk());
            }
            return kv;
        } catch (RuntimeException e) {
            kv.close();
            throw e;
        }
    }

    public SessionInfo info(String owner, UUID id) {
        SessionRecord r = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
        SessionKey key = new SessionKey(owner, id);
        KvTiers.Tier tier = tiers.tierOf(key);
        String state = tier == KvTiers.Tier.DEVICE ? "active" : tier == KvTiers.Tier.HOST ? "idle" : "cold";
        return new SessionInfo(r, tiers.bytes(key), state);
    }

    /** Deletes the session's rows and its KV in every tier. */
    public boolean delete(String owner, UUID id) {
        boolean deleted = store.delete(owner, id);
        if (deleted) {
            tiers.drop(new SessionKey(owner, id));
        }
        return deleted;
    }

    /** Prefills a document into the session's context and records it. */
    public CompletableFuture<AppendResult> appendDocument(String owner, UUID id, String name, String text) {
        store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id)); // another user's: no lock taken
        SessionKey key = new SessionKey(owner, id);
        return exclusive(id, () -> {
            // read under the session's lock: the operation before this one may have just committed
            SessionRecord s = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
            int start = s.getTokenCount();
            int[] tokens = prompts.document(history(s), name, text, start);
            checkContext(tokens.length, start);
            admission.admit(owner, tokens.length, tokens.length);
            long queued = System.nanoTime();
            CompletableFuture<Engined<Void>> engined = queue.submit(() -> {
                long t0 = System.nanoTime();
                KvTiers.Checkout c = checkout(s);
                KvCache kv = c.kv();
                byte[] streaming;
                try {
                    Generator.prefill(model.model(), kv, tokens, model.options().prefillChunk());
                    streaming = kv.exportStreaming();
                } catch (RuntimeException e) {
                    kv.close();
                    tiers.drop(key); // the KV may hold tokens the database does not: rebuild next time
                    throw e;
                }
                tiers.checkin(key, kv);
                return new Engined<Void>(null, streaming, c.source(), t0 - queued, System.nanoTime() - t0);
            });
            return engined.thenApplyAsync(e -> {
                persisted(key, () -> store.commitDocument(owner, id, start, name, text, tokens, e.streaming()));
                admission.consumed(owner, tokens.length);
                return new AppendResult(tokens.length, start + tokens.length, new Timing(e.queueNanos(),
                        e.engineNanos(), 0, e.source()));
            }, persistence);
        });
    }

    /**
     * A user message and the assistant's answer. Tokens stream to {@code listener} from the engine
     * thread; setting {@code cancelled} stops generation at the next token. However a turn ends, the
     * history shows one outcome: an answer cut short (the client went away, or the service died
     * mid-answer) is kept as generated (as last saved, after a crash) with finish reason
     * {@link FinishReason#CANCELLED}, and is part of the context of the next turn.
     *
     * <p>The engine thread does model work only: once the turn has its place in the queue it is
     * recorded as pending (while the engine starts on it), its partial answer is saved now and then,
     * and the commit runs after the engine has moved on, all on the persistence thread. A session
     * runs one operation at a time; a second is refused with {@link SessionBusyException}.
     */
    public CompletableFuture<TurnResult> turn(String owner, UUID id, String message, GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled) {
        store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id)); // another user's: no lock taken
        SessionKey key = new SessionKey(owner, id);
        return exclusive(id, () -> {
            // read under the session's lock: the operation before this one may have just committed
            SessionRecord s = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
            int start = s.getTokenCount();
            int[] prompt = prompts.turn(history(s), message, start);
            checkContext(prompt.length + options.maxTokens(), start);
            admission.admit(owner, prompt.length + options.maxTokens(), prompt.length);
            PartialAnswer partial = new PartialAnswer(store, persistence, id, start, listener);
            long queued = System.nanoTime();
            CompletableFuture<Engined<GenerationResult>> engined = queue.submit(() -> {
                long t0 = System.nanoTime();
                KvTiers.Checkout c = checkout(s);
                KvCache kv = c.kv();
                try {
                    GenerationResult r = generator(s).generate(request(prompt, options, partial, cancelled), kv);
                    int[] answer = r.tokens();
                    if (answer.length > 0) {
                        // the last sampled token is not in the KV yet: add it, so KV and stored tokens agree
                        model.model().forward(new int[] {answer[answer.length - 1]}, kv, new int[0]);
                    }
                    byte[] streaming = kv.exportStreaming();
                    tiers.checkin(key, kv);
                    return new Engined<>(r, streaming, c.source(), t0 - queued, System.nanoTime() - t0);
                } catch (RuntimeException e) {
                    kv.close();
                    tiers.drop(key);
                    throw e;
                }
            });
            // the turn has its place in the queue: record it as pending while the engine starts on it (the
            // persistence thread runs this before the turn's partial saves and its commit)
            CompletableFuture<Void> begun = CompletableFuture.runAsync(() -> store.beginTurn(owner, id, start, message,
                    prompt), persistence);
            return begun.thenCombine(engined, (b, e) -> e).whenCompleteAsync((e, failure) -> {
                if (failure != null) {
                    store.abandonTurn(id); // the client gets the error; there is no answer to keep
                    engined.whenComplete((x, y) -> tiers.drop(key)); // nor KV for what was not recorded
                }
            }, persistence).thenApplyAsync(e -> {
                GenerationResult r = e.value();
                persisted(key, () -> store.commitTurn(owner, id, start, message, prompt, r.text(), r.tokens(),
                        storedFinish(r.finishReason()), e.streaming()));
                admission.consumed(owner, prompt.length + r.tokens().length);
                return new TurnResult(r.text(), r.tokens(), r.finishReason(),
                        new Usage(prompt.length, start, r.tokens().length),
                        new Timing(e.queueNanos(), r.prefillNanos(), r.decodeNanos(), e.source()));
            }, persistence);
        });
    }

    /** How a finish reason is stored with the answer (and shown in the history). */
    public static String storedFinish(FinishReason r) {
        return switch (r) {
            case STOP_TOKEN, STOP_STRING -> "stop";
            case LENGTH, CONTEXT_LIMIT -> "length";
            case CANCELLED -> "cancelled";
        };
    }

    /** What an engine job hands to the persistence thread. */
    private record Engined<T>(T value, byte[] streaming, KvTiers.Source source, long queueNanos,
            long engineNanos) {
    }

    /** Runs a commit; when it fails, the KV (which holds what the database does not) is dropped. */
    private void persisted(SessionKey key, Runnable commit) {
        try {
            commit.run();
        } catch (RuntimeException e) {
            tiers.drop(key);
            throw e;
        }
    }

    /**
     * Runs {@code operation} as the session's only one: refused with {@link SessionBusyException}
     * while another runs, released when the future it returns completes (or it throws).
     */
    private <T> CompletableFuture<T> exclusive(UUID id, Supplier<CompletableFuture<T>> operation) {
        if (!busy.add(id)) {
            throw new SessionBusyException(id);
        }
        try {
            return operation.get().whenComplete((r, e) -> busy.remove(id));
        } catch (RuntimeException e) {
            busy.remove(id);
            throw e;
        }
    }

    /** A stateless completion of a whole conversation (OpenAI requests without a session). */
    public CompletableFuture<TurnResult> complete(String owner, List<ChatMessage> messages, GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled) {
        return complete(owner, messages, options, listener, cancelled, EngineQueue.Priority.INTERACTIVE);
    }

    /** A stateless completion in the given lane of the engine queue (batches run in the background one). */
    public CompletableFuture<TurnResult> complete(String owner, List<ChatMessage> messages, GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled, EngineQueue.Priority priority) {
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages must not be empty");
        }
        int[] prompt = prompts.completion(messages);
        checkContext(prompt.length + options.maxTokens(), 0);
        admission.admit(owner, 0, prompt.length);
        long queued = System.nanoTime();
        return queue.<TurnResult>submit(priority, () -> {
            long t0 = System.nanoTime();
            Generator g = model.generator();
            GenerationResult r = g.generate(request(prompt, options, listener, cancelled));
            return new TurnResult(r.text(), r.tokens(), r.finishReason(), new Usage(prompt.length, 0,
                    r.tokens().length), new Timing(t0 - queued, r.prefillNanos(), r.decodeNanos(),
                    KvTiers.Source.EMPTY));
        }).whenCompleteAsync((r, e) -> { // accounting is database work: not on the engine thread
            if (r != null) {
                admission.consumed(owner, r.usage().promptTokens() + r.usage().completionTokens());
            }
        }, persistence);
    }

    /**
     * A stateless completion over a corpus: the conversation follows the corpus snapshot's KV (a
     * private copy, dropped afterwards), so the corpus is not prefilled again.
     */
    public CompletableFuture<TurnResult> complete(String owner, CorpusSnapshots.Snapshot snapshot,
            List<ChatMessage> messages, GenerationOptions options, TokenListener listener, AtomicBoolean cancelled) {
        return complete(owner, snapshot, messages, options, listener, cancelled, EngineQueue.Priority.INTERACTIVE);
    }

    /** A completion over a corpus in the given lane of the engine queue (batches run in the background one). */
    public CompletableFuture<TurnResult> complete(String owner, CorpusSnapshots.Snapshot snapshot,
            List<ChatMessage> messages, GenerationOptions options, TokenListener listener, AtomicBoolean cancelled,
            EngineQueue.Priority priority) {
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages must not be empty");
        }
        if (!snapshot.ready() || !snapshot.owner().equals(owner) || !snapshot.model().equals(modelName)) {
            throw new IllegalArgumentException("the corpus has no snapshot ready for model " + modelName);
        }
        int corpus = snapshot.tokenCount();
        int[] prompt = prompts.completionAfterCorpus(messages);
        checkContext(prompt.length + options.maxTokens(), corpus);
        admission.admit(owner, 0, prompt.length);
        DuoLayout layout = layout(snapshot.sparsity());
        long queued = System.nanoTime();
        return queue.<TurnResult>submit(priority, () -> {
            long t0 = System.nanoTime();
            KvTiers.Checkout c = corpusKv(snapshot.id(), corpus, layout);
            try (KvCache kv = c.kv()) {
                long loaded = System.nanoTime() - t0;
                GenerationResult r = model.generator(layout).generate(request(prompt, options, listener, cancelled),
                        kv);
                return new TurnResult(r.text(), r.tokens(), r.finishReason(), new Usage(prompt.length, corpus,
                        r.tokens().length), new Timing(t0 - queued, loaded + r.prefillNanos(), r.decodeNanos(),
                        c.source()));
            }
        }).whenCompleteAsync((r, e) -> {
            if (r != null) {
                admission.consumed(owner, r.usage().promptTokens() + r.usage().completionTokens());
            }
        }, persistence);
    }

    /** Moves idle sessions down a tier; runs as an engine job so it never races a turn. */
    public void evictIdle() {
        try {
            queue.submit(() -> {
                tiers.evictIdle(java.time.Instant.now());
                return null;
            });
        } catch (EngineQueue.QueueFullException e) {
            // busy: the next sweep will do it
        }
    }

    private GenerationRequest request(int[] prompt, GenerationOptions o, TokenListener listener,
            AtomicBoolean cancelled) {
        Set<Integer> stops = new HashSet<>(model.config().eosTokenIds());
        return new GenerationRequest(prompt, o.maxTokens(), o.sampling(), stops, o.stop(), listener, cancelled);
    }

    private DuoLayout layout(SessionRecord s) {
        return layout(s.getSparsity());
    }

    private Generator generator(SessionRecord s) {
        return model.generator(layout(s));
    }

    private KvTiers.Checkout checkout(SessionRecord s) {
        DuoLayout layout = layout(s);
        UUID id = s.getId();
        return tiers.checkout(new SessionKey(s.getOwner(), id), s.getTokenCount(), layout, new KvTiers.Rebuild() {
            @Override
            public byte[] streamingState(int tokens) {
                Optional<StreamingStateRecord> r = store.streamingState(id);
                return r.filter(x -> x.getTokenCount() == tokens).map(StreamingStateRecord::getState).orElse(null);
            }

            @Override
            public KvCache recompute() {
                return rebuild(s.getTokenCount()).kv();
            }

            @Override
            public KvTiers.Checkout rebuild(int tokens) {
                // a corpus session starts from its snapshot; then its own segments are prefilled again
                KvTiers.Checkout start = s.getCorpusSnapshotId() == null
                        ? new KvTiers.Checkout(model.model().newCache(layout, model.options().kvPageTokens()),
                                tokens == 0 ? KvTiers.Source.EMPTY : KvTiers.Source.RECOMPUTED)
                        : corpusKv(s.getCorpusSnapshotId(), s.getCorpusTokens(), layout);
                int[] own = store.segments(id).stream().flatMapToInt(seg -> Arrays.stream(seg.tokens())).toArray();
                return new KvTiers.Checkout(prefilled(start.kv(), own), start.source());
            }

            @Override
            public KvCache adopt(SequenceKv streaming, RetrievalBlock retrieval) {
                return model.model().fromHost(streaming, retrieval);
            }
        });
    }

    /** The conversation the chat template renders the session's next message after. */
    private List<ChatMessage> history(SessionRecord s) {
        return prompts.history(s.getCorpusSnapshotId() != null, store.segments(s.getId()));
    }

    private void checkContext(int newTokens, int existing) {
        int limit = model.config().maxPositions();
        if (existing + newTokens > limit) {
            throw new ContextLimitException(existing, newTokens, limit);
        }
    }

    /** Finishes the database work already handed over (commits of turns the engine has done), then stops. */
    @Override
    public void close() {
        persistence.shutdown();
        try {
            if (!persistence.awaitTermination(30, TimeUnit.SECONDS)) {
                persistence.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
