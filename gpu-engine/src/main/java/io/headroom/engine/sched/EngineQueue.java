package io.headroom.engine.sched;

import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The single worker that owns the engine's device: jobs (chat turns, document prefill, batch work)
 * run one at a time in arrival order. The queue is bounded; a submission that finds it full fails
 * at once with {@link QueueFullException} instead of waiting.
 */
public final class EngineQueue implements AutoCloseable {

    /** The queue is full; try again after {@link #retryAfter()}. */
    public static final class QueueFullException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        private final transient Duration retryAfter;

        QueueFullException(int capacity, Duration retryAfter) {
            super("the engine queue is full (" + capacity + " waiting); retry in " + retryAfter.toSeconds() + " s");
            this.retryAfter = retryAfter;
        }

        /** About how long the jobs now waiting take to run: when a retry is likely to find room. */
        public Duration retryAfter() {
            return retryAfter;
        }
    }

    /** Weight of the newest job in the moving mean of job durations. */
    private static final double MEAN_WEIGHT = 0.2;

    private final int capacity;
    private final ThreadPoolExecutor executor;
    /** Moving mean of job run times, in nanoseconds (0 until a job has run); written by the worker. */
    private volatile double meanJobNanos;

    public EngineQueue(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("queue capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(capacity),
                r -> {
                    Thread t = new Thread(r, "headroom-engine");
                    t.setDaemon(true);
                    return t;
                }, new ThreadPoolExecutor.AbortPolicy());
    }

    /** Queues {@code job}; throws {@link QueueFullException} when {@code capacity} jobs already wait. */
    public <T> CompletableFuture<T> submit(Supplier<T> job) {
        try {
            return CompletableFuture.supplyAsync(() -> timed(job), executor);
        } catch (RejectedExecutionException e) {
            throw new QueueFullException(capacity, drainTime());
        }
    }

    private <T> T timed(Supplier<T> job) {
        long t0 = System.nanoTime();
        try {
            return job.get();
        } finally {
            double took = System.nanoTime() - t0;
            double mean = meanJobNanos;
            meanJobNanos = mean == 0 ? took : mean + MEAN_WEIGHT * (took - mean);
        }
    }

    /**
     * About how long the jobs waiting now and the one running take: the waiting ones and the running
     * one at the moving mean of recent job times, rounded up to whole seconds, at least one.
     */
    public Duration drainTime() {
        double nanos = (depth() + 1) * meanJobNanos;
        return Duration.ofSeconds(Math.max(1, (long) Math.ceil(nanos / 1e9)));
    }

    /** Jobs waiting (not counting the one running). */
    public int depth() {
        return executor.getQueue().size();
    }

    public int capacity() {
        return capacity;
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
