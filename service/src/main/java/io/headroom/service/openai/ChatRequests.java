package io.headroom.service.openai;

import io.headroom.service.api.ApiException;
import io.headroom.service.api.Sampling;
import io.headroom.service.config.EngineProperties;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletionRequest;
import io.headroom.service.openai.ChatCompletionApi.ChatMessage;
import io.headroom.sessions.SessionEngine;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.http.HttpStatus;

/**
 * A chat completion request checked and turned into what the engine takes: the messages, the
 * sampling options, and the Headroom extensions. Every problem is an {@link ApiException} naming the
 * field, as OpenAI reports it. Used for requests over HTTP and for every line of a batch.
 */
public final class ChatRequests {

    /** A checked request. */
    public record Parsed(List<io.headroom.engine.tokenizer.ChatMessage> messages,
            SessionEngine.GenerationOptions options, boolean stream, boolean includeUsage, UUID session,
            String corpus) {
    }

    private ChatRequests() {
    }

    /** Checks {@code body} against the served model and the configured limits. */
    public static Parsed parse(ChatCompletionRequest body, String modelName, EngineProperties limits) {
        if (body.model() == null) {
            throw ApiException.invalid("you must provide a model parameter", "model");
        }
        if (!body.model().equals(modelName)) {
            throw new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "The model '"
                    + body.model() + "' does not exist", "model", "model_not_found");
        }
        List<io.headroom.engine.tokenizer.ChatMessage> messages = messages(body.messages());
        if (body.n() != null && body.n() != 1) {
            throw unsupported("n", "only n = 1 is supported");
        }
        if (Boolean.TRUE.equals(body.logprobs())) {
            throw unsupported("logprobs", "logprobs are not supported by Headroom");
        }
        if (body.responseFormat() != null && !"text".equals(body.responseFormat().type())) {
            throw unsupported("response_format", "only response_format {\"type\": \"text\"} is "
                    + "supported");
        }
        if (body.streamOptions() != null && !Boolean.TRUE.equals(body.stream())) {
            throw ApiException.invalid("stream_options is only allowed with stream true",
                    "stream_options");
        }
        Integer maxTokens = body.maxCompletionTokens() != null ? body.maxCompletionTokens() : body.maxTokens();
        SessionEngine.GenerationOptions options = Sampling.options(limits, maxTokens, body.temperature(),
                body.topP(), body.topK(), body.minP(), body.repetitionPenalty(), body.presencePenalty(),
                body.frequencyPenalty(), body.seed(), stops(body.stop()));
        boolean stream = Boolean.TRUE.equals(body.stream());
        boolean includeUsage = body.streamOptions() != null
                && Boolean.TRUE.equals(body.streamOptions().includeUsage());
        UUID session = session(body.headroomSession());
        if (session != null && body.headroomCorpus() != null) {
            throw ApiException.invalid("headroom_corpus and headroom_session cannot go together: a "
                    + "session over a corpus is created with POST /v1/sessions {\"corpus\": ...}", "headroom_corpus");
        }
        String corpus = body.headroomCorpus();
        if (session != null && !messages.getLast().role().equals("user")) {
            throw ApiException.invalid("with headroom_session the last message must be the new user "
                    + "message", "messages");
        }
        return new Parsed(messages, options, stream, includeUsage, session, corpus);
    }

    private static ApiException unsupported(String field, String message) {
        return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", message, field,
                "unsupported_parameter");
    }

    private static UUID session(String id) {
        if (id == null) {
            return null;
        }
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("headroom_session must be a session id", "headroom_session");
        }
    }

    private static List<io.headroom.engine.tokenizer.ChatMessage> messages(List<ChatMessage> in) {
        if (in == null || in.isEmpty()) {
            throw ApiException.invalid("messages must be a non-empty array", "messages");
        }
        List<io.headroom.engine.tokenizer.ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < in.size(); i++) {
            ChatMessage m = in.get(i);
            String at = "messages[" + i + "]";
            if (m == null) {
                throw ApiException.invalid(at + " must be an object", at);
            }
            if (m.role() == null || !List.of("system", "developer", "user", "assistant").contains(m.role())) {
                throw ApiException.invalid(at + ".role must be system, developer, user or assistant", at + ".role");
            }
            out.add(new io.headroom.engine.tokenizer.ChatMessage(m.role().equals("developer") ? "system" : m.role(),
                    content(m.content(), at + ".content")));
        }
        return out;
    }

    /** A message's content: a string, or an array of {@code {"type": "text", "text": ...}} parts. */
    private static String content(Object content, String at) {
        if (content instanceof String s) {
            return s;
        }
        if (content instanceof List<?> parts) {
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < parts.size(); j++) {
                String partAt = at + "[" + j + "]";
                if (!(parts.get(j) instanceof Map<?, ?> part) || !"text".equals(part.get("type"))
                        || !(part.get("text") instanceof String text)) {
                    throw ApiException.invalid(partAt + " must be {\"type\": \"text\", \"text\": string}; only text "
                            + "content parts are supported", partAt);
                }
                if (part.size() != 2) {
                    throw ApiException.invalid(partAt + " may hold only type and text", partAt);
                }
                sb.append(text);
            }
            return sb.toString();
        }
        throw ApiException.invalid(at + " must be a string or an array of text parts", at);
    }

    private static List<String> stops(Object stop) {
        if (stop == null) {
            return null;
        }
        if (stop instanceof String s) {
            return List.of(s);
        }
        if (stop instanceof List<?> list && list.stream().allMatch(x -> x instanceof String)) {
            return list.stream().map(String.class::cast).toList();
        }
        throw ApiException.invalid("stop must be a string or an array of strings", "stop");
    }
}
