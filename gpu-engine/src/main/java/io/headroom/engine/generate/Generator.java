package io.headroom.engine.generate;

import io.headroom.engine.ForwardModel;
import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.tokenizer.StreamingDetokenizer;
import io.headroom.engine.tokenizer.TextTokenizer;
import java.util.Arrays;

/**
 * Autoregressive generation: the prompt is prefilled in chunks (bounding activation memory and
 * keeping each chunk's weights in cache), then one token at a time is decoded against the KV cache.
 */
public final class Generator {

    private final ForwardModel model;
    private final TextTokenizer tokenizer;
    private final int prefillChunk;
    private final DuoLayout layout;
    private final int pageTokens;

    /**
     * @param layout which heads are retrieval and streaming heads (see {@link DuoLayout#full})
     * @param pageTokens retrieval-head KV page size
     */
    public Generator(ForwardModel model, TextTokenizer tokenizer, int prefillChunk, DuoLayout layout, int pageTokens) {
        if (prefillChunk < 1) {
            throw new IllegalArgumentException("prefill chunk must be >= 1, got " + prefillChunk);
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.prefillChunk = prefillChunk;
        this.layout = layout;
        this.pageTokens = pageTokens;
    }

    /** An empty KV cache with this generator's head layout (the caller closes it). */
    public KvCache newSequence() {
        return model.newCache(layout, pageTokens);
    }

    /**
     * Runs {@code tokens} through the model in chunks of at most {@code chunk}, appending to
     * {@code cache}; returns the logits of the last token.
     */
    public static float[] prefill(ForwardModel model, KvCache cache, int[] tokens, int chunk) {
        return model.prefill(tokens, cache, chunk);
    }

    /** Generates from the request's prompt alone. */
    public GenerationResult generate(GenerationRequest req) {
        try (KvCache cache = newSequence()) {
            return generate(req, cache);
        }
    }

    /**
     * Appends the request's prompt to {@code cache} (which may already hold earlier context, e.g. an
     * imported session) and generates. On return the cache holds the prompt and every generated token
     * but the last one sampled (whose keys are computed when the sequence continues).
     */
    public GenerationResult generate(GenerationRequest req, KvCache cache) {
        int limit = model.config().maxPositions();
        if (cache.length() + req.prompt().length > limit) {
            throw new IllegalArgumentException("prompt of " + req.prompt().length + " tokens"
                    + (cache.length() > 0 ? " after " + cache.length() + " tokens of context" : "")
                    + " exceeds the model's context limit of " + limit);
        }
        long t0 = System.nanoTime();
        float[] logits = prefill(model, cache, req.prompt(), prefillChunk);
        long t1 = System.nanoTime();

        Sampler sampler = new Sampler(req.sampling());
        StopStringMatcher stops = new StopStringMatcher(req.stopStrings());
        StreamingDetokenizer detok = tokenizer.streamingDecoder();
        int[] context = Arrays.copyOf(req.prompt(), req.prompt().length + req.maxNewTokens());
        int contextLength = req.prompt().length;
        int[] out = new int[req.maxNewTokens()];
        int generated = 0;
        FinishReason reason = FinishReason.LENGTH;
        while (generated < req.maxNewTokens()) {
            if (req.cancelled().get()) {
                reason = FinishReason.CANCELLED;
                break;
            }
            int token = sampler.sample(logits, context, contextLength, req.prompt().length);
            out[generated++] = token;
            context[contextLength++] = token;
            if (req.stopTokenIds().contains(token)) {
                req.listener().onToken(token, drain(stops, detok));
                reason = FinishReason.STOP_TOKEN;
                break;
            }
            String piece = stops.accept(detok.push(token));
            req.listener().onToken(token, piece);
            if (stops.matched()) {
                reason = FinishReason.STOP_STRING;
                break;
            }
            if (generated == req.maxNewTokens()) {
                break;
            }
            if (cache.length() >= limit) {
                reason = FinishReason.CONTEXT_LIMIT;
                break;
            }
            logits = model.forward(new int[] {token}, cache, new int[] {0})[0];
        }
        if (reason != FinishReason.STOP_TOKEN && reason != FinishReason.STOP_STRING) {
            String tail = drain(stops, detok);
            if (!tail.isEmpty()) {
                req.listener().onToken(-1, tail);
            }
            if (stops.matched()) {
                reason = FinishReason.STOP_STRING;
            }
        }
        long t2 = System.nanoTime();
        return new GenerationResult(Arrays.copyOf(out, generated), stops.text(), reason, req.prompt().length,
                t1 - t0, t2 - t1);
    }

    /** Releases everything still held back by the detokenizer and the stop-string matcher. */
    private static String drain(StopStringMatcher stops, StreamingDetokenizer detok) {
        String piece = stops.accept(detok.flush());
        return stops.matched() ? piece : piece + stops.finish();
    }
}
