package io.headroom.jobs.ingest;

import io.headroom.engine.KvCache;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.jobs.extract.DocumentTexts;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.corpus.CorpusSnapshots;
import io.headroom.sessions.kv.KvFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.batch.core.ExitStatus;
import org.springframework.batch.core.listener.StepExecutionListener;
import org.springframework.batch.core.step.StepContribution;
import org.springframework.batch.core.step.StepExecution;
import org.springframework.batch.core.step.tasklet.Tasklet;
import org.springframework.batch.infrastructure.repeat.RepeatStatus;

/**
 * The {@code prefill} step: the corpus's documents, in document order, prefilled into one KV cache
 * on the engine's {@link EngineQueue.Priority#BACKGROUND background} lane, one prefill chunk per
 * engine job, so an interactive turn waits for one chunk at most. Each call of the tasklet is one
 * document (one Spring Batch chunk): it records the document's tokens and the streaming-head state
 * after it ({@link CorpusSnapshots#saveBoundary}).
 *
 * <p>Checkpoints: every {@code checkpointInterval}, when the step stops, and at the end, the
 * retrieval KV so far is written to the snapshot's partial file (atomically) and its token count
 * recorded. A run that a crash or a stop cut off goes on from the last checkpoint: the KV is
 * brought back from the partial file and the streaming state stored with that document, and the
 * documents after it are prefilled again. Prefill is deterministic and done per document in the same
 * chunks, so the snapshot is identical to an uninterrupted run's. A cancelled run's work is
 * discarded instead.
 */
public final class SnapshotPrefill implements Tasklet, StepExecutionListener {

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotPrefill.class);

    /** One document as the session reads it. */
    private record Doc(CorpusDocuments.Read file, int[] tokens) {
    }

    /** A snapshot being built in this process. */
    private static final class Build {
        final CorpusSnapshots.Snapshot snapshot;
        final List<Doc> docs;
        final DuoLayout layout;
        KvCache kv;
        int next;
        int tokens;
        int checkpointed;
        long lastCheckpoint = System.nanoTime();

        Build(CorpusSnapshots.Snapshot snapshot, List<Doc> docs, DuoLayout layout) {
            this.snapshot = snapshot;
            this.docs = docs;
            this.layout = layout;
        }
    }

    private final SessionEngine engine;
    private final CorpusSnapshots snapshots;
    private final CorpusDocuments documents;
    private final DocumentTexts texts;
    private final Double sparsity;
    private final Duration checkpointInterval;
    private final Map<UUID, Build> builds = new ConcurrentHashMap<>();
    private final Set<UUID> cancelled = ConcurrentHashMap.newKeySet();

    /**
     * @param sparsity the DuoAttention sparsity snapshots are built at (null: full attention)
     * @param checkpointInterval how often a running prefill writes its KV so far to disk
     */
    public SnapshotPrefill(SessionEngine engine, CorpusSnapshots snapshots, CorpusDocuments documents,
            DocumentTexts texts, Double sparsity, Duration checkpointInterval) {
        this.engine = engine;
        this.snapshots = snapshots;
        this.documents = documents;
        this.texts = texts;
        this.sparsity = sparsity;
        this.checkpointInterval = checkpointInterval;
    }

    public Double sparsity() {
        return sparsity;
    }

    @Override
    public RepeatStatus execute(StepContribution contribution,
            org.springframework.batch.core.scope.context.ChunkContext context) {
        UUID corpus = CorpusIngestion.corpus();
        Build b = builds.get(corpus);
        if (b == null) {
            b = open(corpus, CorpusIngestion.filesDigest());
            if (b.snapshot.ready()) {
                return RepeatStatus.FINISHED;
            }
            builds.put(corpus, b);
        }
        if (b.next < b.docs.size()) {
            prefill(b, b.docs.get(b.next));
            contribution.incrementWriteCount(1);
            if (System.nanoTime() - b.lastCheckpoint >= checkpointInterval.toNanos()) {
                checkpoint(b);
            }
            return RepeatStatus.CONTINUABLE;
        }
        checkpoint(b);
        release(corpus);
        return RepeatStatus.FINISHED;
    }

    /** Marks the corpus's running prefill to be discarded when it stops (see {@link #afterStep}). */
    public void cancel(UUID corpus) {
        cancelled.add(corpus);
    }

    /** Withdraws a {@link #cancel} that found no running prefill to apply to. */
    public void forget(UUID corpus) {
        cancelled.remove(corpus);
    }

    /**
     * After a stop, a failure or a cancel: a stopped or failed run checkpoints what it has (so the
     * next run goes on from here) and releases its KV; a cancelled run only releases it (the
     * canceller discards the snapshot).
     */
    @Override
    public ExitStatus afterStep(StepExecution step) {
        UUID corpus = UUID.fromString(step.getJobParameters().getString(CorpusIngestion.PARAMETER));
        boolean discard = cancelled.contains(corpus); // the canceller discards the snapshot once the job stopped
        Build b = builds.get(corpus);
        if (b != null) {
            try {
                if (!discard && b.tokens > b.checkpointed) {
                    checkpoint(b);
                }
            } catch (RuntimeException e) {
                LOG.warn("corpus {}: the prefill's checkpoint at stop failed ({}); it goes on from the last one",
                        corpus, e.toString());
            } finally {
                release(corpus);
            }
        }
        return null;
    }

    /** The build of {@code corpus}: from its last checkpoint when one is usable, else from the start. */
    private Build open(UUID corpus, String digest) {
        List<CorpusDocuments.Read> files = documents.readInOrder(corpus);
        if (files.isEmpty()) {
            throw new IllegalStateException("no file of the corpus has text to read");
        }
        List<Doc> docs = new ArrayList<>(files.size());
        long total = 0;
        for (CorpusDocuments.Read f : files) {
            int[] tokens = engine.prompts().corpusDocument(docs.isEmpty(), f.path(), text(f));
            docs.add(new Doc(f, tokens));
            total += tokens.length;
        }
        long limit = engine.model().config().maxPositions();
        if (total > limit) {
            throw new CorpusIngestion.CorpusTooLargeException("the corpus reads as " + total + " tokens; the model "
                    + "holds " + limit + " (" + (total - limit) + " too many): remove files and ingest again");
        }
        CorpusSnapshots.Snapshot snapshot = snapshots.begin(corpus, files.getFirst().owner(), digest,
                engine.modelName(), sparsity);
        Build b = new Build(snapshot, docs, engine.layout(sparsity));
        if (snapshot.ready()) {
            return b;
        }
        int resumeAt = resumePoint(b);
        if (resumeAt > 0) {
            b.kv = fromCheckpoint(b, resumeAt);
        }
        if (b.kv == null) {
            resumeAt = 0;
            b.kv = onEngine(() -> engine.model().model().newCache(b.layout, engine.model().options().kvPageTokens()));
        }
        snapshots.truncate(snapshot.id(), resumeAt);
        b.tokens = resumeAt;
        b.checkpointed = resumeAt;
        int at = 0;
        while (b.next < docs.size() && at + docs.get(b.next).tokens().length <= resumeAt) {
            at += docs.get(b.next++).tokens().length;
        }
        if (resumeAt > 0) {
            LOG.info("corpus {}: prefill goes on from its checkpoint at document {} of {} ({} tokens)", corpus,
                    b.next, docs.size(), resumeAt);
        }
        return b;
    }

    /**
     * The token count of the last checkpoint if the documents recorded up to it are exactly the
     * documents this run would prefill first (the same files, tokens and order), else 0.
     */
    private int resumePoint(Build b) {
        int checkpoint = b.snapshot.checkpointTokens();
        if (checkpoint == 0 || !Files.isRegularFile(snapshots.partialFile(b.snapshot.id()))) {
            return 0;
        }
        int i = 0;
        for (CorpusSnapshots.Document saved : snapshots.documents(b.snapshot.id())) {
            if (saved.tokenEnd() > checkpoint) {
                break;
            }
            if (i >= b.docs.size() || !saved.fileId().equals(b.docs.get(i).file().fileId())
                    || !Arrays.equals(saved.tokens(), b.docs.get(i).tokens())) {
                return 0;
            }
            i++;
            if (saved.tokenEnd() == checkpoint) {
                return checkpoint;
            }
        }
        return 0;
    }

    /** The KV at {@code tokens} from the partial file and the streaming state stored there, or null. */
    private KvCache fromCheckpoint(Build b, int tokens) {
        UUID id = b.snapshot.id();
        byte[] streaming = snapshots.streamingStateAt(id, tokens).orElse(null);
        if (streaming == null) {
            return null;
        }
        int headDim = engine.model().config().headDim();
        try {
            SequenceKv state = KvStateCodec.importStreaming(streaming, b.layout, headDim,
                    engine.model().options().kvPageTokens(), engine.model().config().maxPositions());
            // the file is verified here; only the copy into the engine's cache runs on the engine thread
            return KvFiles.read(snapshots.partialFile(id), b.layout, headDim, block -> block.tokens() == tokens
                    && state.length() == tokens ? onEngine(() -> engine.model().model().fromHost(state, block)) : null);
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("corpus snapshot {}: its checkpoint cannot be used ({}); prefilling from the start", id,
                    e.getMessage());
            return null;
        }
    }

    private void prefill(Build b, Doc d) {
        int chunk = engine.model().options().prefillChunk();
        int[] tokens = d.tokens();
        for (int from = 0; from < tokens.length; from += chunk) {
            int[] piece = Arrays.copyOfRange(tokens, from, Math.min(tokens.length, from + chunk));
            onEngine(() -> Generator.prefill(engine.model().model(), b.kv, piece, chunk));
        }
        byte[] streaming = onEngine(b.kv::exportStreaming);
        snapshots.saveBoundary(b.snapshot.id(), new CorpusSnapshots.Boundary(b.next, d.file().fileId(),
                d.file().path(), b.tokens, tokens, streaming));
        b.tokens += tokens.length;
        b.next++;
    }

    /** Writes the retrieval KV so far to the partial file (replacing the last one at once) and records it. */
    private void checkpoint(Build b) {
        UUID id = b.snapshot.id();
        try (Arena arena = Arena.ofShared()) {
            // the device-to-host copy runs on the engine thread, the disk write here
            KvFiles.write(onEngine(() -> b.kv.exportRetrieval(arena)), snapshots.partialFile(id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the checkpoint of corpus snapshot " + id, e);
        }
        snapshots.checkpointed(id, b.tokens);
        b.checkpointed = b.tokens;
        b.lastCheckpoint = System.nanoTime();
    }

    private void release(UUID corpus) {
        Build b = builds.remove(corpus);
        if (b != null && b.kv != null) {
            KvCache kv = b.kv;
            onEngine(() -> {
                kv.close();
                return null;
            });
        }
    }

    private String text(CorpusDocuments.Read f) {
        DocumentTexts.Text t = texts.text(f.owner(), f.sha256());
        if (!t.extracted()) {
            throw new IllegalStateException("the text of " + f.path() + " is gone: " + t.skipReason());
        }
        try {
            return Files.readString(t.file(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the extracted text of " + f.path(), e);
        }
    }

    /** Runs {@code work} on the engine's background lane and waits for it (retrying while the lane is full). */
    private <T> T onEngine(Supplier<T> work) {
        EngineQueue queue = engine.queue();
        while (true) {
            try {
                return queue.submit(EngineQueue.Priority.BACKGROUND, work).join();
            } catch (EngineQueue.QueueFullException e) {
                try {
                    Thread.sleep(e.retryAfter().toMillis());
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the engine", ie);
                }
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
        }
    }
}
