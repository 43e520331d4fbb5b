package io.headroom.jobs.corpus;

/**
 * An upload broke a rule: too large ({@link Kind#TOO_LARGE}), of a type Headroom does not read
 * ({@link Kind#UNSUPPORTED_TYPE}), or not acceptable as it is ({@link Kind#INVALID}: a path that
 * escapes, a link, a damaged archive, a name taken). {@link #limit()} names the rule as configured
 * or as the API spells it, so the client is told which one.
 */
public class UploadRefusedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** What kind of refusal: it decides the HTTP status. */
    public enum Kind { TOO_LARGE, UNSUPPORTED_TYPE, INVALID, CONFLICT }

    private final Kind kind;
    private final String limit;

    public UploadRefusedException(Kind kind, String limit, String message) {
        super(message);
        this.kind = kind;
        this.limit = limit;
    }

    public Kind kind() {
        return kind;
    }

    public String limit() {
        return limit;
    }
}
