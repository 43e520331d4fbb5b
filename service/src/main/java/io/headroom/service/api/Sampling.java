package io.headroom.service.api;

import io.headroom.engine.generate.SamplingParams;
import io.headroom.sessions.SessionEngine;
import io.headroom.service.config.EngineProperties;
import java.util.List;

/** Validates sampling fields of a request and maps them onto the engine's parameters. */
public final class Sampling {

    private Sampling() {
    }

    public static SessionEngine.GenerationOptions options(EngineProperties limits, Integer maxTokens, Float temperature,
            Float topP, Integer topK, Float minP, Float repetitionPenalty, Float presencePenalty,
            Float frequencyPenalty, Long seed, List<String> stop) {
        int max = maxTokens != null ? maxTokens : limits.defaultMaxTokens();
        if (max < 1 || max > limits.maxTokensLimit()) {
            throw ApiException.invalid("max_tokens must be between 1 and " + limits.maxTokensLimit() + ", got " + max,
                    "max_tokens");
        }
        check(temperature == null || (temperature >= 0 && temperature <= 2), "temperature must be in [0, 2]",
                "temperature");
        check(topP == null || (topP > 0 && topP <= 1), "top_p must be in (0, 1]", "top_p");
        check(topK == null || topK >= 0, "top_k must be >= 0", "top_k");
        check(minP == null || (minP >= 0 && minP <= 1), "min_p must be in [0, 1]", "min_p");
        check(repetitionPenalty == null || (repetitionPenalty > 0 && repetitionPenalty <= 10),
                "repetition_penalty must be in (0, 10]", "repetition_penalty");
        check(presencePenalty == null || (presencePenalty >= -2 && presencePenalty <= 2),
                "presence_penalty must be in [-2, 2]", "presence_penalty");
        check(frequencyPenalty == null || (frequencyPenalty >= -2 && frequencyPenalty <= 2),
                "frequency_penalty must be in [-2, 2]", "frequency_penalty");
        List<String> stops = stop == null ? List.of() : stop;
        check(stops.size() <= 4 && stops.stream().noneMatch(s -> s == null || s.isEmpty()),
                "stop takes up to 4 non-empty strings", "stop");
        // OpenAI's default temperature is 1; greedy decoding needs temperature 0
        float t = temperature != null ? temperature : 1f;
        SamplingParams params = new SamplingParams(t, topK != null ? topK : 0, topP != null ? topP : 1f,
                minP != null ? minP : 0f, repetitionPenalty != null ? repetitionPenalty : 1f, seed,
                presencePenalty != null ? presencePenalty : 0f, frequencyPenalty != null ? frequencyPenalty : 0f);
        return new SessionEngine.GenerationOptions(max, params, stops);
    }

    private static void check(boolean ok, String message, String param) {
        if (!ok) {
            throw ApiException.invalid(message, param);
        }
    }
}
