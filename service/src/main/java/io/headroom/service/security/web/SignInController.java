package io.headroom.service.security.web;

import io.headroom.service.security.Caller;
import io.headroom.service.security.Callers;
import io.headroom.service.security.IdentitySettings;
import io.swagger.v3.oas.annotations.Hidden;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.security.web.server.csrf.CsrfToken;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.util.HtmlUtils;
import reactor.core.publisher.Mono;

/**
 * The browser's front door until the portal arrives: {@code /} says who is signed in (with a
 * sign-out button), {@code /auth/login} starts a sign-in that returns to a page of this site, and
 * {@code /auth/me} tells a script who the user is and which CSRF token to send.
 */
@RestController
@Hidden
public class SignInController {

    private final Callers callers;
    private final IdentitySettings identity;

    public SignInController(Callers callers, IdentitySettings identity) {
        this.callers = callers;
        this.identity = identity;
    }

    /** Starts a sign-in; {@code return_to} must be a path on this site. */
    @GetMapping("/auth/login")
    public Mono<ResponseEntity<String>> login(@RequestParam(name = "return_to", required = false) String returnTo,
            ServerWebExchange exchange) {
        if (!identity.browserLogin()) {
            return Mono.just(ResponseEntity.status(HttpStatus.NOT_FOUND).contentType(MediaType.TEXT_PLAIN)
                    .body("browser sign-in is not configured on this service (no identity provider client)\n"));
        }
        if (returnTo != null && !ReturnTo.valid(returnTo)) {
            return Mono.just(ResponseEntity.badRequest().contentType(MediaType.TEXT_PLAIN)
                    .body("return_to must be a path on this site, such as /portal\n"));
        }
        return exchange.getSession().map(session -> {
            if (returnTo != null) {
                session.getAttributes().put(BrowserLogin.RETURN_TO, returnTo);
            }
            return ResponseEntity.status(HttpStatus.FOUND)
                    .location(URI.create("/oauth2/authorization/" + BrowserLogin.REGISTRATION)).<String>build();
        });
    }

    /** Who is signed in, and the CSRF header and token a script must send with state-changing requests. */
    @GetMapping(value = "/auth/me", produces = MediaType.APPLICATION_JSON_VALUE)
    public Mono<ResponseEntity<Map<String, Object>>> me(ServerWebExchange exchange) {
        return caller().flatMap(c -> csrf(exchange).map(token -> {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("user", c.id());
            body.put("admin", c.admin());
            body.put("via", c.via().wire());
            body.put("csrf_header", token.getHeaderName());
            body.put("csrf_token", token.getToken());
            return ResponseEntity.ok(body);
        })).switchIfEmpty(Mono.fromSupplier(() -> ResponseEntity.status(HttpStatus.UNAUTHORIZED)
                .body(Map.of("error", Map.of("message", "not signed in", "type", "invalid_request_error",
                        "code", "not_signed_in")))));
    }

    /** A plain page: who is signed in, and a way to sign in or out. */
    @GetMapping(value = "/", produces = MediaType.TEXT_HTML_VALUE)
    public Mono<String> home(ServerWebExchange exchange) {
        return caller().flatMap(c -> csrf(exchange).map(token -> page("<p>Signed in as <strong>"
                + HtmlUtils.htmlEscape(c.id()) + "</strong>" + (c.admin() ? " (admin)" : "") + ".</p>"
                + (c.via() == Caller.Via.BROWSER ? "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" "
                        + "name=\"" + HtmlUtils.htmlEscape(token.getParameterName()) + "\" value=\""
                        + HtmlUtils.htmlEscape(token.getToken()) + "\"><button type=\"submit\">Sign out</button></form>"
                        : "<p>Local mode: no sign-in on this machine.</p>"))))
                .switchIfEmpty(Mono.fromSupplier(() -> page(identity.browserLogin()
                        ? "<p><a href=\"/auth/login\">Sign in</a> with your organisation's account.</p>"
                        : "<p>Use the API with an access token or an API key.</p>")));
    }

    private Mono<Caller> caller() {
        return ReactiveSecurityContextHolder.getContext().map(SecurityContext::getAuthentication)
                .mapNotNull(a -> a.isAuthenticated() ? callers.from(a) : null);
    }

    private static Mono<CsrfToken> csrf(ServerWebExchange exchange) {
        Mono<CsrfToken> token = exchange.getAttribute(CsrfToken.class.getName());
        return token != null ? token : Mono.empty();
    }

    private static String page(String content) {
        return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Headroom</title></head><body>"
                + "<main><h1>Headroom</h1>" + content + "<p>API: <a href=\"/v3/api-docs\">OpenAPI document</a></p>"
                + "</main></body></html>";
    }
}
