package io.headroom.service.api;

import java.time.Duration;
import org.springframework.http.HttpStatus;

/** An error a client caused or must know about, rendered as the OpenAI error envelope. */
public class ApiException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final HttpStatus status;
    private final String type;
    private final String param;
    private final String code;
    private Duration retryAfter;

    public ApiException(HttpStatus status, String type, String message, String param, String code) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static ApiException invalid(String message, String param) {
        return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", message, param, null);
    }

    public HttpStatus status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** When a client may try again (429, 503): sent as {@code Retry-After}. */
    public ApiException retryAfter(Duration after) {
        this.retryAfter = after;
        return this;
    }

    public Duration retryAfter() {
        return retryAfter;
    }
}
