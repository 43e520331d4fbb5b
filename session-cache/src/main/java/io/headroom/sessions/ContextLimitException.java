package io.headroom.sessions;

/** A request whose tokens would not fit the model's context. */
public class ContextLimitException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ContextLimitException(int existing, int added, int limit) {
        super("this request needs " + (existing + added) + " tokens of context (" + existing + " already in the "
                + "session, " + added + " for the new input and the answer) but the model's limit is " + limit);
    }
}
