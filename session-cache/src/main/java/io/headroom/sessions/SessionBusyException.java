package io.headroom.sessions;

import java.util.UUID;

/**
 * The session is already running an operation (a turn or a document append): a session's
 * history is one sequence, so its operations run one at a time, and a second is refused instead of
 * waiting for the first to finish.
 */
public class SessionBusyException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public SessionBusyException(UUID id) {
        super("session " + id + " is busy with another turn or document; retry once it has finished");
    }
}
