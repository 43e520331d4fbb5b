package io.headroom.jobs.ingest;

import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.jobs.extract.DocumentTexts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.UUID;
import java.util.function.Function;
import org.springframework.batch.core.job.Job;
import org.springframework.batch.core.job.builder.JobBuilder;
import org.springframework.batch.core.repository.JobRepository;
import org.springframework.batch.core.scope.context.StepSynchronizationManager;
import org.springframework.batch.core.step.Step;
import org.springframework.batch.core.step.builder.StepBuilder;
import org.springframework.batch.infrastructure.repeat.RepeatStatus;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * The corpus ingestion job (Spring Batch), identified by its corpus: {@value #PARAMETER}.
 * <ol>
 *   <li>{@code read}: one chunk per file, in document order (by path): the file's text from the
 *       isolated extractor, tokenised with the served model's tokenizer, recorded in
 *       {@code corpus_documents}; a file that yields no text (encrypted, damaged, empty, too slow) is
 *       recorded as skipped with its reason and the rest goes on. Each file commits on its own, and
 *       the next file is the first without a row, so a restart after a crash reads none twice.</li>
 *   <li>{@code check}: some file must have text, and the corpus's tokens must fit the model's
 *       context; otherwise the job fails saying why.</li>
 *   <li>{@code prefill}: the documents prefilled in order into one DuoAttention KV cache, on the
 *       engine's background lane, one document per chunk, checkpointed ({@link SnapshotPrefill}).</li>
 *   <li>{@code persist}: the final checkpoint verified and made the snapshot's spill file, the
 *       snapshot marked ready ({@link SnapshotPersist}).</li>
 * </ol>
 */
public final class CorpusIngestion {

    public static final String JOB = "corpusIngestion";
    public static final String PARAMETER = "corpus";
    /** The job parameter that names the files ingested (see {@link Ingestions}). */
    public static final String FILES = "files";

    private CorpusIngestion() {
    }

    /**
     * @param tokenizer the served model's tokenizer (text in, token ids out)
     * @param contextTokens the most tokens the model can hold
     */
    public static Job job(JobRepository jobs, PlatformTransactionManager tx, CorpusDocuments documents,
            DocumentTexts texts, Function<String, int[]> tokenizer, long contextTokens, SnapshotPrefill prefill,
            SnapshotPersist persist) {
        Step read = new StepBuilder("read", jobs).<CorpusStore.CorpusFile, CorpusDocuments.Document>chunk(1)
                .transactionManager(tx)
                .reader(() -> documents.nextUnread(corpus()).orElse(null))
                .processor(f -> read(f, texts, tokenizer))
                .writer(chunk -> chunk.forEach(documents::save))
                .build();
        Step check = new StepBuilder("check", jobs).tasklet((contribution, context) -> {
            CorpusDocuments.Progress p = documents.progress(corpus());
            if (p.read() == 0) {
                throw new IllegalStateException("none of the corpus's " + p.files() + " files has text to read ("
                        + p.skipped() + " skipped)");
            }
            if (p.tokens() > contextTokens) {
                throw new CorpusTooLargeException("the corpus reads as " + p.tokens() + " tokens; the model holds "
                        + contextTokens + " (" + (p.tokens() - contextTokens) + " too many): remove files and ingest "
                        + "again");
            }
            return RepeatStatus.FINISHED;
        }, tx).build();
        Step prefillStep = new StepBuilder("prefill", jobs).tasklet(prefill, tx).listener(prefill).build();
        Step persistStep = new StepBuilder("persist", jobs).tasklet(persist, tx).build();
        return new JobBuilder(JOB, jobs).start(read).next(check).next(prefillStep).next(persistStep).build();
    }

    /** The corpus of the running step's job. */
    static UUID corpus() {
        return UUID.fromString(StepSynchronizationManager.getContext().getStepExecution().getJobParameters()
                .getString(PARAMETER));
    }

    /** The digest of the files the running step's job ingests. */
    static String filesDigest() {
        return StepSynchronizationManager.getContext().getStepExecution().getJobParameters().getString(FILES);
    }

    private static CorpusDocuments.Document read(CorpusStore.CorpusFile f, DocumentTexts texts,
            Function<String, int[]> tokenizer) {
        DocumentTexts.Text t = texts.text(f.owner(), f.sha256());
        if (!t.extracted()) {
            return new CorpusDocuments.Document(f.corpusId(), f.id(), f.owner(), f.path(), t.skipReason(), 0,
                    new int[0]);
        }
        String text;
        try {
            text = Files.readString(t.file(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the extracted text of " + f.path(), e);
        }
        return new CorpusDocuments.Document(f.corpusId(), f.id(), f.owner(), f.path(), null, text.length(),
                tokenizer.apply(text));
    }

    /** The corpus does not fit the model's context. */
    public static final class CorpusTooLargeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CorpusTooLargeException(String message) {
            super(message);
        }
    }
}
