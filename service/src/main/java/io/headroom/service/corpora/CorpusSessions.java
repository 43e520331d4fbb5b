package io.headroom.service.corpora;

import io.headroom.jobs.corpus.CorpusNotFoundException;
import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.service.api.ApiException;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.corpus.CorpusSnapshots;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;

/**
 * The corpus a chat names (a session's {@code corpus}, the OpenAI extension field, a batch's): the
 * caller's own corpus (another user's is a 404, as is one that does not exist) with a finished
 * snapshot for the served model (else a 409 that says to ingest it). Blocking: call off the event loop.
 */
@Component
public class CorpusSessions {

    private final CorpusStore corpora;
    private final CorpusSnapshots snapshots;
    private final SessionEngine engine;

    public CorpusSessions(CorpusStore corpora, CorpusSnapshots snapshots, SessionEngine engine) {
        this.corpora = corpora;
        this.snapshots = snapshots;
        this.engine = engine;
    }

    /** The owner's corpus's newest ready snapshot. */
    private CorpusSnapshots.Snapshot readySnapshot(String owner, UUID corpusId) {
        corpora.find(owner, corpusId).orElseThrow(() -> new CorpusNotFoundException(corpusId));
        return snapshots.latestReady(owner, corpusId, engine.modelName()).orElseThrow(() -> new ApiException(
                HttpStatus.CONFLICT, "invalid_request_error", "corpus " + corpusId + " has no KV snapshot yet: ingest "
                        + "it (POST /v1/corpora/" + corpusId + "/ingestion) and wait for it to complete", "corpus",
                "corpus_not_ready"));
    }

    /** {@link #readySnapshot} for a corpus id as a client wrote it (a 400 when it is not a UUID). */
    public CorpusSnapshots.Snapshot readySnapshot(String owner, String corpusId, String field) {
        UUID id;
        try {
            id = UUID.fromString(corpusId);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(field + " must be a corpus id (a UUID)", field);
        }
        return readySnapshot(owner, id);
    }
}
