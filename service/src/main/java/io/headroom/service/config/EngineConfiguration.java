package io.headroom.service.config;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.corpus.CorpusSnapshots;
import io.headroom.sessions.kv.KvTiers;
import io.headroom.sessions.store.SessionStore;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Files;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.scheduling.annotation.Scheduled;

/** Maps the typed properties onto the engine's plain configuration and wires the session engine. */
@Configuration(proxyBeanMethods = false)
public class EngineConfiguration {

    @Bean(destroyMethod = "close")
    LoadedModel loadedModel(EngineProperties p) {
        int threads = p.threads() > 0 ? p.threads() : Runtime.getRuntime().availableProcessors();
        int chunk = p.prefillChunk() > 0 ? p.prefillChunk() : LoadedModel.defaultPrefillChunk(p.backend());
        return LoadedModel.load(p.model(), new EngineOptions(p.backend(), threads, chunk,
                p.kvPageTokens(), p.deviceKvType(), p.deviceSequences(), p.deviceContext()));
    }

    @Bean(destroyMethod = "close")
    EngineQueue engineQueue(EngineProperties p) {
        return new EngineQueue(p.queueCapacity());
    }

    @Bean(destroyMethod = "close")
    KvTiers kvTiers(SessionProperties p, LoadedModel model) {
        var t = p.tiers();
        // on the GPU, never more than the page pool can hold with room for one more session to grow
        long deviceBudget = Math.min(t.deviceBudget().toBytes(), model.model().residentKvLimit());
        return new KvTiers(deviceBudget, t.hostBudget().toBytes(), t.idleTimeout(),
                t.spillDirectoryOrDefault(), new KvTiers.KvShape(model.config().headDim(),
                        model.options().kvPageTokens(), model.config().maxPositions()));
    }

    @Bean(destroyMethod = "close")
    SessionEngine sessionEngine(EngineProperties p, LoadedModel model, KvTiers tiers, SessionStore store,
            EngineQueue queue, MeterRegistry registry, CorpusSnapshots snapshots) {
        AttentionPattern pattern = p.pattern() != null && Files.isDirectory(p.pattern())
                ? AttentionPattern.load(p.pattern()) : null;
        SessionEngine engine = new SessionEngine(model, p.modelName(), pattern, tiers, store, queue, snapshots);
        Gauge.builder("headroom.engine.queue.depth", queue, EngineQueue::depth)
                .description("engine jobs waiting").register(registry);
        Gauge.builder("headroom.engine.queue.background.depth", queue, EngineQueue::backgroundDepth)
                .description("background engine jobs waiting (corpus prefill, batches)").register(registry);
        for (KvTiers.Tier tier : KvTiers.Tier.values()) {
            Gauge.builder("headroom.kv.bytes", tiers, t -> t.totals().get(tier))
                    .tag("tier", tier.name().toLowerCase(java.util.Locale.ROOT))
                    .description("KV bytes held per tier").baseUnit("bytes").register(registry);
        }
        for (KvTiers.Source source : KvTiers.Source.values()) {
            FunctionCounter.builder("headroom.kv.checkouts", tiers, t -> t.checkouts(source))
                    .tag("source", source.name().toLowerCase(java.util.Locale.ROOT))
                    .description("where a session's KV came from at the start of a turn").register(registry);
        }
        Gauge.builder("headroom.sessions.resident", tiers, t -> t.counts().get(0)).tag("state", "active")
                .register(registry);
        Gauge.builder("headroom.sessions.resident", tiers, t -> t.counts().get(1)).tag("state", "idle")
                .register(registry);
        return engine;
    }

    /** Moves idle sessions down a tier now and then. */
    @Configuration(proxyBeanMethods = false)
    static class IdleSweep {

        private final SessionEngine engine;

        IdleSweep(SessionEngine engine) {
            this.engine = engine;
        }

        @Scheduled(fixedDelayString = "${headroom.sessions.tiers.eviction-interval:30s}",
                initialDelayString = "${headroom.sessions.tiers.eviction-interval:30s}")
        void sweep() {
            engine.evictIdle();
        }
    }
}
