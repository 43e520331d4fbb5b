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
import io.headroom.sessions.kv.KvTiers;
import io.headroom.sessions.store.SessionNotFoundException;
import io.headroom.sessions.store.SessionRecord;
import io.headroom.sessions.store.SessionStore;
import io.headroom.sessions.store.StreamingStateRecord;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One call per operation for the service and batch jobs: acquire a session's KV (paging it in from
 * host or disk, or recomputing it from PostgreSQL), run the engine, persist what the turn added,
 * and hand the KV back to the tiers. Engine work runs on the {@link EngineQueue}'s worker, so it
 * never blocks an event loop; database work happens in short transactions before and after, never
 * across a stream.
 *
 * <p>Prompt building: a model with a chat template gets each new message rendered by the template
 * (the difference between the conversation rendered with and without it, when the template renders
 * prefixes stably). A model without one is treated as a completion model: text is appended as is.
 */
public final class SessionEngine {

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

    public SessionEngine(LoadedModel model, String modelName, AttentionPattern pattern, KvTiers tiers,
            SessionStore store, EngineQueue queue) {
        this.model = model;
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

    public LoadedModel model() {
        return model;
    }

    public EngineQueue queue() {
        return queue;
    }

    public KvTiers tiers() {
        return tiers;
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
            systemTokens = chatTokens(List.of(), new ChatMessage("system", systemPrompt), false, 0);
            checkContext(systemTokens.length, 0);
        }
        return store.create(owner, modelName, sparsity, systemPrompt, systemTokens);
    }

    public SessionInfo info(String owner, UUID id) {
        SessionRecord r = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
        KvTiers.Tier tier = tiers.tierOf(id);
        String state = tier == KvTiers.Tier.DEVICE ? "active" : tier == KvTiers.Tier.HOST ? "idle" : "cold";
        return new SessionInfo(r, tiers.bytes(id), state);
    }

    /** Deletes the session's rows and its KV in every tier. */
    public boolean delete(String owner, UUID id) {
        boolean deleted = store.delete(owner, id);
        if (deleted) {
            tiers.drop(id);
        }
        return deleted;
    }

    /** Prefills a document into the session's context and records it. */
    public CompletableFuture<AppendResult> appendDocument(String owner, UUID id, String name, String text) {
        SessionRecord s = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
        int start = s.getTokenCount();
        int[] tokens = model.chatTemplate().isModelTemplate()
                ? chatTokens(history(id), new ChatMessage("user", documentText(name, text)), false, start)
                : model.tokenizer().encode(start > 0 ? "\n" + text : text, start == 0);
        checkContext(tokens.length, start);
        long queued = System.nanoTime();
        return queue.submit(() -> {
            long t0 = System.nanoTime();
            KvTiers.Checkout c = checkout(s);
            KvCache kv = c.kv();
            try {
                Generator.prefill(model.model(), kv, tokens, model.options().prefillChunk());
                store.commitDocument(owner, id, start, name, text, tokens,
                        kv.exportStreaming());
            } catch (RuntimeException e) {
                kv.close();
                tiers.drop(id); // the KV may hold tokens the database does not: rebuild next time
                throw e;
            }
            tiers.checkin(id, kv);
            long t1 = System.nanoTime();
            return new AppendResult(tokens.length, start + tokens.length, new Timing(t0 - queued, t1 - t0, 0,
                    c.source()));
        });
    }

    /**
     * A user message and the assistant's answer. Tokens stream to {@code listener} from the engine
     * thread; setting {@code cancelled} stops generation at the next token (the partial answer is
     * kept, as the user saw it).
     */
    public CompletableFuture<TurnResult> turn(String owner, UUID id, String message, GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled) {
        SessionRecord s = store.find(owner, id).orElseThrow(() -> new SessionNotFoundException(id));
        int start = s.getTokenCount();
        int[] prompt = model.chatTemplate().isModelTemplate()
                ? chatTokens(history(id), ChatMessage.user(message), true, start)
                : model.tokenizer().encode(start > 0 ? " " + message : message, start == 0);
        checkContext(prompt.length + options.maxTokens(), start);
        long queued = System.nanoTime();
        return queue.submit(() -> {
            long t0 = System.nanoTime();
            KvTiers.Checkout c = checkout(s);
            KvCache kv = c.kv();
            try {
                GenerationResult r = generator(s).generate(request(prompt, options, listener, cancelled), kv);
                int[] answer = r.tokens();
                if (answer.length > 0) {
                    // the last sampled token is not in the KV yet: add it, so KV and stored tokens agree
                    model.model().forward(new int[] {answer[answer.length - 1]}, kv, new int[0]);
                }
                store.commitTurn(owner, id, start, message, prompt, r.text(), answer,
                        kv.exportStreaming());
                tiers.checkin(id, kv);
                return new TurnResult(r.text(), answer, r.finishReason(),
                        new Usage(prompt.length, start, answer.length),
                        new Timing(t0 - queued, r.prefillNanos(), r.decodeNanos(), c.source()));
            } catch (RuntimeException e) {
                kv.close();
                tiers.drop(id);
                throw e;
            }
        });
    }

    /** A stateless completion of a whole conversation (OpenAI requests without a session). */
    public CompletableFuture<TurnResult> complete(List<ChatMessage> messages, GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled) {
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages must not be empty");
        }
        int[] prompt;
        if (model.chatTemplate().isModelTemplate()) {
            prompt = model.tokenizer().encode(model.chatTemplate().render(messages, true), false);
        } else {
            prompt = model.tokenizer().encode(String.join(" ", messages.stream().map(ChatMessage::content)
                    .toList()), true);
        }
        checkContext(prompt.length + options.maxTokens(), 0);
        long queued = System.nanoTime();
        return queue.submit(() -> {
            long t0 = System.nanoTime();
            Generator g = model.generator();
            GenerationResult r = g.generate(request(prompt, options, listener, cancelled));
            return new TurnResult(r.text(), r.tokens(), r.finishReason(), new Usage(prompt.length, 0,
                    r.tokens().length), new Timing(t0 - queued, r.prefillNanos(), r.decodeNanos(),
                    KvTiers.Source.EMPTY));
        });
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
        var c = model.config();
        if (s.getSparsity() == null) {
            return DuoLayout.full(c.numLayers(), c.numKvHeads());
        }
        if (pattern == null) {
            throw new IllegalStateException("session " + s.getId() + " uses DuoAttention but no pattern is loaded");
        }
        int sink = pattern.sinkSize() != null ? pattern.sinkSize() : 64;
        int recent = pattern.recentSize() != null ? pattern.recentSize() : 256;
        return new DuoLayout(pattern.retrievalBySparsity(s.getSparsity()), sink, recent);
    }

    private Generator generator(SessionRecord s) {
        return model.generator(layout(s));
    }

    private KvTiers.Checkout checkout(SessionRecord s) {
        DuoLayout layout = layout(s);
        UUID id = s.getId();
        return tiers.checkout(id, s.getTokenCount(), layout, new KvTiers.Rebuild() {
            @Override
            public byte[] streamingState(int tokens) {
                Optional<StreamingStateRecord> r = store.streamingState(id);
                return r.filter(x -> x.getTokenCount() == tokens).map(StreamingStateRecord::getState).orElse(null);
            }

            @Override
            public KvCache recompute() {
                KvCache kv = model.model().newCache(layout, model.options().kvPageTokens());
                int[] all = store.segments(id).stream().flatMapToInt(seg -> java.util.Arrays.stream(seg.tokens()))
                        .toArray();
                try {
                    if (all.length > 0) {
                        Generator.prefill(model.model(), kv, all, model.options().prefillChunk());
                    }
                    return kv;
                } catch (RuntimeException e) {
                    kv.close();
                    throw e;
                }
            }

            @Override
            public KvCache adopt(SequenceKv streaming, RetrievalBlock retrieval) {
                return model.model().fromHost(streaming, retrieval);
            }
        });
    }

    private List<ChatMessage> history(UUID id) {
        List<ChatMessage> out = new ArrayList<>();
        for (SessionStore.Segment seg : store.segments(id)) {
            out.add(new ChatMessage(seg.role(), seg.kind().equals("document")
                    ? documentText(seg.name(), seg.content()) : seg.content()));
        }
        return out;
    }

    private static String documentText(String name, String text) {
        return name == null ? text : "Document: " + name + "\n\n" + text;
    }

    /** Tokens that rendering {@code next} after {@code history} adds. */
    private int[] chatTokens(List<ChatMessage> history, ChatMessage next, boolean generationPrompt, int start) {
        if (!model.chatTemplate().isModelTemplate()) {
            return model.tokenizer().encode(next.content(), start == 0);
        }
        List<ChatMessage> all = new ArrayList<>(history);
        all.add(next);
        String before = history.isEmpty() ? "" : model.chatTemplate().render(history, false);
        String after = model.chatTemplate().render(all, generationPrompt);
        String delta = after.startsWith(before) ? after.substring(before.length())
                : model.chatTemplate().render(List.of(next), generationPrompt);
        return model.tokenizer().encode(delta, false);
    }

    private void checkContext(int newTokens, int existing) {
        int limit = model.config().maxPositions();
        if (existing + newTokens > limit) {
            throw new ContextLimitException(existing, newTokens, limit);
        }
    }
}
