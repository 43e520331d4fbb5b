package io.headroom.engine.sched;

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

    /** The queue is full; try again later. */
    public static final class QueueFullException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        QueueFullException(int capacity) {
            super("the engine queue is full (" + capacity + " waiting); retry shortly");
        }
    }

    private final int capacity;
    private final ThreadPoolExecutor executor;

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
            return CompletableFuture.supplyAsync(job, executor);
        } catch (RejectedExecutionException e) {
            throw new QueueFullException(capacity);
        }
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
