package io.headroom.service.apikeys;

import io.headroom.service.audit.AuditLog;
import io.headroom.service.security.Caller;
import io.headroom.service.security.CallerAuthentication;
import io.headroom.service.security.SecurityProperties;
import java.time.Instant;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.core.Authentication;
import org.springframework.security.oauth2.server.resource.InvalidBearerTokenException;
import org.springframework.security.oauth2.server.resource.authentication.BearerTokenAuthenticationToken;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Authenticates {@code Authorization: Bearer hr_...}: the key must exist, not be revoked and not be
 * expired. The request then acts as the key's owner, with the user role only (admin work needs a
 * signed-in admin). Uses are recorded in the key's {@code last_used_at} and the audit trail, at most
 * once per {@code headroom.security.api-keys.use-record-interval}.
 */
public final class ApiKeyAuthenticationManager implements ReactiveAuthenticationManager {

    private final ApiKeyStore keys;
    private final AuditLog audit;
    private final SecurityProperties.ApiKeys settings;

    public ApiKeyAuthenticationManager(ApiKeyStore keys, AuditLog audit, SecurityProperties.ApiKeys settings) {
        this.keys = keys;
        this.audit = audit;
        this.settings = settings;
    }

    /** Whether a bearer token is an API key (rather than a JWT). */
    public static boolean isApiKey(String token) {
        return token != null && token.startsWith(ApiKeyStore.PREFIX);
    }

    @Override
    public Mono<Authentication> authenticate(Authentication authentication) {
        if (!(authentication instanceof BearerTokenAuthenticationToken bearer) || !isApiKey(bearer.getToken())) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> {
            ApiKeyStore.ApiKey key = keys.bySecret(bearer.getToken())
                    .orElseThrow(() -> new InvalidBearerTokenException("invalid API key"));
            if (key.revokedAt() != null) {
                throw new InvalidBearerTokenException("this API key has been revoked");
            }
            if (key.expired(Instant.now())) {
                throw new InvalidBearerTokenException("this API key has expired");
            }
            Caller caller = new Caller(key.owner(), false, Caller.Via.API_KEY, key.id().toString());
            if (keys.recordUse(key.id(), settings.useRecordInterval())) {
                audit.record(caller, "api_key.use", "api_key", key.id().toString(), key.owner());
            }
            return (Authentication) new CallerAuthentication(caller);
        }).subscribeOn(Schedulers.boundedElastic());
    }
}
