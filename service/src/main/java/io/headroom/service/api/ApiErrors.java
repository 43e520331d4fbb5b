package io.headroom.service.api;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.sessions.ContextLimitException;
import io.headroom.sessions.store.SessionNotFoundException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.springframework.core.codec.DecodingException;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpStatus;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebInputException;

/**
 * Maps every failure to an HTTP status and the OpenAI error envelope
 * {@code {"error":{"message","type","param","code"}}}. Messages say what is wrong with the request;
 * internal failures say only that, never a stack trace.
 */
public final class ApiErrors {

    private ApiErrors() {
    }

    /** The status and envelope for {@code error}. */
    public static ApiException classify(Throwable error) {
        Throwable e = unwrap(error);
        return switch (e) {
            case ApiException a -> a;
            case SessionNotFoundException n -> new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error",
                    n.getMessage(), "session_id", "session_not_found");
            case ContextLimitException c -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    c.getMessage(), "messages", "context_length_exceeded");
            case EngineQueue.QueueFullException q -> new ApiException(HttpStatus.TOO_MANY_REQUESTS,
                    "rate_limit_error", q.getMessage(), null, "engine_queue_full");
            case DataBufferLimitException d -> new ApiException(HttpStatus.PAYLOAD_TOO_LARGE, "invalid_request_error",
                    "request body too large: " + d.getMessage(), null, "request_too_large");
            case ServerWebInputException w -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    inputMessage(w), null, "invalid_json");
            case ResponseStatusException r -> new ApiException(HttpStatus.valueOf(r.getStatusCode().value()),
                    r.getStatusCode().is4xxClientError() ? "invalid_request_error" : "server_error",
                    r.getReason() != null ? r.getReason() : HttpStatus.valueOf(r.getStatusCode().value())
                            .getReasonPhrase(), null, null);
            case IllegalArgumentException i -> ApiException.invalid(i.getMessage(), null);
            case ModelFormatException m -> ApiException.invalid(m.getMessage(), null);
            default -> new ApiException(HttpStatus.INTERNAL_SERVER_ERROR, "server_error",
                    "internal error while handling the request", null, null);
        };
    }

    /** The envelope as a map ready for JSON. */
    public static Map<String, Object> envelope(ApiException a) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", a.getMessage());
        error.put("type", a.type());
        error.put("param", a.param());
        error.put("code", a.code());
        return Map.of("error", error);
    }

    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static String inputMessage(ServerWebInputException w) {
        Throwable cause = w.getMostSpecificCause();
        if (w.getCause() instanceof DecodingException || cause != w) {
            String m = cause.getMessage() == null ? "" : cause.getMessage();
            int cut = m.indexOf(" at [Source");
            m = cut > 0 ? m.substring(0, cut) : m;
            return "malformed request body: " + m.lines().findFirst().orElse("not valid JSON").strip();
        }
        return w.getReason() != null ? w.getReason() : "malformed request";
    }
}
