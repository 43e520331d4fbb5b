package io.headroom.service.chat;

import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Request and response bodies of the session API (JSON, snake_case). Requests are read strictly:
 * an unknown field or a value of the wrong JSON type is a 400 naming it.
 */
public final class SessionApi {

    private SessionApi() {
    }

    /** POST /v1/sessions. */
    @Schema(description = "A new session; {} takes every default.")
    public record CreateSession(
            @Schema(description = "must be the served model's id when given") String model,
            @Schema(description = "DuoAttention: the share of KV heads that stream (0 = all heads retrieval); "
                    + "omit for full attention", minimum = "0", maximum = "1") Double sparsity,
            @Schema(description = "the conversation's system message (after the corpus, when there is one)")
            String systemPrompt,
            @Schema(format = "uuid", description = "start from this corpus's KV snapshot: the whole corpus is in the "
                    + "context from the first turn, without prefilling it again") String corpus) {
    }

    /** A session as clients see it. */
    public record SessionView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the user the session belongs to") String owner,
            @Schema(requiredMode = RequiredMode.REQUIRED) String model,
            @Schema(nullable = true) Double sparsity,
            @Schema(nullable = true) String systemPrompt,
            @Schema(requiredMode = RequiredMode.REQUIRED) int tokenCount,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"active", "idle", "cold"},
                    description = "active: KV in the engine; idle: parked in host memory; cold: on disk or to be "
                            + "recomputed") String state,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "KV bytes per tier (device, host, disk)")
            Map<String, Long> kvBytes,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant createdAt,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant lastActiveAt,
            @Schema(nullable = true, format = "uuid", description = "the corpus snapshot the session started from")
            String corpusSnapshotId,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "tokens of that corpus (0 without one)")
            int corpusTokens) {
    }

    /** A page of sessions. */
    public record SessionPage(
            @Schema(requiredMode = RequiredMode.REQUIRED) List<SessionView> data,
            @Schema(requiredMode = RequiredMode.REQUIRED) int page,
            @Schema(requiredMode = RequiredMode.REQUIRED) int size,
            @Schema(requiredMode = RequiredMode.REQUIRED) long total) {
    }

    /** POST /v1/sessions/{id}/context. */
    public record AppendContext(
            @Schema(description = "shown to the model as the document's title") String name,
            @Schema(requiredMode = RequiredMode.REQUIRED, minLength = 1,
                    description = "the document; at most headroom.sessions.max-append-size bytes of UTF-8")
            String text) {
    }

    /** What appending did. */
    public record ContextAppended(
            @Schema(requiredMode = RequiredMode.REQUIRED) int documentTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int sessionTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"empty", "device", "host", "disk",
                "recomputed", "corpus"}) String kvSource,
            @Schema(requiredMode = RequiredMode.REQUIRED) double prefillMs) {
    }

    /** POST /v1/sessions/{id}/turns. */
    public record TurnRequest(
            @Schema(requiredMode = RequiredMode.REQUIRED, minLength = 1) String message,
            @Schema(description = "true (default): Server-Sent Events; false: one JSON response") Boolean stream,
            @Schema(minimum = "1") Integer maxTokens,
            @Schema(minimum = "0", maximum = "2", description = "0 (default): greedy") Float temperature,
            @Schema(minimum = "0", exclusiveMinimum = true, maximum = "1") Float topP,
            @Schema(minimum = "0") Integer topK,
            @Schema(minimum = "0", maximum = "1") Float minP,
            @Schema(minimum = "0", exclusiveMinimum = true, maximum = "10") Float repetitionPenalty,
            @Schema(minimum = "-2", maximum = "2") Float presencePenalty,
            @Schema(minimum = "-2", maximum = "2") Float frequencyPenalty,
            Long seed,
            @Schema(description = "up to 4 non-empty strings") List<String> stop) {
    }

    /** Token accounting of a turn. */
    public record Usage(
            @Schema(requiredMode = RequiredMode.REQUIRED) int promptTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int contextTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int completionTokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) int totalTokens) {
    }

    /** Where a turn's time went. */
    public record Timing(
            @Schema(requiredMode = RequiredMode.REQUIRED) double queueMs,
            @Schema(requiredMode = RequiredMode.REQUIRED) double prefillMs,
            @Schema(requiredMode = RequiredMode.REQUIRED) double decodeMs,
            @Schema(requiredMode = RequiredMode.REQUIRED) double tokensPerSecond,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"empty", "device", "host", "disk",
                "recomputed", "corpus"}) String kvSource) {
    }

    /**
     * A message of the history, or the answer of a turn. An assistant message carries how it ended:
     * {@code stop}, {@code length}, or {@code cancelled} (the client went away or the service
     * stopped mid-answer: the partial answer is kept, as generated, and is part of the context).
     */
    public record Message(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"system", "user", "assistant"})
            String role,
            @Schema(requiredMode = RequiredMode.REQUIRED) String content,
            @Schema(requiredMode = RequiredMode.REQUIRED) Integer tokenCount,
            @Schema(nullable = true, allowableValues = {"stop", "length", "cancelled"}) String finishReason,
            @Schema(nullable = true) Instant createdAt) {
    }

    /** The conversation. */
    public record MessageList(@Schema(requiredMode = RequiredMode.REQUIRED) List<Message> data) {
    }

    /** A non-streamed turn. */
    public record TurnResponse(
            @Schema(requiredMode = RequiredMode.REQUIRED) Message message,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"stop", "length", "cancelled"})
            String finishReason,
            @Schema(requiredMode = RequiredMode.REQUIRED) Usage usage,
            @Schema(requiredMode = RequiredMode.REQUIRED) Timing timing) {
    }

    /** The last server-sent event of a streamed turn ({@code event: done}). */
    public record TurnDone(
            @Schema(requiredMode = RequiredMode.REQUIRED) String finishReason,
            @Schema(requiredMode = RequiredMode.REQUIRED) Usage usage,
            @Schema(requiredMode = RequiredMode.REQUIRED) Timing timing) {
    }

    /** One streamed piece of text ({@code event: token}). */
    public record TokenEvent(@Schema(requiredMode = RequiredMode.REQUIRED) String text) {
    }
}
