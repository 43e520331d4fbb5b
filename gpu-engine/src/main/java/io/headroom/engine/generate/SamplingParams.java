package io.headroom.engine.generate;

/**
 * How the next token is chosen. {@code temperature == 0} is greedy (argmax); otherwise the logits
 * pass, in this order (as transformers applies them): repetition penalty, temperature, top-k, top-p,
 * min-p, then a draw from the remaining distribution with a generator seeded by {@code seed}.
 *
 * @param topK keep the k most likely tokens; 0 disables
 * @param topP keep the smallest set whose probability reaches p; 1 disables
 * @param minP drop tokens whose probability is below minP × the top probability; 0 disables
 * @param repetitionPenalty divide positive (multiply negative) logits of tokens already in the
 *     context by this; 1 disables
 * @param seed makes sampling reproducible; null draws a random seed
 * @param presencePenalty OpenAI's additive penalty: subtracted once from the logit of every token the
 *     completion already holds (applied before temperature, after the repetition penalty); 0 disables
 * @param frequencyPenalty OpenAI's additive penalty: subtracted from a token's logit once per time the
 *     completion already holds it; 0 disables
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty,
        Long seed, float presencePenalty, float frequencyPenalty) {

    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0f, 1f, null);

    /** Without OpenAI's presence and frequency penalties. */
    public SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty, Long seed) {
        this(temperature, topK, topP, minP, repetitionPenalty, seed, 0f, 0f);
    }

    public SamplingParams {
        check(Float.isFinite(temperature) && temperature >= 0, "temperature must be >= 0, got " + temperature);
        check(topK >= 0, "top_k must be >= 0, got " + topK);
        check(topP > 0 && topP <= 1, "top_p must be in (0, 1], got " + topP);
        check(minP >= 0 && minP <= 1, "min_p must be in [0, 1], got " + minP);
        check(Float.isFinite(repetitionPenalty) && repetitionPenalty > 0,
                "repetition_penalty must be > 0, got " + repetitionPenalty);
        check(Float.isFinite(presencePenalty), "presence_penalty must be finite, got " + presencePenalty);
        check(Float.isFinite(frequencyPenalty), "frequency_penalty must be finite, got " + frequencyPenalty);
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    public boolean greedy() {
        return temperature == 0f;
    }
}
