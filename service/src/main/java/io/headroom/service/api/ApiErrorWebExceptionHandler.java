package io.headroom.service.api;

import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.annotation.Order;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.server.MethodNotAllowedException;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebExceptionHandler;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * Renders every error under {@code /v1} and {@code /v1/**} — from controllers, codecs (malformed JSON, bodies over
 * the limit) or routing (unknown paths, wrong methods) — as the OpenAI error envelope. Runs before
 * Spring Boot's default error handler.
 */
@Component
@Order(-2)
public class ApiErrorWebExceptionHandler implements WebExceptionHandler {

    private static final Logger LOG = LoggerFactory.getLogger(ApiErrorWebExceptionHandler.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @Override
    public Mono<Void> handle(ServerWebExchange exchange, Throwable ex) {
        if (!isApi(exchange.getRequest().getPath().value()) || exchange.getResponse().isCommitted()) {
            return Mono.error(ex);
        }
        ApiException a = ApiErrors.classify(ex);
        if (a.status().is5xxServerError()) {
            LOG.error("request {} {} failed", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), ex);
        }
        if (ex instanceof MethodNotAllowedException m) {
            exchange.getResponse().getHeaders().setAllow(m.getSupportedMethods());
        }
        return render(exchange, a);
    }

    /** Writes {@code a} as the response: its status, {@code Retry-After} where it has one, the envelope. */
    public static Mono<Void> render(ServerWebExchange exchange, ApiException a) {
        var response = exchange.getResponse();
        response.setStatusCode(a.status());
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        if (a.retryAfter() != null) {
            response.getHeaders().set(HttpHeaders.RETRY_AFTER, Long.toString(Math.max(1, a.retryAfter().toSeconds())));
        } else if (a.status() == HttpStatus.TOO_MANY_REQUESTS || a.status() == HttpStatus.SERVICE_UNAVAILABLE) {
            response.getHeaders().set(HttpHeaders.RETRY_AFTER, "1");
        }
        byte[] body = JSON.writeValueAsString(ApiErrors.envelope(a)).getBytes(StandardCharsets.UTF_8);
        DataBuffer buffer = response.bufferFactory().wrap(body);
        return response.writeWith(Mono.just(buffer));
    }

    /** The API's paths: {@code /v1} and everything under it. */
    public static boolean isApi(String path) {
        return path.equals("/v1") || path.startsWith("/v1/");
    }
}
