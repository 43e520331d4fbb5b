package io.headroom.jobs.batch;

import io.headroom.jobs.InterruptedExecutions;
import java.util.List;
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

/**
 * Runs batches ({@link BatchRun}) one at a time on a thread of their own, and resumes at start-up
 * the batches a crash left unfinished: their executions are marked failed and run again, going on
 * from the first line without a result.
 */
public final class BatchJobs implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchJobs.class);

    private final JobOperator operator;
    private final JobRepository repository;
    private final Job job;
    private final Batches batches;
    private final ExecutorService runner = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "headroom-batches");
        t.setDaemon(true);
        return t;
    });

    public BatchJobs(JobOperator operator, JobRepository repository, Job job, Batches batches) {
        this.operator = operator;
        this.repository = repository;
        this.job = job;
        this.batches = batches;
    }

    /** Queues the batch's job. */
    public void start(String batchId) {
        JobParameters params = new JobParametersBuilder().addString(BatchRun.PARAMETER, batchId).toJobParameters();
        runner.submit(() -> {
            try {
                JobExecution e = operator.start(job, params);
                if (e.getStatus() == BatchStatus.FAILED) {
                    fail(batchId, e);
                }
            } catch (Exception e) {
                LOG.warn("batch {} could not run: {}", batchId, e.getMessage());
            }
        });
    }

    /** A job that failed (not the batch's requests: the job itself) fails its batch, saying why. */
    private void fail(String batchId, JobExecution e) {
        String why = e.getAllFailureExceptions().stream().map(Throwable::getMessage).findFirst()
                .orElse("the batch job failed");
        LOG.warn("batch {} failed: {}", batchId, why);
        batches.transition(batchId, "failed", List.of("validating", "in_progress", "finalizing", "cancelling"));
    }

    /** Batches a crash left unfinished: their executions marked failed, then run again. */
    public void resumeInterrupted() {
        InterruptedExecutions.markFailed(repository, BatchRun.JOB);
        for (String id : batches.unfinished()) {
            LOG.info("resuming batch {} that an earlier run of the service left unfinished", id);
            start(id);
        }
    }

    @Override
    public void close() {
        runner.shutdownNow();
    }
}
