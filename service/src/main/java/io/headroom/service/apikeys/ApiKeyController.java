package io.headroom.service.apikeys;

import io.headroom.service.api.ApiException;
import io.headroom.service.api.Blocking;
import io.headroom.service.apikeys.ApiKeyApi.ApiKeyCreated;
import io.headroom.service.apikeys.ApiKeyApi.ApiKeyList;
import io.headroom.service.apikeys.ApiKeyApi.ApiKeyView;
import io.headroom.service.apikeys.ApiKeyApi.CreateApiKey;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.security.Caller;
import io.headroom.service.security.SecurityProperties;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import java.time.Instant;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * A user's API keys, for service accounts and OpenAI client libraries: created (the secret shown
 * once), listed, revoked. A key cannot create keys: a leaked key must not be able to outlive its
 * revocation through a key it made.
 */
@RestController
@RequestMapping("/v1/api-keys")
public class ApiKeyController {

    static final int MAX_NAME_LENGTH = 100;

    private final ApiKeyStore keys;
    private final AuditLog audit;
    private final SecurityProperties.ApiKeys settings;

    public ApiKeyController(ApiKeyStore keys, AuditLog audit, SecurityProperties properties) {
        this.keys = keys;
        this.audit = audit;
        this.settings = properties.apiKeys();
    }

    @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "createApiKey", summary = "Create an API key; its secret is in this answer only")
    @ApiResponse(responseCode = "201", description = "created",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ApiKeyCreated.class)))
    public Mono<ResponseEntity<ApiKeyCreated>> create(@RequestBody CreateApiKey body, Caller caller) {
        if (caller.via() == Caller.Via.API_KEY) {
            return Mono.error(new ApiException(HttpStatus.FORBIDDEN, "invalid_request_error", "an API key cannot "
                    + "create API keys: sign in, or use an access token from the identity provider", null,
                    "permission_denied"));
        }
        String name = body.name() == null ? null : body.name().strip();
        if (name == null || name.isEmpty()) {
            return Mono.error(ApiException.invalid("name is required and must not be blank", "name"));
        }
        if (name.length() > MAX_NAME_LENGTH || name.chars().anyMatch(Character::isISOControl)) {
            return Mono.error(ApiException.invalid("name must be at most " + MAX_NAME_LENGTH
                    + " characters without control characters", "name"));
        }
        Instant now = Instant.now();
        if (body.expiresAt() != null && !body.expiresAt().isAfter(now)) {
            return Mono.error(ApiException.invalid("expires_at must be in the future", "expires_at"));
        }
        if (!settings.maxLifetime().isZero()) {
            Instant latest = now.plus(settings.maxLifetime());
            if (body.expiresAt() == null || body.expiresAt().isAfter(latest)) {
                return Mono.error(ApiException.invalid("expires_at is required and may be at most "
                        + settings.maxLifetime().toDays() + " days ahead on this service", "expires_at"));
            }
        }
        return Blocking.call(() -> {
            ApiKeyStore.Created c = keys.create(caller.id(), name, body.expiresAt(), settings.maxPerUser());
            audit.record(caller, "api_key.create", "api_key", c.key().id().toString(), caller.id());
            ApiKeyStore.ApiKey k = c.key();
            return ResponseEntity.status(HttpStatus.CREATED).body(new ApiKeyCreated(k.id().toString(), "api_key",
                    k.name(), c.secret(), k.prefix(), k.createdAt(), k.expiresAt()));
        });
    }

    @GetMapping
    @Operation(operationId = "listApiKeys", summary = "The caller's API keys (never their secrets)")
    public Mono<ApiKeyList> list(Caller caller) {
        return Blocking.call(() -> new ApiKeyList("list", keys.list(caller.id()).stream().map(ApiKeyController::view)
                .toList()));
    }

    @GetMapping("/{id}")
    @Operation(operationId = "getApiKey", summary = "One of the caller's API keys (an admin's: anyone's)")
    public Mono<ApiKeyView> get(@PathVariable String id, Caller caller) {
        UUID kid = parse(id);
        return Blocking.call(() -> {
            ApiKeyStore.ApiKey k = (caller.admin() ? keys.findAnyOwner(kid) : keys.find(caller.id(), kid))
                    .orElseThrow(() -> notFound(id));
            if (!k.owner().equals(caller.id())) {
                audit.record(caller, "api_key.read", "api_key", id, k.owner());
            }
            return view(k);
        });
    }

    @DeleteMapping("/{id}")
    @Operation(operationId = "deleteApiKey", summary = "Revoke an API key: it stops working at once")
    @ApiResponse(responseCode = "204", description = "revoked")
    public Mono<ResponseEntity<Void>> delete(@PathVariable String id, Caller caller) {
        UUID kid = parse(id);
        return Blocking.call(() -> {
            if (!keys.revoke(caller.id(), kid)) {
                throw notFound(id);
            }
            audit.record(caller, "api_key.revoke", "api_key", id, caller.id());
            return ResponseEntity.noContent().<Void>build();
        });
    }

    private static ApiKeyView view(ApiKeyStore.ApiKey k) {
        return new ApiKeyView(k.id().toString(), "api_key", k.name(), k.prefix(), k.createdAt(), k.lastUsedAt(),
                k.expiresAt());
    }

    private static UUID parse(String id) {
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw notFound(id);
        }
    }

    private static ApiException notFound(String id) {
        return new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "API key " + id + " not found", "id",
                "api_key_not_found");
    }

}
