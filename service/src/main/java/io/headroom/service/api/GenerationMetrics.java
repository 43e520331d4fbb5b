package io.headroom.service.api;

import io.headroom.engine.generate.TokenListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.stereotype.Component;

/**
 * What every generating endpoint reports, tagged by API ({@code sessions}, {@code chat_completions}):
 * {@code headroom_time_to_first_token_seconds} and {@code headroom_tokens_generated_total}.
 */
@Component
public class GenerationMetrics {

    /** The APIs that generate. */
    public enum Api {
        SESSIONS("sessions"), CHAT_COMPLETIONS("chat_completions");

        private final String tag;

        Api(String tag) {
            this.tag = tag;
        }
    }

    private final MeterRegistry registry;

    public GenerationMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** Wraps {@code next}, recording the time from {@code startedNanos} to the first token. */
    public TokenListener timingFirstToken(Api api, long startedNanos, TokenListener next) {
        Timer timer = Timer.builder("headroom.time.to.first.token").tag("api", api.tag)
                .description("from accepting a request to its first generated token").register(registry);
        AtomicBoolean seen = new AtomicBoolean();
        return (tokenId, text) -> {
            if (tokenId >= 0 && seen.compareAndSet(false, true)) {
                timer.record(System.nanoTime() - startedNanos, TimeUnit.NANOSECONDS);
            }
            next.onToken(tokenId, text);
        };
    }

    /** Counts the tokens of a finished (or cancelled) generation. */
    public void generated(Api api, int tokens) {
        Counter.builder("headroom.tokens.generated").tag("api", api.tag).description("tokens generated")
                .register(registry).increment(tokens);
    }
}
