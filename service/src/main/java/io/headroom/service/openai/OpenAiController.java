package io.headroom.service.openai;

import io.headroom.engine.generate.FinishReason;
import io.headroom.engine.tokenizer.ChatMessage;
import io.headroom.sessions.SessionEngine;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.CurrentUser;
import io.headroom.service.api.Sampling;
import io.headroom.service.config.EngineProperties;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * OpenAI-compatible chat completions and model listing, in the exact wire format: {@code
 * chat.completion} and {@code chat.completion.chunk} objects, the role in the first delta, a finish
 * chunk, an optional usage chunk ({@code stream_options.include_usage}) and {@code data: [DONE]}.
 * The extension field {@code headroom_session} names a Headroom session: then only the last user
 * message is sent, and the session keeps the history server-side.
 */
@RestController
@RequestMapping("/v1")
public class OpenAiController {

    private final SessionEngine engine;
    private final CurrentUser user;
    private final EngineProperties limits;
    private final JsonMapper json;
    private final long created = System.currentTimeMillis() / 1000;

    public OpenAiController(SessionEngine engine, CurrentUser user, EngineProperties limits, JsonMapper json) {
        this.engine = engine;
        this.user = user;
        this.limits = limits;
        this.json = json;
    }

    @GetMapping("/models")
    public Map<String, Object> models() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", engine.modelName());
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "headroom");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("object", "list");
        out.put("data", List.of(m));
        return out;
    }

    @GetMapping("/models/{id}")
    public Map<String, Object> model(@org.springframework.web.bind.annotation.PathVariable String id) {
        if (!id.equals(engine.modelName())) {
            throw new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "The model '" + id
                    + "' does not exist", "model", "model_not_found");
        }
        return ((List<Map<String, Object>>) models().get("data")).getFirst();
    }

    @PostMapping(value = "/chat/completions", produces = {MediaType.APPLICATION_JSON_VALUE,
        MediaType.TEXT_EVENT_STREAM_VALUE})
    public Mono<ResponseEntity<?>> completions(@RequestBody JsonNode body) {
        if (body == null || !body.isObject()) {
            return Mono.error(ApiException.invalid("request body must be a JSON object", null));
        }
        String model = text(body, "model");
        if (model == null) {
            return Mono.error(ApiException.invalid("you must provide a model parameter", "model"));
        }
        if (!model.equals(engine.modelName())) {
            return Mono.error(new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "The model '" + model
                    + "' does not exist", "model", "model_not_found"));
        }
        List<ChatMessage> messages = messages(body.get("messages"));
        if (body.has("n") && body.get("n").asInt(1) != 1) {
            return Mono.error(ApiException.invalid("only n = 1 is supported", "n"));
        }
        Integer maxTokens = intField(body, "max_completion_tokens");
        if (maxTokens == null) {
            maxTokens = intField(body, "max_tokens");
        }
        SessionEngine.GenerationOptions options = Sampling.options(limits, maxTokens, floatField(body, "temperature"),
                floatField(body, "top_p"), intField(body, "top_k"), floatField(body, "min_p"),
                floatField(body, "repetition_penalty"), body.has("seed") && !body.get("seed").isNull()
                        ? body.get("seed").asLong() : null, stops(body.get("stop")));
        boolean stream = body.path("stream").asBoolean(false);
        boolean includeUsage = body.path("stream_options").path("include_usage").asBoolean(false);
        String session = text(body, "headroom_session");
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        AtomicBoolean cancelled = new AtomicBoolean();
        Sinks.Many<String> pieces = Sinks.many().unicast().onBackpressureBuffer();
        io.headroom.engine.generate.TokenListener listener = (tokenId, text) -> {
            if (stream && !text.isEmpty()) {
                pieces.tryEmitNext(text);
            }
        };
        return Mono.fromCallable(() -> start(session, messages, options, listener, cancelled))
                .subscribeOn(Schedulers.boundedElastic())
                .map(future -> {
                    future.whenComplete((r, e) -> pieces.tryEmitComplete());
                    if (!stream) {
                        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                                .body(Mono.fromFuture(future).map(r -> completion(id, r)));
                    }
                    Map<String, Object> roleDelta = new LinkedHashMap<>();
                    roleDelta.put("role", "assistant");
                    roleDelta.put("content", "");
                    Flux<ServerSentEvent<String>> first = Flux.just(chunk(id, roleDelta, null, null));
                    Flux<ServerSentEvent<String>> content = pieces.asFlux()
                            .map(t -> chunk(id, Map.of("content", t), null, null));
                    Flux<ServerSentEvent<String>> last = Mono.fromFuture(future).flatMapMany(r -> {
                        List<ServerSentEvent<String>> tail = new ArrayList<>();
                        tail.add(chunk(id, Map.of(), finish(r.finishReason()), null));
                        if (includeUsage) {
                            tail.add(chunk(id, null, null, usage(r)));
                        }
                        return Flux.fromIterable(tail);
                    }).onErrorResume(e -> Mono.just(ServerSentEvent.<String>builder()
                            .data(json.writeValueAsString(ApiErrors.envelope(ApiErrors.classify(e)))).build()));
                    Flux<ServerSentEvent<String>> done = Flux.just(ServerSentEvent.<String>builder().data("[DONE]")
                            .build());
                    return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM)
                            .body(Flux.concat(first, content, last, done).doOnCancel(() -> cancelled.set(true)));
                });
    }

    private CompletableFuture<SessionEngine.TurnResult> start(String session, List<ChatMessage> messages,
            SessionEngine.GenerationOptions options, io.headroom.engine.generate.TokenListener listener,
            AtomicBoolean cancelled) {
        if (session == null) {
            return engine.complete(messages, options, listener, cancelled);
        }
        UUID sid;
        try {
            sid = UUID.fromString(session);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("headroom_session must be a session id", "headroom_session");
        }
        ChatMessage last = messages.getLast();
        if (!last.role().equals("user")) {
            throw ApiException.invalid("with headroom_session the last message must be the new user message",
                    "messages");
        }
        return engine.turn(user.owner(), sid, last.content(), options, listener, cancelled);
    }

    private Map<String, Object> completion(String id, SessionEngine.TurnResult r) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", "assistant");
        message.put("content", r.text());
        message.put("refusal", null);
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put("message", message);
        choice.put("logprobs", null);
        choice.put("finish_reason", finish(r.finishReason()));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("object", "chat.completion");
        out.put("created", System.currentTimeMillis() / 1000);
        out.put("model", engine.modelName());
        out.put("choices", List.of(choice));
        out.put("usage", usage(r));
        out.put("system_fingerprint", null);
        return out;
    }

    private ServerSentEvent<String> chunk(String id, Map<String, Object> delta, String finishReason,
            Map<String, Object> usage) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("object", "chat.completion.chunk");
        out.put("created", System.currentTimeMillis() / 1000);
        out.put("model", engine.modelName());
        out.put("system_fingerprint", null);
        if (delta != null) {
            Map<String, Object> choice = new LinkedHashMap<>();
            choice.put("index", 0);
            choice.put("delta", delta);
            choice.put("logprobs", null);
            choice.put("finish_reason", finishReason);
            out.put("choices", List.of(choice));
        } else {
            out.put("choices", List.of());
        }
        if (usage != null) {
            out.put("usage", usage);
        }
        return ServerSentEvent.<String>builder().data(json.writeValueAsString(out)).build();
    }

    private static Map<String, Object> usage(SessionEngine.TurnResult r) {
        int prompt = r.usage().promptTokens() + r.usage().contextTokens();
        Map<String, Object> u = new LinkedHashMap<>();
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", r.usage().completionTokens());
        u.put("total_tokens", prompt + r.usage().completionTokens());
        return u;
    }

    static String finish(FinishReason r) {
        return switch (r) {
            case STOP_TOKEN, STOP_STRING, CANCELLED -> "stop";
            case LENGTH, CONTEXT_LIMIT -> "length";
        };
    }

    private static List<ChatMessage> messages(JsonNode node) {
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw ApiException.invalid("messages must be a non-empty array", "messages");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String role = m.path("role").asString(null);
            if (role == null || !List.of("system", "developer", "user", "assistant").contains(role)) {
                throw ApiException.invalid("messages[" + i + "].role must be system, user or assistant",
                        "messages[" + i + "].role");
            }
            JsonNode content = m.get("content");
            String text;
            if (content != null && content.isString()) {
                text = content.asString();
            } else if (content != null && content.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : content) {
                    if (!"text".equals(part.path("type").asString(null))) {
                        throw ApiException.invalid("only text content parts are supported",
                                "messages[" + i + "].content");
                    }
                    sb.append(part.path("text").asString(""));
                }
                text = sb.toString();
            } else {
                throw ApiException.invalid("messages[" + i + "].content must be a string", "messages[" + i
                        + "].content");
            }
            out.add(new ChatMessage(role.equals("developer") ? "system" : role, text));
        }
        return out;
    }

    private static List<String> stops(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isString()) {
            return List.of(node.asString());
        }
        if (node.isArray()) {
            List<String> out = new ArrayList<>();
            node.forEach(n -> out.add(n.isString() ? n.asString() : null));
            return out;
        }
        throw ApiException.invalid("stop must be a string or an array of strings", "stop");
    }

    private static String text(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isString()) {
            throw ApiException.invalid(field + " must be a string", field);
        }
        return n.asString();
    }

    private static Integer intField(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isIntegralNumber()) {
            throw ApiException.invalid(field + " must be an integer", field);
        }
        return n.asInt();
    }

    private static Float floatField(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isNumber()) {
            throw ApiException.invalid(field + " must be a number", field);
        }
        return (float) n.asDouble();
    }
}
