package io.headroom.jobs;

import java.time.LocalDateTime;
import java.util.List;
import org.springframework.batch.core.BatchStatus;
import org.springframework.batch.core.job.JobExecution;
import org.springframework.batch.core.repository.JobRepository;
import org.springframework.batch.core.step.StepExecution;

/**
 * Executions of a job that a crash left marked as running: at start-up nothing runs them any more,
 * and Spring Batch restarts only a failed execution, so they are marked failed (with their running
 * steps) before they are run again.
 */
public final class InterruptedExecutions {

    private InterruptedExecutions() {
    }

    /** Marks every execution of {@code job} still recorded as running failed; returns them. */
    public static List<JobExecution> markFailed(JobRepository repository, String job) {
        List<JobExecution> interrupted = List.copyOf(repository.findRunningJobExecutions(job));
        for (JobExecution e : interrupted) {
            LocalDateTime now = LocalDateTime.now();
            for (StepExecution s : e.getStepExecutions()) {
                if (s.getStatus().isRunning()) {
                    s.setStatus(BatchStatus.FAILED);
                    s.setEndTime(now);
                    repository.update(s);
                }
            }
            e.setStatus(BatchStatus.FAILED);
            e.setEndTime(now);
            repository.update(e);
        }
        return interrupted;
    }
}
