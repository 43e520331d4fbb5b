package io.headroom.sessions;

import java.time.Duration;

/** A user is over one of their quotas; the operation was refused before anything was written. */
public class QuotaExceededException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String quota;
    private final transient Duration retryAfter;

    /**
     * @param quota the quota's name as configured ({@code sessions}, {@code stored_tokens}, …)
     * @param retryAfter when trying again may succeed (null: not until something is deleted)
     */
    public QuotaExceededException(String quota, String message, Duration retryAfter) {
        super(message);
        this.quota = quota;
        this.retryAfter = retryAfter;
    }

    public String quota() {
        return quota;
    }

    public Duration retryAfter() {
        return retryAfter;
    }
}
