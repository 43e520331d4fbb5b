package io.headroom.service.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * {@code headroom.sessions.*}: how large inputs may be, where KV lives.
 *
 * @param maxAppendSize the largest document or message body accepted (413 beyond)
 * @param tiers KV budgets per tier and idle handling
 * @param database the embedded PostgreSQL used when {@code spring.datasource.url} is not set
 */
@Validated
@ConfigurationProperties("headroom.sessions")
public record SessionProperties(
        @NotNull @DefaultValue("4MB") DataSize maxAppendSize,
        @Valid @NotNull @DefaultValue Tiers tiers,
        @Valid @NotNull @DefaultValue Database database) {

    /**
     * @param deviceBudget bytes of active sessions' KV kept in the engine
     * @param hostBudget bytes of parked retrieval KV kept off-heap before spilling to disk
     * @param idleTimeout a session idle this long moves down a tier
     * @param evictionInterval how often idle sessions are looked for
     * @param spillDirectory where spill files go ({@code <tmp>/headroom-kv} when unset)
     */
    public record Tiers(
            @NotNull @DefaultValue("512MB") DataSize deviceBudget,
            @NotNull @DefaultValue("2GB") DataSize hostBudget,
            @NotNull @DefaultValue("10m") Duration idleTimeout,
            @NotNull @DefaultValue("30s") Duration evictionInterval,
            Path spillDirectory) {

        public Path spillDirectoryOrDefault() {
            return spillDirectory != null ? spillDirectory
                    : Path.of(System.getProperty("java.io.tmpdir"), "headroom-kv");
        }
    }

    /**
     * @param dataDirectory embedded PostgreSQL data directory, kept across restarts
     *     ({@code <tmp>/headroom-pg} when unset)
     * @param port 0 picks a free port
     */
    public record Database(Path dataDirectory, @DefaultValue("0") int port) {

        public Path dataDirectoryOrDefault() {
            return dataDirectory != null ? dataDirectory : Path.of(System.getProperty("java.io.tmpdir"), "headroom-pg");
        }
    }
}
