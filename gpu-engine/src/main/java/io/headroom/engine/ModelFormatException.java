package io.headroom.engine;

/**
 * A model directory, checkpoint, tokenizer or configuration that Headroom cannot use. The message is
 * meant for the user: it names the file (and the tensor or key) and says what is wrong.
 */
public class ModelFormatException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
