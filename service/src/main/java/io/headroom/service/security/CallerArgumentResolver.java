package io.headroom.service.security;

import org.springdoc.core.utils.SpringDocUtils;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.MethodParameter;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.web.reactive.BindingContext;
import org.springframework.web.reactive.config.WebFluxConfigurer;
import org.springframework.web.reactive.result.method.HandlerMethodArgumentResolver;
import org.springframework.web.reactive.result.method.annotation.ArgumentResolverConfigurer;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * Gives controller methods a {@link Caller} parameter: the authenticated user of the request, with
 * the client's address for the audit trail. The security chains admit no request to a controller
 * without one, so a missing caller is a server fault, never an anonymous request served.
 */
@Configuration(proxyBeanMethods = false)
public class CallerArgumentResolver implements HandlerMethodArgumentResolver, WebFluxConfigurer {

    static {
        SpringDocUtils.getConfig().addRequestWrapperToIgnore(Caller.class);
    }

    private final Callers callers;

    public CallerArgumentResolver(Callers callers) {
        this.callers = callers;
    }

    @Override
    public void configureArgumentResolvers(ArgumentResolverConfigurer configurer) {
        configurer.addCustomResolver(this);
    }

    @Override
    public boolean supportsParameter(MethodParameter parameter) {
        return parameter.getParameterType() == Caller.class;
    }

    @Override
    public Mono<Object> resolveArgument(MethodParameter parameter, BindingContext context, ServerWebExchange exchange) {
        var address = exchange.getRequest().getRemoteAddress();
        String remote = address == null || address.getAddress() == null ? null : address.getAddress().getHostAddress();
        return ReactiveSecurityContextHolder.getContext().map(SecurityContext::getAuthentication)
                .mapNotNull(callers::from)
                .switchIfEmpty(Mono.error(() -> new IllegalStateException("a request reached a controller without "
                        + "an authenticated caller")))
                .map(c -> c.from(remote));
    }
}
