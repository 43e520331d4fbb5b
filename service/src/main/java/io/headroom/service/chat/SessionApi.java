package io.headroom.service.chat;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/** Request and response bodies of the session API (JSON, snake_case). */
public final class SessionApi {

    private SessionApi() {
    }

    /** POST /v1/sessions. */
    public record CreateSession(String model, Double sparsity, String systemPrompt) {
    }

    /** A session as clients see it. */
    public record SessionView(String id, String model, Double sparsity, String systemPrompt, int tokenCount,
            String state, Map<String, Long> kvBytes, Instant createdAt, Instant lastActiveAt) {
    }

    /** A page of sessions. */
    public record SessionPage(List<SessionView> data, int page, int size, long total) {
    }

    /** POST /v1/sessions/{id}/context. */
    public record AppendContext(String name, String text) {
    }

    /** What appending did. */
    public record ContextAppended(int documentTokens, int sessionTokens, String kvSource, double prefillMs) {
    }

    /** POST /v1/sessions/{id}/turns. */
    public record TurnRequest(String message, Boolean stream, Integer maxTokens, Float temperature, Float topP,
            Integer topK, Float minP, Float repetitionPenalty, Long seed, List<String> stop) {
    }

    /** Token accounting of a turn. */
    public record Usage(int promptTokens, int contextTokens, int completionTokens, int totalTokens) {
    }

    /** Where a turn's time went. */
    public record Timing(double queueMs, double prefillMs, double decodeMs, double tokensPerSecond,
            String kvSource) {
    }

    /** A message of the history, or the answer of a turn. */
    public record Message(String role, String content, Integer tokenCount, Instant createdAt) {
    }

    /** A non-streamed turn. */
    public record TurnResponse(Message message, String finishReason, Usage usage, Timing timing) {
    }

    /** The last server-sent event of a streamed turn. */
    public record TurnDone(String finishReason, Usage usage, Timing timing) {
    }

    /** One streamed piece of text. */
    public record TokenEvent(String text) {
    }
}
