package io.headroom.service.quota;

import io.headroom.service.api.ApiErrorWebExceptionHandler;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.security.Callers;
import io.headroom.sessions.QuotaExceededException;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Counts every authenticated API request against its user's per-minute quota; over it: 429. The
 * local mode's one user is not counted: the limit shares a service fairly among users, and a
 * loopback-only service has one.
 */
public final class RequestQuotaFilter implements WebFilter {

    private final Quotas quotas;
    private final Callers callers;

    public RequestQuotaFilter(Quotas quotas, Callers callers) {
        this.quotas = quotas;
        this.callers = callers;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        return ReactiveSecurityContextHolder.getContext().map(SecurityContext::getAuthentication)
                .mapNotNull(callers::from)
                .filter(c -> c.via() != io.headroom.service.security.Caller.Via.LOCAL)
                .flatMap(c -> Mono.fromCallable(() -> {
                    quotas.countRequest(c.id());
                    return true;
                }).subscribeOn(Schedulers.boundedElastic()))
                .then(chain.filter(exchange))
                .onErrorResume(QuotaExceededException.class,
                        e -> ApiErrorWebExceptionHandler.render(exchange, ApiErrors.classify(e)));
    }
}
