package io.headroom.sessions.store;

import java.util.UUID;

/** No session with this id belongs to the caller. */
public class SessionNotFoundException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public SessionNotFoundException(UUID id) {
        super("session " + id + " not found");
    }
}
