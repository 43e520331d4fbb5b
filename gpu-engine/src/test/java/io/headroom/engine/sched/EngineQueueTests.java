package io.headroom.engine.sched;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The engine's bounded queue: fast refusal when full, and a Retry-After computed from its jobs. */
class EngineQueueTests {

    static Object sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return null;
    }

    /** Starts a job that holds the worker until the returned latch is released. */
    static CountDownLatch occupy(EngineQueue queue) throws InterruptedException {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        queue.submit(() -> {
            started.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        });
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        return release;
    }

    @Test
    void aFullQueueShouldRefuseAtOnceWithTheTimeItsJobsTakeToDrain() throws Exception {
        try (EngineQueue queue = new EngineQueue(2)) {
            // teach the queue that jobs take about 1.2 s
            queue.submit(() -> sleep(1200)).get(10, TimeUnit.SECONDS);
            CountDownLatch release = occupy(queue);
            queue.submit(() -> null);
            queue.submit(() -> null);
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> queue.submit(() -> null)).isInstanceOfSatisfying(
                    EngineQueue.QueueFullException.class, e -> {
                        // two waiting and one running, at ~1.2 s each: 3.6 s, rounded up
                        assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(4));
                        assertThat(e.getMessage()).contains("retry in 4 s");
                    });
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
            release.countDown();
        }
    }

    @Test
    void interactiveJobsShouldRunBeforeBackgroundJobsThatWaitedLonger() throws Exception {
        try (EngineQueue queue = new EngineQueue(4)) {
            CountDownLatch release = occupy(queue);
            java.util.List<String> order = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
            var b1 = queue.submit(EngineQueue.Priority.BACKGROUND, () -> order.add("b1"));
            var i1 = queue.submit(() -> order.add("i1"));
            var b2 = queue.submit(EngineQueue.Priority.BACKGROUND, () -> order.add("b2"));
            var i2 = queue.submit(EngineQueue.Priority.INTERACTIVE, () -> order.add("i2"));
            assertThat(queue.depth()).isEqualTo(2);
            assertThat(queue.backgroundDepth()).isEqualTo(2);
            release.countDown();
            java.util.concurrent.CompletableFuture.allOf(b1, i1, b2, i2).get(10, TimeUnit.SECONDS);
            assertThat(order).containsExactly("i1", "i2", "b1", "b2");
        }
    }

    @Test
    void closingShouldFailTheJobsStillWaiting() throws Exception {
        EngineQueue queue = new EngineQueue(2);
        CountDownLatch started = new CountDownLatch(1);
        queue.submit(() -> {
            started.countDown();
            return sleep(10_000);
        });
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        var waiting = queue.submit(EngineQueue.Priority.BACKGROUND, () -> "never");
        queue.close();
        assertThatThrownBy(() -> waiting.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(
                java.util.concurrent.CancellationException.class);
        assertThatThrownBy(() -> queue.submit(() -> null)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void anIdleQueueShouldSayOneSecond() {
        try (EngineQueue queue = new EngineQueue(1)) {
            assertThat(queue.drainTime()).isEqualTo(Duration.ofSeconds(1));
        }
    }
}
