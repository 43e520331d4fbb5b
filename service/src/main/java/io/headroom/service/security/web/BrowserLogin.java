package io.headroom.service.security.web;

import io.headroom.service.audit.AuditLog;
import io.headroom.service.security.Caller;
import io.headroom.service.security.Callers;
import io.headroom.service.security.IdentitySettings;
import java.net.URI;
import java.time.Duration;
import org.springframework.http.HttpStatus;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.oauth2.client.oidc.authentication.logout.OidcLogoutToken;
import org.springframework.security.oauth2.client.oidc.web.server.logout.OidcClientInitiatedServerLogoutSuccessHandler;
import org.springframework.security.oauth2.client.registration.ClientRegistration;
import org.springframework.security.oauth2.client.registration.ClientRegistrations;
import org.springframework.security.oauth2.client.registration.ReactiveClientRegistrationRepository;
import org.springframework.security.oauth2.client.web.server.WebSessionServerOAuth2AuthorizedClientRepository;
import org.springframework.security.web.server.DefaultServerRedirectStrategy;
import org.springframework.security.web.server.WebFilterExchange;
import org.springframework.security.web.server.authentication.RedirectServerAuthenticationEntryPoint;
import org.springframework.security.web.server.authentication.ServerAuthenticationSuccessHandler;
import org.springframework.security.web.server.authentication.logout.DelegatingServerLogoutHandler;
import org.springframework.security.web.server.authentication.logout.SecurityContextServerLogoutHandler;
import org.springframework.security.web.server.authentication.logout.ServerLogoutHandler;
import org.springframework.security.web.server.authentication.logout.WebSessionServerLogoutHandler;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatchers;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The browser's sign-in and sign-out with the identity provider (OpenID Connect, authorization code
 * with PKCE): where a signed-out browser is sent, what happens after the provider sends it back
 * (audited, then on to the page it asked for, on this site only), RP-initiated logout ({@code POST
 * /logout}: the server session ends, then the provider's end-session endpoint), and back-channel
 * logout (the provider's logout token ends the matching sessions on every replica).
 */
@Component
public class BrowserLogin {

    /** The one client registration: the company's provider. */
    public static final String REGISTRATION = "headroom";
    /** Where {@code /auth/login} keeps the validated page to return to. */
    static final String RETURN_TO = "headroom.return_to";

    private final Callers callers;
    private final AuditLog audit;

    public BrowserLogin(Callers callers, AuditLog audit) {
        this.callers = callers;
        this.audit = audit;
    }

    /** Adds sign-in, sign-out and back-channel logout to the web chain. */
    public void configure(ServerHttpSecurity http, IdentitySettings identity, PostgresOidcSessionRegistry registry) {
        ReactiveClientRegistrationRepository clients = clients(identity);
        OidcClientInitiatedServerLogoutSuccessHandler providerLogout =
                new OidcClientInitiatedServerLogoutSuccessHandler(clients);
        providerLogout.setPostLogoutRedirectUri("{baseUrl}/");
        ServerLogoutHandler signOut = new DelegatingServerLogoutHandler(this::auditSignOut,
                new SecurityContextServerLogoutHandler(), new WebSessionServerLogoutHandler());
        http.oauth2Login(l -> l.clientRegistrationRepository(clients)
                        .authorizedClientRepository(new WebSessionServerOAuth2AuthorizedClientRepository())
                        .oidcSessionRegistry(registry)
                        .authenticationSuccessHandler(signedIn()))
                .exceptionHandling(e -> e.authenticationEntryPoint(
                        new RedirectServerAuthenticationEntryPoint("/oauth2/authorization/" + REGISTRATION)))
                .logout(l -> l.requiresLogout(ServerWebExchangeMatchers.pathMatchers(
                                org.springframework.http.HttpMethod.POST, "/logout"))
                        .logoutHandler(signOut)
                        .logoutSuccessHandler(providerLogout))
                .oidcLogout(o -> o.clientRegistrationRepository(clients).oidcSessionRegistry(registry)
                        .backChannel(b -> b.logoutHandler(backChannel(registry))));
    }

    /**
     * The provider's registration, fetched from its discovery document on first use and kept for an
     * hour (a provider that is down at start-up does not stop the service; sign-in waits for it).
     */
    static ReactiveClientRegistrationRepository clients(IdentitySettings identity) {
        Mono<ClientRegistration> registration = Mono.fromCallable(() -> {
            ClientRegistration.Builder b = ClientRegistrations.fromIssuerLocation(identity.issuer().toString())
                    .registrationId(REGISTRATION)
                    .clientId(identity.clientId())
                    .scope("openid", "profile", "email")
                    .redirectUri("{baseUrl}/login/oauth2/code/{registrationId}");
            if (identity.clientSecret() != null) {
                b.clientSecret(identity.clientSecret());
            } else {
                b.clientAuthenticationMethod(org.springframework.security.oauth2.core.ClientAuthenticationMethod.NONE);
            }
            return b.build();
        }).subscribeOn(Schedulers.boundedElastic())
                .cache(ok -> Duration.ofHours(1), error -> Duration.ZERO, () -> Duration.ZERO);
        return id -> REGISTRATION.equals(id) ? registration : Mono.empty();
    }

    private ServerAuthenticationSuccessHandler signedIn() {
        DefaultServerRedirectStrategy redirect = new DefaultServerRedirectStrategy();
        return (WebFilterExchange exchange, Authentication authentication) -> exchange.getExchange().getSession()
                .flatMap(session -> {
                    Object target = session.getAttributes().remove(RETURN_TO);
                    String to = target instanceof String s && ReturnTo.valid(s) ? s : "/";
                    String address = remote(exchange);
                    return Mono.fromRunnable(() -> {
                        Caller c = callers.from(authentication);
                        if (c != null) {
                            audit.record(c.id(), Caller.Via.BROWSER.wire(), "sign_in", null, null, null, address);
                        }
                    }).subscribeOn(Schedulers.boundedElastic())
                            .then(redirect.sendRedirect(exchange.getExchange(), URI.create(to)));
                });
    }

    private Mono<Void> auditSignOut(WebFilterExchange exchange, Authentication authentication) {
        Caller c = authentication == null ? null : callers.from(authentication);
        if (c == null) {
            return Mono.empty();
        }
        String address = remote(exchange);
        return Mono.fromRunnable(() -> audit.record(c.id(), Caller.Via.BROWSER.wire(), "sign_out", null, null, null,
                address)).subscribeOn(Schedulers.boundedElastic()).then();
    }

    /** Ends the web sessions a logout token names, on every replica (they are rows in PostgreSQL). */
    private ServerLogoutHandler backChannel(PostgresOidcSessionRegistry registry) {
        return (exchange, authentication) -> {
            OidcLogoutToken token = (OidcLogoutToken) authentication.getPrincipal();
            return registry.removeSessionInformation(token).count().flatMap(n -> Mono.fromRunnable(() ->
                    audit.record(token.getSubject() != null ? token.getSubject() : "(provider)", "provider",
                            "sign_out.back_channel", "web_session", n + " session(s)", token.getSubject(),
                            remote(exchange))).subscribeOn(Schedulers.boundedElastic()))
                    .then(Mono.fromRunnable(() -> exchange.getExchange().getResponse().setStatusCode(HttpStatus.OK)));
        };
    }

    private static String remote(WebFilterExchange exchange) {
        var address = exchange.getExchange().getRequest().getRemoteAddress();
        return address == null || address.getAddress() == null ? null : address.getAddress().getHostAddress();
    }
}
