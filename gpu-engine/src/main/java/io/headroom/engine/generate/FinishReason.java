package io.headroom.engine.generate;

/** Why generation ended. */
public enum FinishReason {
    /** The model produced a stop (end-of-sequence) token. */
    STOP_TOKEN,
    /** The output contained a stop string. */
    STOP_STRING,
    /** The maximum number of new tokens was reached. */
    LENGTH,
    /** The model's context limit was reached. */
    CONTEXT_LIMIT,
    /** The caller cancelled. */
    CANCELLED
}
