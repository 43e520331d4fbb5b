package io.headroom.service.security;

import io.headroom.service.apikeys.ApiKeyAuthenticationManager;
import io.headroom.service.apikeys.ApiKeyStore;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.quota.Quotas;
import io.headroom.service.quota.RequestQuotaFilter;
import io.headroom.service.security.web.BrowserLogin;
import io.headroom.service.security.web.PostgresOidcSessionRegistry;
import io.headroom.service.security.web.PostgresWebSessionStore;
import java.time.Clock;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.authorization.AuthorizationDecision;
import org.springframework.security.authorization.ReactiveAuthorizationManager;
import org.springframework.security.config.annotation.web.reactive.EnableWebFluxSecurity;
import org.springframework.security.config.web.server.SecurityWebFiltersOrder;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.security.oauth2.jwt.JwtClaimValidator;
import org.springframework.security.oauth2.jwt.JwtIssuerValidator;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.JwtTypeValidator;
import org.springframework.security.oauth2.jwt.NimbusReactiveJwtDecoder;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.server.resource.InvalidBearerTokenException;
import org.springframework.security.oauth2.server.resource.authentication.BearerTokenAuthenticationToken;
import org.springframework.security.oauth2.server.resource.authentication.JwtReactiveAuthenticationManager;
import org.springframework.security.oauth2.server.resource.web.server.authentication.ServerBearerTokenAuthenticationConverter;
import org.springframework.security.web.server.authentication.ServerAuthenticationConverter;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.authorization.AuthorizationContext;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;
import org.springframework.security.web.server.context.ServerSecurityContextRepository;
import org.springframework.security.web.server.context.WebSessionServerSecurityContextRepository;
import org.springframework.security.web.server.csrf.WebSessionServerCsrfTokenRepository;
import org.springframework.security.web.server.firewall.ServerExchangeRejectedHandler;
import org.springframework.security.web.server.header.ReferrerPolicyServerHttpHeadersWriter.ReferrerPolicy;
import org.springframework.security.web.server.savedrequest.NoOpServerRequestCache;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatchers;
import org.springframework.transaction.support.TransactionTemplate;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.reactive.UrlBasedCorsConfigurationSource;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.adapter.WebHttpHandlerBuilder;
import org.springframework.web.server.session.CookieWebSessionIdResolver;
import org.springframework.web.server.session.DefaultWebSessionManager;
import org.springframework.web.server.session.WebSessionManager;
import reactor.core.publisher.Mono;

/**
 * Identity for the whole service, in two filter chains (Spring Security on WebFlux):
 * <ul>
 *   <li><b>API</b> ({@code /v1}, {@code /v1/**}): a bearer token on every request, either an API key
 *       ({@code hr_...}) or a JWT from the identity provider (issuer, audience, expiry, not-before,
 *       signature against the provider's JWKS, fetched and cached by Nimbus, refetched for an
 *       unknown key id); or the browser's session cookie from the portal, then with a CSRF token on
 *       every state-changing request. {@code /v1/admin/**} needs the admin role. Errors are 401 with
 *       {@code WWW-Authenticate} and 403, in the error envelope.</li>
 *   <li><b>Web</b> (everything else): the browser's sign-in through the provider (authorization code
 *       with PKCE), the backend-for-frontend way: tokens stay in the server-side session (in
 *       PostgreSQL), the browser holds an HttpOnly cookie; CSRF on every state-changing request;
 *       RP-initiated and back-channel logout. Health, metrics and the OpenAPI document are open.</li>
 * </ul>
 * In {@code local} mode (no provider) requests without credentials act as the local user and the
 * server listens on loopback only ({@link LocalModeGuard}).
 */
@Configuration(proxyBeanMethods = false)
@EnableWebFluxSecurity
public class SecurityConfiguration {

    private static final Logger LOG = LoggerFactory.getLogger(SecurityConfiguration.class);

    /** Response headers for every page and answer: no framing, no sniffing, no referrer, scripts from here only. */
    public static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

    @Bean(destroyMethod = "close")
    @ConditionalOnExpression("'${headroom.security.mode:}'.toLowerCase().replace('_', '-') == 'dev-oidc'")
    DevIdentityProvider devIdentityProvider(SecurityProperties properties) {
        return new DevIdentityProvider(properties.devOidc().port());
    }

    @Bean
    IdentitySettings identitySettings(SecurityProperties properties, ObjectProvider<DevIdentityProvider> dev) {
        IdentitySettings settings = IdentitySettings.of(properties, dev.getIfAvailable());
        LOG.info("{}", settings.describe());
        return settings;
    }

    @Bean
    PostgresWebSessionStore webSessionStore(JdbcClient jdbc, SecurityProperties properties) {
        return new PostgresWebSessionStore(jdbc, properties.cookie().idleTimeout(), Clock.systemUTC());
    }

    @Bean(WebHttpHandlerBuilder.WEB_SESSION_MANAGER_BEAN_NAME)
    WebSessionManager webSessionManager(PostgresWebSessionStore store, SecurityProperties properties) {
        SecurityProperties.Cookie cookie = properties.cookie();
        DefaultWebSessionManager manager = new DefaultWebSessionManager();
        manager.setSessionStore(store);
        CookieWebSessionIdResolver ids = new CookieWebSessionIdResolver();
        ids.setCookieName(cookie.name());
        ids.setCookieMaxAge(java.time.Duration.ofSeconds(-1));
        ids.addCookieInitializer(b -> b.httpOnly(true).secure(cookie.secure()).sameSite(cookie.sameSite()).path("/"));
        manager.setSessionIdResolver(ids);
        return manager;
    }

    /**
     * Requests the firewall refuses (an encoded NUL, {@code ..}, an encoded slash in the path): a
     * 400 in the error envelope on the API, a plain 400 elsewhere.
     */
    @Bean
    ServerExchangeRejectedHandler rejectedRequests() {
        return (exchange, rejected) -> {
            if (io.headroom.service.api.ApiErrorWebExceptionHandler.isApi(exchange.getRequest().getPath().value())) {
                return io.headroom.service.api.ApiErrorWebExceptionHandler.render(exchange,
                        new io.headroom.service.api.ApiException(org.springframework.http.HttpStatus.BAD_REQUEST,
                                "invalid_request_error", "the request path holds a sequence this service refuses "
                                + "(an encoded NUL, slash or backslash, or a '..' segment)", null, "invalid_uri"));
            }
            exchange.getResponse().setStatusCode(org.springframework.http.HttpStatus.BAD_REQUEST);
            return exchange.getResponse().setComplete();
        };
    }

    @Bean
    PostgresOidcSessionRegistry oidcSessionRegistry(JdbcClient jdbc, TransactionTemplate tx) {
        return new PostgresOidcSessionRegistry(jdbc, tx);
    }

    @Bean
    ApiKeyAuthenticationManager apiKeyAuthenticationManager(ApiKeyStore keys, AuditLog audit,
            SecurityProperties properties) {
        return new ApiKeyAuthenticationManager(keys, audit, properties.apiKeys());
    }

    /** Session-stored security contexts for cookie requests; nothing stored for bearer requests. */
    static ServerSecurityContextRepository contexts() {
        WebSessionServerSecurityContextRepository sessions = new WebSessionServerSecurityContextRepository();
        NoOpServerSecurityContextRepository none = NoOpServerSecurityContextRepository.getInstance();
        return new ServerSecurityContextRepository() {
            @Override
            public Mono<Void> save(ServerWebExchange exchange, SecurityContext c) {
                return bearer(exchange) ? none.save(exchange, c) : sessions.save(exchange, c);
            }

            @Override
            public Mono<SecurityContext> load(ServerWebExchange exchange) {
                return bearer(exchange) ? none.load(exchange) : sessions.load(exchange);
            }
        };
    }

    static boolean bearer(ServerWebExchange exchange) {
        return exchange.getRequest().getHeaders().containsHeader(HttpHeaders.AUTHORIZATION);
    }

    @Bean
    @Order(1)
    SecurityWebFilterChain apiChain(ServerHttpSecurity http, IdentitySettings identity, Callers callers,
            ApiKeyAuthenticationManager apiKeys, SecurityProperties properties, Quotas quotas) {
        ApiAuthenticationErrors errors = new ApiAuthenticationErrors();
        ReactiveAuthenticationManager jwt = identity.issuer() == null ? null : jwtManager(identity, callers);
        ReactiveAuthenticationManager bearer = a -> {
            if (a instanceof BearerTokenAuthenticationToken b && ApiKeyAuthenticationManager.isApiKey(b.getToken())) {
                return apiKeys.authenticate(a);
            }
            if (jwt == null) {
                return Mono.error(new InvalidBearerTokenException("this service has no identity provider (local "
                        + "mode): send an API key (hr_...) or no Authorization header"));
            }
            return jwt.authenticate(a);
        };
        http.securityMatcher(ServerWebExchangeMatchers.pathMatchers("/v1", "/v1/**"))
                .securityContextRepository(contexts())
                .requestCache(c -> c.requestCache(NoOpServerRequestCache.getInstance()))
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                .formLogin(ServerHttpSecurity.FormLoginSpec::disable)
                .logout(ServerHttpSecurity.LogoutSpec::disable)
                .anonymous(a -> { })
                .csrf(c -> c.csrfTokenRepository(new WebSessionServerCsrfTokenRepository())
                        .requireCsrfProtectionMatcher(browserStateChange(properties.cookie().name()))
                        .accessDeniedHandler(errors))
                .headers(h -> headers(h))
                .authorizeExchange(a -> a
                        .pathMatchers("/v1/admin", "/v1/admin/**").access(admin(callers))
                        .anyExchange().access(authenticatedCaller(callers)))
                .exceptionHandling(e -> e.authenticationEntryPoint(errors).accessDeniedHandler(errors))
                .oauth2ResourceServer(rs -> rs.authenticationManagerResolver(exchange -> Mono.just(bearer))
                        .bearerTokenConverter(bearerTokens(identity.mode()))
                        .authenticationEntryPoint(errors).accessDeniedHandler(errors));
        cors(http, properties.cors());
        if (identity.mode() == SecurityProperties.Mode.LOCAL) {
            http.addFilterAt(localUser(callers), SecurityWebFiltersOrder.AUTHENTICATION);
        }
        http.addFilterAfter(new RequestQuotaFilter(quotas, callers), SecurityWebFiltersOrder.AUTHORIZATION);
        return http.build();
    }

    @Bean
    @Order(2)
    SecurityWebFilterChain webChain(ServerHttpSecurity http, IdentitySettings identity, Callers callers,
            BrowserLogin browserLogin, PostgresOidcSessionRegistry registry, SecurityProperties properties) {
        http.securityContextRepository(new WebSessionServerSecurityContextRepository())
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                .formLogin(ServerHttpSecurity.FormLoginSpec::disable)
                .csrf(c -> c.csrfTokenRepository(new WebSessionServerCsrfTokenRepository()))
                .headers(h -> headers(h))
                .cors(ServerHttpSecurity.CorsSpec::disable)
                .authorizeExchange(a -> a
                        .pathMatchers("/actuator/health", "/actuator/health/**", "/actuator/info",
                                "/actuator/prometheus").permitAll()
                        .pathMatchers("/actuator", "/actuator/**").access(admin(callers))
                        .pathMatchers("/v3/api-docs", "/v3/api-docs/**", "/v3/api-docs.yaml", "/swagger-ui.html",
                                "/swagger-ui/**", "/webjars/**").permitAll()
                        .pathMatchers("/", "/auth/login", "/auth/me", "/favicon.ico", "/error",
                                "/logout/connect/back-channel/**").permitAll()
                        .anyExchange().access(authenticatedCaller(callers)));
        if (identity.mode() == SecurityProperties.Mode.LOCAL) {
            http.addFilterAt(localUser(callers), SecurityWebFiltersOrder.AUTHENTICATION)
                    .logout(ServerHttpSecurity.LogoutSpec::disable);
        } else if (identity.browserLogin()) {
            browserLogin.configure(http, identity, registry);
        } else {
            http.logout(ServerHttpSecurity.LogoutSpec::disable)
                    .exceptionHandling(e -> e.authenticationEntryPoint(new ApiAuthenticationErrors()));
        }
        return http.build();
    }

    private static void headers(ServerHttpSecurity.HeaderSpec h) {
        h.contentSecurityPolicy(c -> c.policyDirectives(CONTENT_SECURITY_POLICY))
                .referrerPolicy(r -> r.policy(ReferrerPolicy.NO_REFERRER))
                .frameOptions(f -> f.mode(org.springframework.security.web.server.header
                        .XFrameOptionsServerHttpHeadersWriter.Mode.DENY));
    }

    private static void cors(ServerHttpSecurity http, SecurityProperties.Cors cors) {
        if (cors.allowedOrigins().isEmpty()) {
            http.cors(ServerHttpSecurity.CorsSpec::disable);
            return;
        }
        CorsConfiguration c = new CorsConfiguration();
        c.setAllowedOrigins(cors.allowedOrigins());
        c.setAllowedMethods(List.of("GET", "POST", "PUT", "DELETE"));
        c.setAllowedHeaders(List.of(HttpHeaders.AUTHORIZATION, HttpHeaders.CONTENT_TYPE));
        c.setExposedHeaders(List.of(HttpHeaders.RETRY_AFTER));
        c.setAllowCredentials(false);
        UrlBasedCorsConfigurationSource source = new UrlBasedCorsConfigurationSource();
        source.registerCorsConfiguration("/v1/**", c);
        http.cors(s -> s.configurationSource(source));
    }

    /** State-changing requests that ride on the browser's session cookie (bearer requests need no CSRF token). */
    static ServerWebExchangeMatcher browserStateChange(String cookieName) {
        return exchange -> {
            HttpMethod m = exchange.getRequest().getMethod();
            boolean safe = m == HttpMethod.GET || m == HttpMethod.HEAD || m == HttpMethod.OPTIONS
                    || m == HttpMethod.TRACE;
            boolean cookie = exchange.getRequest().getCookies().containsKey(cookieName);
            return !safe && !bearer(exchange) && cookie ? ServerWebExchangeMatcher.MatchResult.match()
                    : ServerWebExchangeMatcher.MatchResult.notMatch();
        };
    }

    /**
     * Every request without an API key acts as the local user ({@code local} mode only). OpenAI
     * client libraries always send some key: one that is not a Headroom key is not a credential here
     * (there is no provider to check it against), so it is ignored rather than refused.
     */
    private static WebFilter localUser(Callers callers) {
        CallerAuthentication local = new CallerAuthentication(callers.local());
        return (exchange, chain) -> apiKeyPresented(exchange) ? chain.filter(exchange)
                : chain.filter(exchange).contextWrite(ReactiveSecurityContextHolder.withAuthentication(local));
    }

    /** Bearer tokens from the Authorization header; in local mode API keys only (see {@link #localUser}). */
    private static ServerAuthenticationConverter bearerTokens(SecurityProperties.Mode mode) {
        ServerBearerTokenAuthenticationConverter tokens = new ServerBearerTokenAuthenticationConverter();
        if (mode != SecurityProperties.Mode.LOCAL) {
            return tokens;
        }
        return exchange -> apiKeyPresented(exchange) ? tokens.convert(exchange) : Mono.empty();
    }

    static boolean apiKeyPresented(ServerWebExchange exchange) {
        String h = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        return h != null && h.regionMatches(true, 0, "Bearer ", 0, 7)
                && ApiKeyAuthenticationManager.isApiKey(h.substring(7).strip());
    }

    private static ReactiveAuthorizationManager<AuthorizationContext> authenticatedCaller(Callers callers) {
        return (authentication, context) -> authentication
                .<org.springframework.security.authorization.AuthorizationResult>map(a -> new AuthorizationDecision(
                        a.isAuthenticated() && caller(callers, a) != null))
                .defaultIfEmpty(new AuthorizationDecision(false));
    }

    private static ReactiveAuthorizationManager<AuthorizationContext> admin(Callers callers) {
        return (authentication, context) -> authentication
                .<org.springframework.security.authorization.AuthorizationResult>map(a -> {
                    Caller c = a.isAuthenticated() ? caller(callers, a) : null;
                    return new AuthorizationDecision(c != null && c.admin());
                })
                .defaultIfEmpty(new AuthorizationDecision(false));
    }

    private static Caller caller(Callers callers, Authentication a) {
        try {
            return callers.from(a);
        } catch (Callers.InvalidIdentityException e) {
            return null;
        }
    }

    /** JWTs from the provider: signature (JWKS), issuer, audience, expiry and not-before (60 s skew), type. */
    private static ReactiveAuthenticationManager jwtManager(IdentitySettings identity, Callers callers) {
        String issuer = identity.issuer().toString();
        NimbusReactiveJwtDecoder decoder = NimbusReactiveJwtDecoder.withIssuerLocation(issuer).build();
        JwtTypeValidator type = new JwtTypeValidator("JWT", "at+jwt", "application/at+jwt");
        type.setAllowEmpty(true);
        decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(List.of(type, new JwtTimestampValidator(),
                new JwtIssuerValidator(issuer), new JwtClaimValidator<List<String>>("aud",
                        aud -> aud != null && aud.contains(identity.audience())))));
        JwtReactiveAuthenticationManager manager = new JwtReactiveAuthenticationManager(decoder);
        manager.setJwtAuthenticationConverter(token -> Mono.fromCallable(() -> {
            try {
                return new CallerAuthentication(callers.fromClaims(token.getClaims(), Caller.Via.JWT));
            } catch (Callers.InvalidIdentityException e) {
                throw new InvalidBearerTokenException(e.getMessage());
            }
        }));
        return manager;
    }
}
