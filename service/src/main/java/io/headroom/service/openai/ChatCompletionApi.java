package io.headroom.service.openai;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.headroom.service.api.UnsupportedFields;
import io.swagger.v3.oas.annotations.media.ArraySchema;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.util.List;

/**
 * The OpenAI chat completions wire format (https://platform.openai.com/docs/api-reference/chat), as
 * far as Headroom implements it. Fields Headroom does not implement are refused by name
 * ({@link UnsupportedFields}) rather than ignored; {@code n}, {@code logprobs} and
 * {@code response_format} are accepted at the values Headroom honours (1, false, text).
 */
public final class ChatCompletionApi {

    private ChatCompletionApi() {
    }

    /** POST /v1/chat/completions. */
    @UnsupportedFields({"tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "logit_bias",
        "top_logprobs", "audio", "modalities", "prediction", "reasoning_effort", "service_tier", "store", "metadata",
        "web_search_options", "user", "verbosity", "safety_identifier", "prompt_cache_key"})
    public record ChatCompletionRequest(
            @Schema(requiredMode = RequiredMode.REQUIRED, example = "headroom-passkey") String model,
            @ArraySchema(minItems = 1, schema = @Schema(implementation = ChatMessage.class),
                    arraySchema = @Schema(requiredMode = RequiredMode.REQUIRED)) List<ChatMessage> messages,
            @Schema(minimum = "1", description = "deprecated by OpenAI for max_completion_tokens") Integer maxTokens,
            @Schema(minimum = "1") Integer maxCompletionTokens,
            @Schema(minimum = "0", maximum = "2", description = "default 1; 0 is greedy") Float temperature,
            @Schema(minimum = "0", exclusiveMinimum = true, maximum = "1") Float topP,
            @Schema(minimum = "0", description = "Headroom extension") Integer topK,
            @Schema(minimum = "0", maximum = "1", description = "Headroom extension") Float minP,
            @Schema(minimum = "0", exclusiveMinimum = true, maximum = "10", description = "Headroom extension")
            Float repetitionPenalty,
            @Schema(minimum = "-2", maximum = "2") Float presencePenalty,
            @Schema(minimum = "-2", maximum = "2") Float frequencyPenalty,
            Long seed,
            @Schema(oneOf = {String.class, String[].class}, description = "a string or up to 4 strings") Object stop,
            Boolean stream,
            StreamOptions streamOptions,
            @Schema(minimum = "1", maximum = "1") Integer n,
            @Schema(description = "only false") Boolean logprobs,
            ResponseFormat responseFormat,
            @Schema(format = "uuid", description = "Headroom extension: continue this session (only the last user "
                    + "message is sent; the session keeps the history)") String headroomSession,
            @Schema(format = "uuid", description = "Headroom extension: answer over this corpus (its KV snapshot is "
                    + "the context before the messages; it is not prefilled again)") String headroomCorpus) {
    }

    /** One message of the conversation. */
    public record ChatMessage(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"system", "developer", "user",
                "assistant"}) String role,
            @Schema(requiredMode = RequiredMode.REQUIRED, oneOf = {String.class, ContentPart[].class})
            Object content) {
    }

    /** A part of a message's content; only text parts. */
    public record ContentPart(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "text") String type,
            @Schema(requiredMode = RequiredMode.REQUIRED) String text) {
    }

    /** {@code stream_options}. */
    public record StreamOptions(Boolean includeUsage) {
    }

    /** {@code response_format}: only {@code {"type": "text"}}. */
    public record ResponseFormat(@Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "text") String type) {
    }

    /** A {@code chat.completion} object. */
    public record ChatCompletion(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "chat.completion") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) long created,
            @Schema(requiredMode = RequiredMode.REQUIRED) String model,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<Choice> choices,
            @Schema(requiredMode = RequiredMode.REQUIRED) CompletionUsage usage,
            @Schema(nullable = true) String systemFingerprint) {
    }

    /** A choice of a completion. */
    public record Choice(
            @Schema(requiredMode = RequiredMode.REQUIRED) int index,
            @Schema(requiredMode = RequiredMode.REQUIRED) AssistantMessage message,
            @Schema(nullable = true) Object logprobs,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"stop", "length"}) String finishReason) {
    }

    /** The answer. */
    public record AssistantMessage(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "assistant") String role,
            @Schema(requiredMode = RequiredMode.REQUIRED) String content,
            @Schema(nullable = true) String refusal) {
    }

    /** Token counts; the prompt includes a session's context. */
    public record CompletionUsage(
            @Schema(requiredMode = RequiredMode.REQUIRED) int promptTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int completionTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int totalTokens) {
    }

    /** A {@code chat.completion.chunk} (one {@code data: } event of a stream). */
    public record ChatCompletionChunk(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "chat.completion.chunk") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) long created,
            @Schema(requiredMode = RequiredMode.REQUIRED) String model,
            @Schema(nullable = true) String systemFingerprint,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<ChunkChoice> choices,
            @JsonInclude(JsonInclude.Include.NON_NULL) CompletionUsage usage) {
    }

    /** A choice of a chunk. */
    public record ChunkChoice(
            @Schema(requiredMode = RequiredMode.REQUIRED) int index,
            @Schema(requiredMode = RequiredMode.REQUIRED) Delta delta,
            @Schema(nullable = true) Object logprobs,
            @Schema(nullable = true, allowableValues = {"stop", "length"}) String finishReason) {
    }

    /** What a chunk adds: the role in the first, text after. */
    public record Delta(
            @JsonInclude(JsonInclude.Include.NON_NULL) String role,
            @JsonInclude(JsonInclude.Include.NON_NULL) String content) {
    }

    /** GET /v1/models. */
    public record ModelList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<Model> data) {
    }

    /** A model. */
    public record Model(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "model") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) long created,
            @Schema(requiredMode = RequiredMode.REQUIRED) String ownedBy) {
    }
}
