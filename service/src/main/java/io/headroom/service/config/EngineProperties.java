package io.headroom.service.config;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * {@code headroom.engine.*}: the model the service runs and how.
 *
 * @param model Hugging Face model directory
 * @param modelName the id clients use (OpenAI {@code model} field)
 * @param pattern DuoAttention pattern directory; sessions may ask for a sparsity only when set
 * @param backend {@code auto}, {@code cpu} or {@code cpu-scalar}
 * @param threads CPU worker threads (0: all cores)
 * @param prefillChunk prompt tokens per forward pass
 * @param kvPageTokens positions per retrieval-head KV page
 * @param queueCapacity engine jobs that may wait; beyond it requests are refused with 429
 * @param defaultMaxTokens answer length when a request does not say
 * @param maxTokensLimit the largest answer length a request may ask for
 */
@Validated
@ConfigurationProperties("headroom.engine")
public record EngineProperties(
        @NotNull @DefaultValue("src/models/passkey/model") Path model,
        @NotBlank @DefaultValue("headroom-passkey") String modelName,
        @DefaultValue("src/models/passkey/pattern") Path pattern,
        @NotBlank @DefaultValue("auto") String backend,
        @Min(0) @DefaultValue("0") int threads,
        @Min(1) @DefaultValue("128") int prefillChunk,
        @Min(1) @DefaultValue("64") int kvPageTokens,
        @Min(1) @Max(10000) @DefaultValue("16") int queueCapacity,
        @Min(1) @DefaultValue("256") int defaultMaxTokens,
        @Min(1) @DefaultValue("4096") int maxTokensLimit) {
}
