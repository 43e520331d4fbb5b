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
 * @param backend {@code auto} (cuda when a GPU is usable), {@code cpu}, {@code cpu-scalar}, {@code cuda}
 *     (device-resident model and KV) or {@code cuda-kernels}
 * @param threads CPU worker threads (0: all cores)
 * @param prefillChunk prompt tokens per forward pass (0: the backend's, 4096 on cuda and 128 on the CPU)
 * @param kvPageTokens positions per retrieval-head KV page
 * @param queueCapacity engine jobs that may wait; beyond it requests are refused with 429
 * @param defaultMaxTokens answer length when a request does not say
 * @param maxTokensLimit the largest answer length a request may ask for
 * @param deviceKvType cuda: KV element type on the GPU, {@code bf16} or {@code f32} (exact mode)
 * @param deviceSequences cuda: sessions whose KV may be on the GPU at once at full context (sizes the
 *     KV page pool; the memory plan refuses at start-up what does not fit)
 * @param deviceContext cuda: most positions one session may hold on the GPU (0: the model's maximum)
 */
@Validated
@ConfigurationProperties("headroom.engine")
public record EngineProperties(
        @NotNull @DefaultValue("src/models/passkey/model") Path model,
        @NotBlank @DefaultValue("headroom-passkey") String modelName,
        @DefaultValue("src/models/passkey/pattern") Path pattern,
        @NotBlank @DefaultValue("auto") String backend,
        @Min(0) @DefaultValue("0") int threads,
        @Min(0) @DefaultValue("0") int prefillChunk,
        @Min(1) @DefaultValue("64") int kvPageTokens,
        @Min(1) @Max(10000) @DefaultValue("16") int queueCapacity,
        @Min(1) @DefaultValue("256") int defaultMaxTokens,
        @Min(1) @DefaultValue("4096") int maxTokensLimit,
        @NotBlank @DefaultValue("bf16") String deviceKvType,
        @Min(1) @DefaultValue("4") int deviceSequences,
        @Min(0) @DefaultValue("0") int deviceContext) {
}
