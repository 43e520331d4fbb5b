package io.headroom.engine.backend.cuda;

/** A CUDA driver call or kernel launch failed; the message names the call, the launch shape and the error. */
public class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
