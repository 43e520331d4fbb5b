package io.headroom.service.openai;

import io.headroom.engine.generate.FinishReason;
import io.headroom.engine.generate.TokenListener;
import io.headroom.sessions.SessionEngine;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.GenerationMetrics;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.config.EngineProperties;
import io.headroom.service.security.Caller;
import io.headroom.service.openai.ChatCompletionApi.AssistantMessage;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletion;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletionChunk;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletionRequest;
import io.headroom.service.openai.ChatCompletionApi.Choice;
import io.headroom.service.openai.ChatCompletionApi.ChunkChoice;
import io.headroom.service.openai.ChatCompletionApi.Delta;
import io.headroom.service.openai.ChatCompletionApi.Model;
import io.headroom.service.openai.ChatCompletionApi.ModelList;
import io.headroom.service.openai.ChatCompletionApi.CompletionUsage;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
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
    private final AuditLog audit;
    private final EngineProperties limits;
    private final GenerationMetrics metrics;
    private final JsonMapper json;
    private final long created = System.currentTimeMillis() / 1000;

    private final io.headroom.service.corpora.CorpusSessions corpora;

    public OpenAiController(SessionEngine engine, AuditLog audit, EngineProperties limits, GenerationMetrics metrics,
            JsonMapper json, io.headroom.service.corpora.CorpusSessions corpora) {
        this.corpora = corpora;
        this.engine = engine;
        this.audit = audit;
        this.limits = limits;
        this.metrics = metrics;
        this.json = json;
    }

    @GetMapping("/models")
    @Operation(operationId = "listModels", summary = "The served model")
    public ModelList models() {
        return new ModelList("list", List.of(model()));
    }

    @GetMapping("/models/{id}")
    @Operation(operationId = "getModel", summary = "One model")
    public Model model(@PathVariable String id) {
        if (!id.equals(engine.modelName())) {
            throw new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "The model '" + id
                    + "' does not exist", "model", "model_not_found");
        }
        return model();
    }

    private Model model() {
        return new Model(engine.modelName(), "model", created, "headroom");
    }

    @PostMapping(value = "/chat/completions", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = {MediaType.APPLICATION_JSON_VALUE, MediaType.TEXT_EVENT_STREAM_VALUE})
    @Operation(operationId = "createChatCompletion", summary = "OpenAI-compatible chat completion; with stream "
            + "true, Server-Sent Events of ChatCompletionChunk (data: {...}) ending with data: [DONE]")
    @ApiResponse(responseCode = "200", description = "the completion", content = {
        @Content(mediaType = "application/json", schema = @Schema(implementation = ChatCompletion.class)),
        @Content(mediaType = "text/event-stream", schema = @Schema(type = "string",
                description = "data: ChatCompletionChunk ... data: [DONE]"))})
    public Mono<ResponseEntity<?>> completions(@RequestBody ChatCompletionRequest body, Caller caller) {
        ChatRequests.Parsed parsed;
        try {
            parsed = ChatRequests.parse(body, engine.modelName(), limits);
        } catch (ApiException e) {
            return Mono.error(e);
        }
        List<io.headroom.engine.tokenizer.ChatMessage> messages = parsed.messages();
        SessionEngine.GenerationOptions options = parsed.options();
        boolean stream = parsed.stream();
        boolean includeUsage = parsed.includeUsage();
        UUID session = parsed.session();
        String corpus = parsed.corpus();
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        AtomicBoolean cancelled = new AtomicBoolean();
        Sinks.Many<String> pieces = Sinks.many().unicast().onBackpressureBuffer();
        TokenListener listener = metrics.timingFirstToken(GenerationMetrics.Api.CHAT_COMPLETIONS, System.nanoTime(),
                (tokenId, text) -> {
                    if (stream && !text.isEmpty()) {
                        pieces.tryEmitNext(text);
                    }
                });
        // the request takes its place in the engine queue (or is refused with 429) before any byte is sent
        return Mono.fromCallable(() -> start(caller, session, corpus, messages, options, listener, cancelled))
                .subscribeOn(Schedulers.boundedElastic())
                .map(future -> {
                    future.whenComplete((r, e) -> {
                        pieces.tryEmitComplete();
                        if (r != null) {
                            metrics.generated(GenerationMetrics.Api.CHAT_COMPLETIONS, r.usage().completionTokens());
                        }
                    });
                    if (!stream) {
                        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                                .body(Mono.fromFuture(future).map(r -> completion(id, r))
                                        .doOnCancel(() -> cancelled.set(true)));
                    }
                    Flux<ServerSentEvent<String>> first = Flux.just(chunk(id, new Delta("assistant", ""), null,
                            null, includeUsage));
                    Flux<ServerSentEvent<String>> content = pieces.asFlux()
                            .map(t -> chunk(id, new Delta(null, t), null, null, includeUsage));
                    Flux<ServerSentEvent<String>> last = Mono.fromFuture(future).flatMapMany(r -> {
                        List<ServerSentEvent<String>> tail = new ArrayList<>();
                        tail.add(chunk(id, new Delta(null, null), finish(r.finishReason()), null, includeUsage));
                        if (includeUsage) {
                            tail.add(chunk(id, null, null, usage(r), true));
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

    private CompletableFuture<SessionEngine.TurnResult> start(Caller caller, UUID session, String corpus,
            List<io.headroom.engine.tokenizer.ChatMessage> messages, SessionEngine.GenerationOptions options,
            TokenListener listener, AtomicBoolean cancelled) {
        if (corpus != null) {
            var snapshot = corpora.readySnapshot(caller.id(), corpus, "headroom_corpus");
            audit.record(caller, "chat_completion.create", "corpus", corpus, caller.id());
            return engine.complete(caller.id(), snapshot, messages, options, listener, cancelled);
        }
        if (session == null) {
            audit.record(caller, "chat_completion.create", null, null, null);
            return engine.complete(caller.id(), messages, options, listener, cancelled);
        }
        CompletableFuture<SessionEngine.TurnResult> turn = engine.turn(caller.id(), session,
                messages.getLast().content(), options, listener, cancelled);
        audit.record(caller, "session.turn", "session", session.toString(), caller.id());
        return turn;
    }

    private ChatCompletion completion(String id, SessionEngine.TurnResult r) {
        return new ChatCompletion(id, "chat.completion", System.currentTimeMillis() / 1000, engine.modelName(),
                List.of(new Choice(0, new AssistantMessage("assistant", r.text(), null), null,
                        finish(r.finishReason()))), usage(r), null);
    }

    private ServerSentEvent<String> chunk(String id, Delta delta, String finishReason, CompletionUsage usage,
            boolean withUsage) {
        List<ChunkChoice> choices = delta == null ? List.of() : List.of(new ChunkChoice(0, delta, null, finishReason));
        ChatCompletionChunk c = new ChatCompletionChunk(id, "chat.completion.chunk", System.currentTimeMillis() / 1000,
                engine.modelName(), null, choices, usage);
        String data = json.writeValueAsString(c);
        if (withUsage && usage == null) {
            // with include_usage every chunk but the last carries "usage": null, as OpenAI sends it
            data = data.substring(0, data.length() - 1) + ",\"usage\":null}";
        }
        return ServerSentEvent.<String>builder().data(data).build();
    }

    private static CompletionUsage usage(SessionEngine.TurnResult r) {
        int prompt = r.usage().promptTokens() + r.usage().contextTokens();
        return new CompletionUsage(prompt, r.usage().completionTokens(), prompt + r.usage().completionTokens());
    }

    public static String finish(FinishReason r) {
        return switch (r) {
            case STOP_TOKEN, STOP_STRING, CANCELLED -> "stop";
            case LENGTH, CONTEXT_LIMIT -> "length";
        };
    }
}
