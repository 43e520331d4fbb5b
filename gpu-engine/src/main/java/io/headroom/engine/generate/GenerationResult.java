package io.headroom.engine.generate;

/**
 * What a generation produced.
 *
 * @param tokens generated ids, including a final stop token when there was one
 * @param text the generated text, without stop tokens and cut before a stop string
 * @param prefillNanos time spent on the prompt
 * @param decodeNanos time spent generating after the prompt
 */
public record GenerationResult(int[] tokens, String text, FinishReason finishReason, int promptTokens,
        long prefillNanos, long decodeNanos) {
}
