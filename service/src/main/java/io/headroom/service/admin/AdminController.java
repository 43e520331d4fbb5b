package io.headroom.service.admin;

import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.service.admin.AdminApi.AuditEvent;
import io.headroom.service.admin.AdminApi.AuditPage;
import io.headroom.service.admin.AdminApi.EngineStatus;
import io.headroom.service.admin.AdminApi.QuotaLimits;
import io.headroom.service.admin.AdminApi.UserQuotas;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.Blocking;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.chat.SessionApi.SessionPage;
import io.headroom.service.chat.SessionController;
import io.headroom.service.quota.Quotas;
import io.headroom.service.security.Caller;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.store.SessionStore;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.springframework.data.domain.PageRequest;
import org.springframework.data.domain.Sort;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * What only admins see (the API chain lets no one else in: 403): every user's sessions, the audit
 * trail, the engine's state, and users' quotas (set per user here; they override the defaults).
 * Admins read other users' objects through the ordinary routes too, but never change them.
 */
@RestController
@RequestMapping("/v1/admin")
public class AdminController {

    static final int MAX_PAGE_SIZE = 200;
    static final int MAX_USER_LENGTH = 256;

    private final SessionEngine engine;
    private final SessionStore store;
    private final AuditLog audit;
    private final Quotas quotas;
    private final CorpusStore uploads;

    public AdminController(SessionEngine engine, SessionStore store, AuditLog audit, Quotas quotas,
            CorpusStore uploads) {
        this.engine = engine;
        this.store = store;
        this.audit = audit;
        this.quotas = quotas;
        this.uploads = uploads;
    }

    @GetMapping("/sessions")
    @Operation(operationId = "adminListSessions", summary = "Every user's sessions (or one user's), newest first")
    public Mono<SessionPage> sessions(@RequestParam(required = false) String owner,
            @Parameter(schema = @Schema(minimum = "0")) @RequestParam(defaultValue = "0") int page,
            @Parameter(schema = @Schema(minimum = "1", maximum = "200")) @RequestParam(defaultValue = "20") int size,
            Caller caller) {
        checkPage(page, size);
        checkFilter("owner", owner);
        return Blocking.call(() -> {
            var p = store.listAnyOwner(owner, PageRequest.of(page, size, Sort.by(Sort.Direction.DESC, "createdAt")));
            audit.record(caller, "admin.sessions.list", "session", null, owner);
            return new SessionPage(p.getContent().stream().map(r -> SessionController.view(engine, r)).toList(), page,
                    size, p.getTotalElements());
        });
    }

    @GetMapping("/audit")
    @Operation(operationId = "adminListAuditEvents", summary = "The audit trail, newest first; filter by actor, "
            + "action or object owner; page with before")
    public Mono<AuditPage> auditEvents(@RequestParam(required = false) String actor,
            @RequestParam(required = false) String action, @RequestParam(required = false) String owner,
            @Parameter(schema = @Schema(minimum = "1")) @RequestParam(required = false) Long before,
            @Parameter(schema = @Schema(minimum = "1", maximum = "200")) @RequestParam(defaultValue = "50") int limit) {
        if (limit < 1 || limit > MAX_PAGE_SIZE) {
            return Mono.error(ApiException.invalid("limit must be in [1, " + MAX_PAGE_SIZE + "], got " + limit,
                    "limit"));
        }
        checkFilter("actor", actor);
        checkFilter("action", action);
        checkFilter("owner", owner);
        if (before != null && before < 1) {
            return Mono.error(ApiException.invalid("before must be >= 1, got " + before, "before"));
        }
        return Blocking.call(() -> {
            List<AuditLog.Event> events = audit.page(actor, action, owner, before, limit + 1);
            boolean more = events.size() > limit;
            List<AuditEvent> page = events.stream().limit(limit).map(e -> new AuditEvent(e.id(), e.occurredAt(),
                    e.actor(), e.via(), e.action(), e.objectType(), e.objectId(), e.objectOwner(), e.remoteAddr()))
                    .toList();
            return new AuditPage(page, more, more ? page.getLast().id() : null);
        });
    }

    @GetMapping("/engine")
    @Operation(operationId = "adminEngineStatus", summary = "The engine's queue and where KV lives")
    public EngineStatus engineStatus() {
        Map<String, Long> bytes = new LinkedHashMap<>();
        engine.tiers().totals().forEach((t, b) -> bytes.put(t.name().toLowerCase(Locale.ROOT), b));
        List<Integer> counts = engine.tiers().counts();
        return new EngineStatus(engine.modelName(), engine.queue().depth(), engine.queue().capacity(), bytes,
                Map.of("device", counts.get(0), "host", counts.get(1)));
    }

    @GetMapping("/quotas/{user}")
    @Operation(operationId = "adminGetQuotas", summary = "A user's quotas: in effect, overridden, used")
    public Mono<UserQuotas> getQuotas(@PathVariable String user) {
        checkUser(user);
        return Blocking.call(() -> userQuotas(user));
    }

    @PutMapping(value = "/quotas/{user}", consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "adminSetQuotas", summary = "Set a user's quota overrides (null or absent: the default)")
    public Mono<UserQuotas> setQuotas(@PathVariable String user, @RequestBody QuotaLimits body, Caller caller) {
        checkUser(user);
        for (var e : Map.of("sessions", nn(body.sessions()), "stored_tokens", nn(body.storedTokens()), "kv_bytes",
                nn(body.kvBytes()), "requests_per_minute", nn(body.requestsPerMinute()), "tokens_per_minute",
                nn(body.tokensPerMinute()), "upload_bytes", nn(body.uploadBytes())).entrySet()) {
            if (e.getValue() < 0) {
                return Mono.error(ApiException.invalid(e.getKey() + " must be >= 0", e.getKey()));
            }
        }
        return Blocking.call(() -> {
            quotas.setOverrides(user, new Quotas.Overrides(body.sessions(), body.storedTokens(), body.kvBytes(),
                    body.requestsPerMinute(), body.tokensPerMinute(), body.uploadBytes()));
            audit.record(caller, "admin.quotas.set", "user", user, user);
            return userQuotas(user);
        });
    }

    private UserQuotas userQuotas(String user) {
        Quotas.Limits l = quotas.limits(user);
        Quotas.Overrides o = quotas.overrides(user).orElse(new Quotas.Overrides(null, null, null, null, null, null));
        return new UserQuotas(user, new QuotaLimits(l.sessions(), l.storedTokens(), l.kvBytes(), l.requestsPerMinute(),
                l.tokensPerMinute(), l.uploadBytes()), new QuotaLimits(o.sessions(), o.storedTokens(), o.kvBytes(),
                o.requestsPerMinute(), o.tokensPerMinute(), o.uploadBytes()),
                new QuotaLimits((int) store.sessionIds(user).size(), store.storedTokens(user), quotas.kvBytes(user),
                        null, null, uploads.userBytes(user)));
    }

    private static long nn(Number n) {
        return n == null ? 0 : n.longValue();
    }

    private static void checkUser(String user) {
        if (user.isBlank() || user.length() > MAX_USER_LENGTH || user.chars().anyMatch(c -> c < 0x20)) {
            throw ApiException.invalid("user must be 1 to " + MAX_USER_LENGTH + " characters without control "
                    + "characters", "user");
        }
    }

    /** A filter value from the query string: a user name or an action, never control characters. */
    private static void checkFilter(String name, String value) {
        if (value != null && (value.length() > MAX_USER_LENGTH || value.chars().anyMatch(c -> c < 0x20))) {
            throw ApiException.invalid(name + " must be at most " + MAX_USER_LENGTH + " characters without control "
                    + "characters", name);
        }
    }

    private static void checkPage(int page, int size) {
        if (page < 0) {
            throw ApiException.invalid("page must be >= 0, got " + page, "page");
        }
        if (size < 1 || size > MAX_PAGE_SIZE) {
            throw ApiException.invalid("size must be in [1, " + MAX_PAGE_SIZE + "], got " + size, "size");
        }
    }

}
