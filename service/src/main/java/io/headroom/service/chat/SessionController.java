package io.headroom.service.chat;

import io.headroom.engine.generate.FinishReason;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.kv.KvTiers;
import io.headroom.sessions.store.MessageRecord;
import io.headroom.sessions.store.SessionNotFoundException;
import io.headroom.sessions.store.SessionRecord;
import io.headroom.sessions.store.SessionStore;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.Blocking;
import io.headroom.service.api.Sampling;
import io.headroom.service.chat.SessionApi.AppendContext;
import io.headroom.service.chat.SessionApi.ContextAppended;
import io.headroom.service.chat.SessionApi.CreateSession;
import io.headroom.service.chat.SessionApi.Message;
import io.headroom.service.chat.SessionApi.SessionPage;
import io.headroom.service.chat.SessionApi.SessionView;
import io.headroom.service.chat.SessionApi.TokenEvent;
import io.headroom.service.chat.SessionApi.TurnDone;
import io.headroom.service.chat.SessionApi.TurnRequest;
import io.headroom.service.chat.SessionApi.TurnResponse;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.config.EngineProperties;
import io.headroom.service.corpora.CorpusSessions;
import io.headroom.service.security.Caller;
import io.headroom.service.config.SessionProperties;
import io.headroom.service.api.GenerationMetrics;
import io.headroom.service.chat.SessionApi.MessageList;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.springframework.data.domain.Page;
import org.springframework.data.domain.PageRequest;
import org.springframework.data.domain.Sort;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import tools.jackson.databind.json.JsonMapper;

/**
 * The session API: sessions over huge contexts, documents appended to their context, and chat
 * turns answered token by token over Server-Sent Events (or as one JSON response).
 */
@RestController
@RequestMapping("/v1/sessions")
public class SessionController {

    private final SessionEngine engine;
    private final SessionStore store;
    private final AuditLog audit;
    private final EngineProperties engineProperties;
    private final SessionProperties sessionProperties;
    private final GenerationMetrics metrics;
    private final JsonMapper json;
    private final CorpusSessions corpora;

    /** The most sessions one page may hold. */
    static final int MAX_PAGE_SIZE = 200;
    /** The longest document name, in characters. */
    static final int MAX_NAME_LENGTH = 1024;

    public SessionController(SessionEngine engine, SessionStore store, AuditLog audit,
            EngineProperties engineProperties, SessionProperties sessionProperties, GenerationMetrics metrics,
            JsonMapper json, CorpusSessions corpora) {
        this.corpora = corpora;
        this.engine = engine;
        this.store = store;
        this.audit = audit;
        this.engineProperties = engineProperties;
        this.sessionProperties = sessionProperties;
        this.metrics = metrics;
        this.json = json;
    }

    @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "createSession", summary = "Create a session")
    @ApiResponse(responseCode = "201", description = "created",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = SessionView.class)))
    public Mono<ResponseEntity<SessionView>> create(@RequestBody CreateSession body, Caller caller) {
        if (body.model() != null && !body.model().equals(engine.modelName())) {
            return Mono.error(new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "unknown model '"
                    + body.model() + "' (this service runs " + engine.modelName() + ")", "model", "model_not_found"));
        }
        if (body.sparsity() != null && !(body.sparsity() >= 0 && body.sparsity() <= 1)) {
            return Mono.error(ApiException.invalid("sparsity must be in [0, 1], got " + body.sparsity(), "sparsity"));
        }
        if (body.sparsity() != null && !engine.hasPattern()) {
            return Mono.error(ApiException.invalid("this deployment has no DuoAttention pattern; omit sparsity",
                    "sparsity"));
        }
        if (body.systemPrompt() != null && tooLarge(body.systemPrompt())) {
            return Mono.error(tooLargeError("system_prompt"));
        }
        return Blocking.call(() -> {
            SessionRecord r = body.corpus() == null ? engine.create(caller.id(), body.sparsity(), body.systemPrompt())
                    : engine.createFromCorpus(caller.id(), corpora.readySnapshot(caller.id(), body.corpus(),
                            "corpus"), body.sparsity(), body.systemPrompt());
            audit.record(caller, "session.create", "session", r.getId().toString(), caller.id());
            return r;
        }).map(r -> ResponseEntity.status(HttpStatus.CREATED).body(view(r)));
    }

    @GetMapping
    @Operation(operationId = "listSessions", summary = "The caller's sessions, newest first")
    public Mono<SessionPage> list(
            @Parameter(schema = @Schema(minimum = "0")) @RequestParam(defaultValue = "0") int page,
            @Parameter(schema = @Schema(minimum = "1", maximum = "200")) @RequestParam(defaultValue = "20") int size,
            Caller caller) {
        if (page < 0) {
            return Mono.error(ApiException.invalid("page must be >= 0, got " + page, "page"));
        }
        if (size < 1 || size > MAX_PAGE_SIZE) {
            return Mono.error(ApiException.invalid("size must be in [1, " + MAX_PAGE_SIZE + "], got " + size, "size"));
        }
        return Blocking.call(() -> store.list(caller.id(), PageRequest.of(page, size,
                Sort.by(Sort.Direction.DESC, "createdAt"))))
                .map((Page<SessionRecord> p) -> new SessionPage(p.getContent().stream().map(this::view).toList(),
                        page, size, p.getTotalElements()));
    }

    @GetMapping("/{id}")
    @Operation(operationId = "getSession", summary = "A session: its size and where its KV is")
    public Mono<SessionView> get(@PathVariable String id, Caller caller) {
        UUID sid = parse(id);
        return Blocking.call(() -> {
            SessionRecord r = readable(caller, sid);
            audit.record(caller, "session.read", "session", id, r.getOwner());
            return view(r);
        });
    }

    @DeleteMapping("/{id}")
    @Operation(operationId = "deleteSession", summary = "Delete a session, its history and its KV in every tier")
    @ApiResponse(responseCode = "204", description = "deleted")
    public Mono<ResponseEntity<Void>> delete(@PathVariable String id, Caller caller) {
        UUID sid = parse(id);
        return Blocking.call(() -> {
            if (!engine.delete(caller.id(), sid)) {
                throw new SessionNotFoundException(sid);
            }
            audit.record(caller, "session.delete", "session", id, caller.id());
            return ResponseEntity.noContent().<Void>build();
        });
    }

    @GetMapping("/{id}/messages")
    @Operation(operationId = "listMessages", summary = "The conversation, in order")
    public Mono<MessageList> messages(@PathVariable String id, Caller caller) {
        UUID sid = parse(id);
        return Blocking.call(() -> {
            SessionRecord r = readable(caller, sid);
            audit.record(caller, "session.messages.read", "session", id, r.getOwner());
            return new MessageList(store.messages(sid).stream().map(SessionController::message).toList());
        });
    }

    @PostMapping(value = "/{id}/context", consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "appendContext", summary = "Prefill a document into the session's context")
    public Mono<ContextAppended> appendContext(@PathVariable String id, @RequestBody AppendContext body,
            Caller caller) {
        UUID sid = parse(id);
        if (body.text() == null || body.text().isEmpty()) {
            return Mono.error(ApiException.invalid("text is required and must not be empty", "text"));
        }
        if (tooLarge(body.text())) {
            return Mono.error(tooLargeError("text"));
        }
        if (body.name() != null && body.name().length() > MAX_NAME_LENGTH) {
            return Mono.error(ApiException.invalid("name is longer than " + MAX_NAME_LENGTH + " characters", "name"));
        }
        return Blocking.call(() -> {
            var appended = engine.appendDocument(caller.id(), sid, body.name(), body.text());
            audit.record(caller, "session.context.append", "session", id, caller.id());
            return appended;
        })
                .flatMap(Mono::fromFuture)
                .map(r -> new ContextAppended(r.documentTokens(), r.sessionTokens(), source(r.timing().kvSource()),
                        r.timing().prefillNanos() / 1e6));
    }

    @PostMapping(value = "/{id}/turns", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = {MediaType.APPLICATION_JSON_VALUE, MediaType.TEXT_EVENT_STREAM_VALUE})
    @Operation(operationId = "createTurn", summary = "Ask; the answer streams as Server-Sent Events (event: token "
            + "with TokenEvent, then event: done with TurnDone, or event: error with the error envelope), or comes "
            + "as one TurnResponse with stream false")
    @ApiResponse(responseCode = "200", description = "the answer", content = {
        @Content(mediaType = "application/json", schema = @Schema(implementation = TurnResponse.class)),
        @Content(mediaType = "text/event-stream", schema = @Schema(type = "string",
                description = "event: token / data: TokenEvent ... event: done / data: TurnDone"))})
    public Mono<ResponseEntity<?>> turn(@PathVariable String id, @RequestBody TurnRequest body, Caller caller) {
        UUID sid = parse(id);
        if (body.message() == null || body.message().isBlank()) {
            return Mono.error(ApiException.invalid("message is required and must not be blank", "message"));
        }
        if (tooLarge(body.message())) {
            return Mono.error(tooLargeError("message"));
        }
        SessionEngine.GenerationOptions options = Sampling.options(engineProperties, body.maxTokens(),
                body.temperature() != null ? body.temperature() : 0f, body.topP(), body.topK(), body.minP(),
                body.repetitionPenalty(), body.presencePenalty(), body.frequencyPenalty(), body.seed(),
                body.stop());
        boolean stream = body.stream() == null || body.stream();
        AtomicBoolean cancelled = new AtomicBoolean();
        Sinks.Many<String> pieces = Sinks.many().unicast().onBackpressureBuffer();
        long started = System.nanoTime();
        var listener = metrics.timingFirstToken(GenerationMetrics.Api.SESSIONS, started, (tokenId, text) -> {
            if (!text.isEmpty() && stream) {
                pieces.tryEmitNext(text);
            }
        });
        return Blocking.call(() -> {
            var future = engine.turn(caller.id(), sid, body.message(), options, listener, cancelled);
            audit.record(caller, "session.turn", "session", id, caller.id());
            return future;
        })
                .map(future -> {
                    future.whenComplete((r, e) -> {
                        pieces.tryEmitComplete();
                        if (r != null) {
                            metrics.generated(GenerationMetrics.Api.SESSIONS, r.usage().completionTokens());
                        }
                    });
                    if (!stream) {
                        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(Mono.fromFuture(future)
                                .map(r -> new TurnResponse(new Message("assistant", r.text(), r.tokens().length,
                                        finish(r.finishReason()), null), finish(r.finishReason()), usage(r.usage()),
                                        timing(r)))
                                .doOnCancel(() -> cancelled.set(true)));
                    }
                    Flux<ServerSentEvent<String>> tokens = pieces.asFlux()
                            .map(t -> event("token", new TokenEvent(t)));
                    Flux<ServerSentEvent<String>> done = Mono.fromFuture(future)
                            .map(r -> event("done", new TurnDone(finish(r.finishReason()), usage(r.usage()),
                                    timing(r))))
                            .onErrorResume(e -> Mono.just(event("error", ApiErrors.envelope(ApiErrors.classify(e)))))
                            .flux();
                    Flux<ServerSentEvent<String>> all = Flux.concat(tokens, done)
                            .doOnCancel(() -> cancelled.set(true));
                    return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(all);
                });
    }

    /** The caller's session, or for an admin anyone's (reads only); else 404. */
    private SessionRecord readable(Caller caller, UUID sid) {
        return (caller.admin() ? store.findAnyOwner(sid) : store.find(caller.id(), sid))
                .orElseThrow(() -> new SessionNotFoundException(sid));
    }

    private boolean tooLarge(String text) {
        return text.getBytes(StandardCharsets.UTF_8).length > sessionProperties.maxAppendSize().toBytes();
    }

    private ApiException tooLargeError(String field) {
        return new ApiException(HttpStatus.PAYLOAD_TOO_LARGE, "invalid_request_error", field
                + " is larger than the limit of " + sessionProperties.maxAppendSize().toBytes() + " bytes", field,
                "request_too_large");
    }

    private ServerSentEvent<String> event(String name, Object data) {
        return ServerSentEvent.<String>builder().event(name).data(json.writeValueAsString(data)).build();
    }

    static String finish(FinishReason r) {
        return SessionEngine.storedFinish(r);
    }

    static SessionApi.Usage usage(SessionEngine.Usage u) {
        return new SessionApi.Usage(u.promptTokens(), u.contextTokens(), u.completionTokens(),
                u.contextTokens() + u.promptTokens() + u.completionTokens());
    }

    static SessionApi.Timing timing(SessionEngine.TurnResult r) {
        double decodeMs = r.timing().decodeNanos() / 1e6;
        double tps = decodeMs > 0 ? Math.max(0, r.tokens().length - 1) / (decodeMs / 1000) : 0;
        return new SessionApi.Timing(r.timing().queueNanos() / 1e6, r.timing().prefillNanos() / 1e6, decodeMs, tps,
                source(r.timing().kvSource()));
    }

    static String source(KvTiers.Source s) {
        return s.name().toLowerCase(Locale.ROOT);
    }

    private SessionView view(SessionRecord r) {
        return view(engine, r);
    }

    /** A session as clients see it, with where its KV is now. */
    public static SessionView view(SessionEngine engine, SessionRecord r) {
        SessionEngine.SessionInfo info = engine.info(r.getOwner(), r.getId());
        Map<String, Long> bytes = info.kvBytes().entrySet().stream().collect(Collectors.toMap(
                e -> e.getKey().name().toLowerCase(Locale.ROOT), Map.Entry::getValue, (a, b) -> a,
                java.util.LinkedHashMap::new));
        return new SessionView(r.getId().toString(), r.getOwner(), r.getModel(), r.getSparsity(), r.getSystemPrompt(),
                r.getTokenCount(), info.state(), bytes, r.getCreatedAt(), r.getLastActiveAt(),
                r.getCorpusSnapshotId() == null ? null : r.getCorpusSnapshotId().toString(), r.getCorpusTokens());
    }

    private static Message message(MessageRecord m) {
        return new Message(m.getRole(), m.getContent(), m.getTokenCount(), m.getFinishReason(), m.getCreatedAt());
    }

    static UUID parse(String id) {
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "session " + id + " not found",
                    "session_id", "session_not_found");
        }
    }

}
