package io.headroom.service.security;

import io.headroom.service.api.ApiErrorWebExceptionHandler;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.api.ApiException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.security.access.AccessDeniedException;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.oauth2.core.OAuth2AuthenticationException;
import org.springframework.security.oauth2.server.resource.InvalidBearerTokenException;
import org.springframework.security.web.server.ServerAuthenticationEntryPoint;
import org.springframework.security.web.server.authorization.ServerAccessDeniedHandler;
import org.springframework.security.web.server.csrf.CsrfException;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * The API's answers to requests that are not authenticated (401 with {@code WWW-Authenticate}, RFC
 * 6750) or not allowed (403), in the OpenAI error envelope. Messages say what is wrong with the
 * credential (missing, expired, wrong issuer or audience, revoked key) and never echo it.
 */
public final class ApiAuthenticationErrors implements ServerAuthenticationEntryPoint, ServerAccessDeniedHandler {

    @Override
    public Mono<Void> commence(ServerWebExchange exchange, AuthenticationException e) {
        boolean presented = exchange.getRequest().getHeaders().containsHeader(HttpHeaders.AUTHORIZATION);
        String message;
        String code;
        String challenge;
        if (!presented || (e != null && !(e instanceof OAuth2AuthenticationException))) {
            message = "this request needs credentials: send Authorization: Bearer with an API key (hr_...) or an "
                    + "access token from the identity provider";
            code = "missing_credentials";
            challenge = "Bearer realm=\"headroom\"";
        } else {
            OAuth2AuthenticationException o = (OAuth2AuthenticationException) e;
            String description = o.getError().getDescription() != null ? o.getError().getDescription() : o.getMessage();
            message = ApiErrors.clientTerms(description);
            boolean key = SecurityConfiguration.apiKeyPresented(exchange);
            code = key ? "invalid_api_key" : (o instanceof InvalidBearerTokenException
                    || "invalid_token".equals(o.getError().getErrorCode()) ? "invalid_token" : "invalid_request");
            challenge = "Bearer realm=\"headroom\", error=\"" + ("invalid_request".equals(code) ? "invalid_request"
                    : "invalid_token") + "\", error_description=\"" + quoted(message) + "\"";
        }
        exchange.getResponse().getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, challenge);
        return ApiErrorWebExceptionHandler.render(exchange, new ApiException(HttpStatus.UNAUTHORIZED,
                "invalid_request_error", message, null, code));
    }

    @Override
    public Mono<Void> handle(ServerWebExchange exchange, AccessDeniedException denied) {
        ApiException a = denied instanceof CsrfException
                ? new ApiException(HttpStatus.FORBIDDEN, "invalid_request_error", "this browser request has no valid "
                        + "CSRF token: send the X-CSRF-TOKEN header the portal was given", null, "csrf_token_invalid")
                : new ApiException(HttpStatus.FORBIDDEN, "invalid_request_error", "this needs the admin role",
                        null, "permission_denied");
        return ApiErrorWebExceptionHandler.render(exchange, a);
    }


    /** A value safe inside a quoted-string of a challenge. */
    private static String quoted(String s) {
        return s.replaceAll("[\"\\\\\\p{Cntrl}]", "'");
    }
}
