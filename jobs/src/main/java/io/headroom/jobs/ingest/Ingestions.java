package io.headroom.jobs.ingest;

import io.headroom.jobs.InterruptedExecutions;
import io.headroom.jobs.corpus.CorpusNotFoundException;
import io.headroom.jobs.corpus.CorpusStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDateTime;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.batch.core.BatchStatus;
import org.springframework.batch.core.job.Job;
import org.springframework.batch.core.job.JobExecution;
import org.springframework.batch.core.job.parameters.JobParameters;
import org.springframework.batch.core.job.parameters.JobParametersBuilder;
import org.springframework.batch.core.launch.JobOperator;
import org.springframework.batch.core.repository.JobRepository;
import org.springframework.batch.core.step.StepExecution;
import io.headroom.sessions.corpus.CorpusSnapshots;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Starts, follows and resumes corpus ingestion jobs. A job instance is identified by its corpus
 * and a digest of the corpus's files (paths and contents): ingesting the same files again finds the
 * same instance (done already, or running), adding or removing files makes a new one. Jobs run one
 * at a time on a thread of their own. At start-up, executions a crash left marked as running are
 * marked failed and restarted: they go on from the first file not yet read.
 */
public final class Ingestions implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Ingestions.class);

    /**
     * Where a corpus's ingestion stands, with the current run's pace: files and tokens per second
     * since it started, and the seconds left at that pace (null when not known).
     */
    public record Status(String state, CorpusDocuments.Progress progress, List<CorpusDocuments.Skip> skipped,
            String error, LocalDateTime startedAt, LocalDateTime endedAt, Double filesPerSecond,
            Double tokensPerSecond, Long etaSeconds, SnapshotProgress snapshot) {

        /** Whether the run has ended (or there is none to follow). */
        public boolean finished() {
            return !state.equals("starting") && !state.equals("started") && !state.equals("stopping");
        }
    }

    /** The corpus's KV snapshot: building (with the tokens prefilled so far) or ready. */
    public record SnapshotProgress(UUID id, String state, int documents, int prefilledTokens) {
    }

    private final JobOperator operator;
    private final JobRepository repository;
    private final Job job;
    private final CorpusStore corpora;
    private final CorpusDocuments documents;
    private final JdbcClient jdbc;
    private final SnapshotPrefill prefill;
    private final CorpusSnapshots snapshots;
    private final ExecutorService runner = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "headroom-ingestion");
        t.setDaemon(true);
        return t;
    });

    public Ingestions(JobOperator operator, JobRepository repository, Job job, CorpusStore corpora,
            CorpusDocuments documents, JdbcClient jdbc, SnapshotPrefill prefill, CorpusSnapshots snapshots) {
        this.prefill = prefill;
        this.snapshots = snapshots;
        this.operator = operator;
        this.repository = repository;
        this.job = job;
        this.corpora = corpora;
        this.documents = documents;
        this.jdbc = jdbc;
    }

    /** Starts ingesting the owner's corpus (or finds the run of the same files); returns its status. */
    public Status start(String owner, UUID corpusId) {
        corpora.find(owner, corpusId).orElseThrow(() -> new CorpusNotFoundException(corpusId));
        List<CorpusStore.CorpusFile> files = corpora.files(corpusId);
        if (files.isEmpty()) {
            throw new IllegalArgumentException("the corpus has no files to ingest");
        }
        JobParameters params = new JobParametersBuilder().addString(CorpusIngestion.PARAMETER, corpusId.toString())
                .addString(CorpusIngestion.FILES, digest(files)).toJobParameters();
        JobExecution last = repository.getLastJobExecution(CorpusIngestion.JOB, params);
        if (last != null && last.getStatus() == BatchStatus.UNKNOWN) {
            markStopped(last);
        }
        if (last == null || last.getStatus() == BatchStatus.FAILED || last.getStatus() == BatchStatus.STOPPED) {
            runner.submit(() -> {
                try {
                    operator.start(job, params);
                } catch (Exception e) {
                    LOG.warn("ingestion of corpus {} could not start: {}", corpusId, e.getMessage());
                }
            });
            return new Status("starting", documents.progress(corpusId), List.of(), null, null, null, null, null,
                    null, snapshot(corpusId));
        }
        return status(corpusId);
    }

    /** The latest ingestion of a corpus (the caller has checked who may see it). */
    public Status status(UUID corpusId) {
        Optional<Long> id = jdbc.sql("SELECT e.job_execution_id FROM batch_job_execution e JOIN "
                + "batch_job_execution_params p ON p.job_execution_id = e.job_execution_id JOIN batch_job_instance i "
                + "ON i.job_instance_id = e.job_instance_id WHERE i.job_name = ? AND p.parameter_name = ? AND "
                + "p.parameter_value = ? ORDER BY e.job_execution_id DESC LIMIT 1")
                .params(CorpusIngestion.JOB, CorpusIngestion.PARAMETER, corpusId.toString())
                .query(Long.class).optional();
        CorpusDocuments.Progress p = documents.progress(corpusId);
        SnapshotProgress snapshot = snapshot(corpusId);
        if (id.isEmpty()) {
            return new Status("not_started", p, List.of(), null, null, null, null, null, null, snapshot);
        }
        JobExecution e = repository.getJobExecution(id.get());
        String error = e.getStatus() != BatchStatus.FAILED ? null : e.getStepExecutions().stream()
                .filter(s -> s.getStatus() == BatchStatus.FAILED)
                .map(s -> reason(s.getExitStatus().getExitDescription())).findFirst().orElse("the ingestion failed");
        Double filesPerSecond = null;
        Double tokensPerSecond = null;
        Long eta = null;
        if (e.getStartTime() != null) {
            java.time.Instant start = e.getStartTime().atZone(java.time.ZoneId.systemDefault()).toInstant();
            java.time.Instant end = e.getEndTime() == null ? java.time.Instant.now()
                    : e.getEndTime().atZone(java.time.ZoneId.systemDefault()).toInstant();
            double seconds = Math.max(0.001, java.time.Duration.between(start, end).toMillis() / 1000.0);
            long[] since = documents.doneSince(corpusId, start);
            filesPerSecond = since[0] / seconds;
            tokensPerSecond = since[1] / seconds;
            int left = p.files() - p.done();
            if (!e.getStatus().isRunning()) {
                eta = 0L;
            } else if (left > 0 && filesPerSecond > 0) {
                eta = Math.round(left / filesPerSecond);
            } else if (left == 0 && snapshot != null && snapshot.prefilledTokens() > 0) {
                // reading is done, prefill runs: at its pace so far (tokens per second since this run began)
                double prefillRate = snapshot.prefilledTokens() / seconds;
                eta = Math.round(Math.max(0, p.tokens() - snapshot.prefilledTokens()) / prefillRate);
            } // else: running but nothing done yet in this run, so no pace to tell from (null)
        }
        // a run stopped from the API may end as UNKNOWN (see markStopped): to the user it stopped
        BatchStatus shown = e.getStatus() == BatchStatus.UNKNOWN ? BatchStatus.STOPPED : e.getStatus();
        return new Status(shown.name().toLowerCase(java.util.Locale.ROOT), p, documents.skipped(corpusId),
                error, e.getStartTime(), e.getEndTime(), filesPerSecond, tokensPerSecond, eta, snapshot);
    }

    private SnapshotProgress snapshot(UUID corpusId) {
        return snapshots.latest(corpusId).map(s -> new SnapshotProgress(s.id(), s.state(), s.documents(),
                s.tokenCount())).orElse(null);
    }

    /**
     * Cancels the owner's ingestion: a running one stops after the document it is on (waiting up to
     * {@code wait} for that), and the KV prefilled so far is discarded. The text read so far is
     * kept: a later start does not read it again. Returns whether a run was stopped or a snapshot in
     * progress discarded.
     */
    public boolean cancel(String owner, UUID corpusId, java.time.Duration wait) {
        corpora.find(owner, corpusId).orElseThrow(() -> new CorpusNotFoundException(corpusId));
        prefill.cancel(corpusId);
        try {
            boolean stopped = stop(owner, corpusId);
            long deadline = System.nanoTime() + wait.toNanos();
            while (running(corpusId) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            if (running(corpusId)) {
                throw new IllegalStateException("the ingestion did not stop within " + wait.toSeconds()
                        + " s; cancel again");
            }
            boolean discarded = snapshots.latest(corpusId).filter(s -> !s.ready())
                    .map(s -> snapshots.discard(s.id())).orElse(false);
            return stopped || discarded;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while cancelling", e);
        } finally {
            prefill.forget(corpusId);
        }
    }

    private boolean running(UUID corpusId) {
        return repository.findRunningJobExecutions(CorpusIngestion.JOB).stream().anyMatch(e ->
                corpusId.toString().equals(e.getJobParameters().getString(CorpusIngestion.PARAMETER)));
    }

    /**
     * Stops the owner's running ingestion after the file it is reading (a stopped run goes on from
     * there when it is started again); false when none is running.
     */
    public boolean stop(String owner, UUID corpusId) {
        corpora.find(owner, corpusId).orElseThrow(() -> new CorpusNotFoundException(corpusId));
        for (JobExecution e : repository.findRunningJobExecutions(CorpusIngestion.JOB)) {
            if (corpusId.toString().equals(e.getJobParameters().getString(CorpusIngestion.PARAMETER))) {
                try {
                    return operator.stop(e);
                } catch (Exception ex) {
                    return false;
                }
            }
        }
        return false;
    }

    /**
     * A run stopped from the API can end with status UNKNOWN (Spring Batch could not tell whether the
     * chunk it was in finished), which Spring Batch will not restart. Here that is safe to resolve as
     * STOPPED: every finished file has its row, and the next run begins at the first file without one.
     */
    private void markStopped(JobExecution e) {
        LocalDateTime now = LocalDateTime.now();
        for (StepExecution s : e.getStepExecutions()) {
            if (s.getStatus() == BatchStatus.UNKNOWN || s.getStatus().isRunning()) {
                s.setStatus(BatchStatus.STOPPED);
                if (s.getEndTime() == null) {
                    s.setEndTime(now);
                }
                repository.update(s);
            }
        }
        e.setStatus(BatchStatus.STOPPED);
        if (e.getEndTime() == null) {
            e.setEndTime(now);
        }
        repository.update(e);
    }

    /** Executions a crash left running: marked failed, then restarted from where they stopped. */
    public void resumeInterrupted() {
        for (JobExecution e : InterruptedExecutions.markFailed(repository, CorpusIngestion.JOB)) {
            LOG.info("resuming corpus ingestion {} that an earlier run of the service left unfinished", e.getId());
            runner.submit(() -> {
                try {
                    operator.restart(e);
                } catch (Exception ex) {
                    LOG.warn("ingestion {} could not be resumed: {}", e.getId(), ex.getMessage());
                }
            });
        }
    }

    /**
     * The reason in a failed step's exit description (which holds the exception's stack trace): its
     * first line, without the exception's class name.
     */
    static String reason(String description) {
        if (description == null || description.isBlank()) {
            return "the ingestion failed";
        }
        String first = description.lines().findFirst().orElse("").strip();
        return first.replaceFirst("^[\\w.$]+(Exception|Error)(: )?", "").strip();
    }

    static String digest(List<CorpusStore.CorpusFile> files) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            files.stream().sorted(java.util.Comparator.comparing(CorpusStore.CorpusFile::path)).forEach(f ->
                    md.update((f.path() + "\u0000" + f.sha256() + "\n").getBytes(StandardCharsets.UTF_8)));
            return HexFormat.of().formatHex(md.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        runner.shutdownNow();
    }
}
