package io.headroom.engine.generate;

import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One generation.
 *
 * @param prompt token ids to prefill (with whatever special tokens the caller wants)
 * @param maxNewTokens upper bound on generated tokens
 * @param stopTokenIds tokens that end generation (usually the model's eos ids); the stop token is
 *     reported in the result's tokens but contributes no text
 * @param stopStrings strings that end generation; the text returned stops before the first match
 * @param cancelled set from any thread to stop at the next token boundary
 */
public record GenerationRequest(int[] prompt, int maxNewTokens, SamplingParams sampling, Set<Integer> stopTokenIds,
        List<String> stopStrings, TokenListener listener, AtomicBoolean cancelled) {

    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampling, "sampling");
        stopTokenIds = Set.copyOf(stopTokenIds);
        stopStrings = List.copyOf(stopStrings);
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        }
        if (stopStrings.stream().anyMatch(String::isEmpty)) {
            throw new IllegalArgumentException("stop strings must not be empty");
        }
        listener = listener == null ? TokenListener.NONE : listener;
        cancelled = cancelled == null ? new AtomicBoolean() : cancelled;
    }

    public static GenerationRequest greedy(int[] prompt, int maxNewTokens, Set<Integer> stopTokenIds) {
        return new GenerationRequest(prompt, maxNewTokens, SamplingParams.GREEDY, stopTokenIds, List.of(), null, null);
    }
}
