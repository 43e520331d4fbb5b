package io.headroom.engine.sched;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The single worker that owns the engine's device: jobs (chat turns, document prefill, corpus
 * prefill, batch work) run one at a time. Two lanes: {@link Priority#INTERACTIVE} jobs (a person is
 * waiting) always run before {@link Priority#BACKGROUND} ones, which run only when no interactive
 * job waits; within a lane, in arrival order. Background work is submitted in small pieces (a
 * corpus prefill one chunk at a time), so an interactive job waits for at most one piece. Each lane
 * is bounded; a submission that finds its lane full fails at once with {@link QueueFullException}
 * instead of waiting.
 */
public final class EngineQueue implements AutoCloseable {

    /** Which lane a job waits in. */
    public enum Priority { INTERACTIVE, BACKGROUND }

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
    private final ArrayDeque<Runnable> interactive = new ArrayDeque<>();
    private final ArrayDeque<Runnable> background = new ArrayDeque<>();
    private final List<CompletableFuture<?>> pending = new ArrayList<>();
    private final Thread worker;
    private boolean closed;
    /** Moving mean of job run times, in nanoseconds (0 until a job has run); written by the worker. */
    private volatile double meanJobNanos;

    public EngineQueue(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("queue capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.worker = new Thread(this::work, "headroom-engine");
        worker.setDaemon(true);
        worker.start();
    }

    /** Queues an interactive {@code job}; throws {@link QueueFullException} when {@code capacity} already wait. */
    public <T> CompletableFuture<T> submit(Supplier<T> job) {
        return submit(Priority.INTERACTIVE, job);
    }

    /** Queues {@code job} in {@code priority}'s lane; throws {@link QueueFullException} when that lane is full. */
    public <T> CompletableFuture<T> submit(Priority priority, Supplier<T> job) {
        CompletableFuture<T> result = new CompletableFuture<>();
        ArrayDeque<Runnable> lane = priority == Priority.INTERACTIVE ? interactive : background;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the engine queue is closed");
            }
            if (lane.size() >= capacity) {
                throw new QueueFullException(capacity, drainTime());
            }
            pending.add(result);
            lane.add(() -> {
                try {
                    result.complete(timed(job));
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                }
            });
            notifyAll();
        }
        return result;
    }

    private void work() {
        while (true) {
            Runnable next;
            synchronized (this) {
                while (!closed && interactive.isEmpty() && background.isEmpty()) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                next = interactive.isEmpty() ? background.poll() : interactive.poll();
            }
            next.run();
            synchronized (this) {
                pending.removeIf(CompletableFuture::isDone);
            }
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
     * About how long the interactive jobs waiting now and the one running take: at the moving mean
     * of recent job times, rounded up to whole seconds, at least one.
     */
    public Duration drainTime() {
        double nanos = (depth() + 1) * meanJobNanos;
        return Duration.ofSeconds(Math.max(1, (long) Math.ceil(nanos / 1e9)));
    }

    /** Interactive jobs waiting (not counting the one running). */
    public synchronized int depth() {
        return interactive.size();
    }

    /** Background jobs waiting. */
    public synchronized int backgroundDepth() {
        return background.size();
    }

    public int capacity() {
        return capacity;
    }

    /** Stops the worker after the job it is running; jobs still waiting fail with a cancellation. */
    @Override
    public void close() {
        List<CompletableFuture<?>> abandoned;
        synchronized (this) {
            closed = true;
            interactive.clear();
            background.clear();
            abandoned = new ArrayList<>(pending);
            pending.clear();
            notifyAll();
        }
        worker.interrupt();
        abandoned.forEach(f -> f.completeExceptionally(new CancellationException("the engine queue was closed")));
    }
}
