package io.headroom.jobs.corpus;

import java.util.UUID;

/** No such corpus for this caller (another user's corpus included). */
public class CorpusNotFoundException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public CorpusNotFoundException(UUID id) {
        super("corpus " + id + " not found");
    }
}
