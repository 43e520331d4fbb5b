package io.headroom.jobs.ingest;

import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.corpus.CorpusSnapshots;
import io.headroom.sessions.kv.KvFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.batch.core.scope.context.ChunkContext;
import org.springframework.batch.core.step.StepContribution;
import org.springframework.batch.core.step.tasklet.Tasklet;
import org.springframework.batch.infrastructure.repeat.RepeatStatus;

/**
 * The {@code persist} step: the prefill's final checkpoint becomes the snapshot's spill file. The
 * file is verified (checksum, layout, token count against the documents recorded) and renamed into
 * place, then the snapshot is marked ready with the token ids of the whole corpus. Safe to run
 * again after a crash at any point: a file already in place is verified instead. Older snapshots
 * of the corpus that no session uses are deleted.
 */
public final class SnapshotPersist implements Tasklet {

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotPersist.class);

    private final SessionEngine engine;
    private final CorpusSnapshots snapshots;
    private final Double sparsity;

    public SnapshotPersist(SessionEngine engine, CorpusSnapshots snapshots, Double sparsity) {
        this.engine = engine;
        this.snapshots = snapshots;
        this.sparsity = sparsity;
    }

    @Override
    public RepeatStatus execute(StepContribution contribution, ChunkContext context) {
        UUID corpus = CorpusIngestion.corpus();
        List<CorpusSnapshots.Document> docs;
        CorpusSnapshots.Snapshot s = snapshots.latest(corpus).orElseThrow(() -> new IllegalStateException(
                "the corpus has no snapshot to persist"));
        if (!s.ready()) {
            docs = snapshots.documents(s.id());
            int[] tokens = docs.stream().flatMapToInt(d -> Arrays.stream(d.tokens())).toArray();
            Path file = snapshots.spillFile(s.id());
            Path partial = snapshots.partialFile(s.id());
            try {
                if (Files.isRegularFile(partial)) {
                    verify(partial, tokens.length);
                    Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } else {
                    verify(file, tokens.length); // a crash came between the rename and the row's update
                }
                snapshots.ready(s.id(), tokens, docs.size(), Files.size(file));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot persist corpus snapshot " + s.id(), e);
            }
            LOG.info("corpus {}: snapshot {} ready, {} documents, {} tokens, {} bytes of retrieval KV", corpus,
                    s.id(), docs.size(), tokens.length, Files.isRegularFile(file) ? file.toFile().length() : 0);
        }
        for (UUID old : snapshots.ids(corpus)) {
            if (!old.equals(s.id()) && snapshots.discard(old)) {
                LOG.info("corpus {}: older snapshot {} deleted (no session used it)", corpus, old);
            }
        }
        return RepeatStatus.FINISHED;
    }

    private void verify(Path file, int tokens) throws IOException {
        int held = KvFiles.read(file, engine.layout(sparsity), engine.model().config().headDim(),
                io.headroom.engine.kv.RetrievalBlock::tokens);
        if (held != tokens) {
            throw new IllegalStateException("the prefill's last checkpoint holds " + held + " tokens, the corpus's "
                    + "documents " + tokens + ": ingest again");
        }
    }
}
