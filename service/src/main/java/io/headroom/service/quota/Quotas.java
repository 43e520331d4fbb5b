package io.headroom.service.quota;

import io.headroom.service.security.SecurityProperties;
import io.headroom.sessions.Admission;
import io.headroom.sessions.QuotaExceededException;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.store.SessionStore;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Per-user quotas: sessions held, tokens stored across sessions, KV bytes held across the tiers,
 * API requests and tokens (prompt and generated) per minute. Defaults come from {@code
 * headroom.security.quotas}; a row in {@code user_quotas} overrides any of them for one user.
 * Everything is checked before work is queued or written ({@link Admission}), so a refused request
 * leaves nothing behind. The per-minute counts live in PostgreSQL ({@code usage_windows}, one row
 * per user and minute), so every replica counts against the same limit.
 */
@Component
public class Quotas implements Admission {

    /** One user's limits in effect. */
    public record Limits(int sessions, long storedTokens, long kvBytes, int requestsPerMinute, long tokensPerMinute,
            long uploadBytes) {
    }

    private final SecurityProperties.Quotas defaults;
    private final JdbcClient jdbc;
    private final SessionStore store;
    private final SessionEngine engine;

    public Quotas(SecurityProperties properties, JdbcClient jdbc, SessionStore store, SessionEngine engine) {
        this.defaults = properties.quotas();
        this.jdbc = jdbc;
        this.store = store;
        this.engine = engine;
        engine.setAdmission(this);
    }

    /** The limits in effect for {@code owner}: the defaults, overridden where their row says so. */
    public Limits limits(String owner) {
        Limits d = new Limits(defaults.sessions(), defaults.storedTokens(), defaults.kvBytes().toBytes(),
                defaults.requestsPerMinute(), defaults.tokensPerMinute(), defaults.uploadBytes().toBytes());
        return jdbc.sql("SELECT sessions, stored_tokens, kv_bytes, requests_per_minute, tokens_per_minute, "
                + "upload_bytes FROM user_quotas WHERE owner = ?").param(owner).query((rs, n) -> new Limits(
                        orDefault(rs.getObject("sessions", Integer.class), d.sessions()),
                        orDefault(rs.getObject("stored_tokens", Long.class), d.storedTokens()),
                        orDefault(rs.getObject("kv_bytes", Long.class), d.kvBytes()),
                        orDefault(rs.getObject("requests_per_minute", Integer.class), d.requestsPerMinute()),
                        orDefault(rs.getObject("tokens_per_minute", Long.class), d.tokensPerMinute()),
                        orDefault(rs.getObject("upload_bytes", Long.class), d.uploadBytes())))
                .optional().orElse(d);
    }

    /** The override row of {@code owner}, if any (null fields: the default applies). */
    public Optional<Overrides> overrides(String owner) {
        return jdbc.sql("SELECT sessions, stored_tokens, kv_bytes, requests_per_minute, tokens_per_minute, "
                + "upload_bytes FROM user_quotas WHERE owner = ?").param(owner).query((rs, n) -> new Overrides(
                        rs.getObject("sessions", Integer.class), rs.getObject("stored_tokens", Long.class),
                        rs.getObject("kv_bytes", Long.class), rs.getObject("requests_per_minute", Integer.class),
                        rs.getObject("tokens_per_minute", Long.class), rs.getObject("upload_bytes", Long.class)))
                .optional();
    }

    /** Per-user overrides; a null field keeps the default. */
    public record Overrides(Integer sessions, Long storedTokens, Long kvBytes, Integer requestsPerMinute,
            Long tokensPerMinute, Long uploadBytes) {
    }

    /** Replaces {@code owner}'s overrides (all null: back to the defaults). */
    public void setOverrides(String owner, Overrides o) {
        jdbc.sql("INSERT INTO user_quotas (owner, sessions, stored_tokens, kv_bytes, requests_per_minute, "
                + "tokens_per_minute, upload_bytes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, now()) "
                + "ON CONFLICT (owner) DO UPDATE SET sessions = EXCLUDED.sessions, "
                + "stored_tokens = EXCLUDED.stored_tokens, kv_bytes = EXCLUDED.kv_bytes, "
                + "requests_per_minute = EXCLUDED.requests_per_minute, tokens_per_minute = EXCLUDED.tokens_per_minute, "
                + "upload_bytes = EXCLUDED.upload_bytes, updated_at = now()")
                .params(owner, o.sessions(), o.storedTokens(), o.kvBytes(), o.requestsPerMinute(), o.tokensPerMinute(),
                        o.uploadBytes())
                .update();
    }

    @Override
    public int maxSessions(String owner) {
        return limits(owner).sessions();
    }

    @Override
    public void admit(String owner, long storedTokens, long processedTokens) {
        Limits l = limits(owner);
        if (storedTokens > 0) {
            long stored = store.storedTokens(owner);
            if (stored + storedTokens > l.storedTokens()) {
                throw new QuotaExceededException("stored_tokens", "this would store " + (stored + storedTokens)
                        + " tokens across your sessions; your quota is " + l.storedTokens()
                        + ": delete sessions to make room", Duration.ofMinutes(1));
            }
            long kv = kvBytes(owner);
            if (kv >= l.kvBytes()) {
                throw new QuotaExceededException("kv_bytes", "your sessions hold " + kv + " bytes of KV; your quota is "
                        + l.kvBytes() + ": delete sessions to make room", Duration.ofMinutes(1));
            }
        }
        if (processedTokens > 0) {
            long used = jdbc.sql("SELECT COALESCE(SUM(tokens), 0) FROM usage_windows WHERE owner = ? "
                    + "AND window_start = date_trunc('minute', now())").param(owner).query(Long.class).single();
            if (used + processedTokens > l.tokensPerMinute()) {
                throw new QuotaExceededException("tokens_per_minute", "this needs " + processedTokens + " tokens and "
                        + used + " of your " + l.tokensPerMinute() + " tokens per minute are used", untilNextMinute());
            }
        }
    }

    @Override
    public void consumed(String owner, long tokens) {
        jdbc.sql("INSERT INTO usage_windows (owner, window_start, tokens) VALUES (?, date_trunc('minute', now()), ?) "
                + "ON CONFLICT (owner, window_start) DO UPDATE SET tokens = usage_windows.tokens + EXCLUDED.tokens")
                .params(owner, tokens).update();
    }

    /** Counts one API request; throws {@link QuotaExceededException} past the per-minute limit. */
    public void countRequest(String owner) {
        int limit = limits(owner).requestsPerMinute();
        int n = jdbc.sql("INSERT INTO usage_windows (owner, window_start, requests) VALUES (?, date_trunc('minute', "
                + "now()), 1) ON CONFLICT (owner, window_start) DO UPDATE SET requests = usage_windows.requests + 1 "
                + "RETURNING requests").param(owner).query(Integer.class).single();
        if (n > limit) {
            throw new QuotaExceededException("requests_per_minute", "you have made " + limit + " requests this minute, "
                    + "the most your quota allows", untilNextMinute());
        }
    }

    /** KV bytes the owner's sessions hold in every tier. */
    public long kvBytes(String owner) {
        long sum = 0;
        for (UUID id : store.sessionIds(owner)) {
            for (long b : engine.tiers().bytes(new io.headroom.sessions.kv.SessionKey(owner, id)).values()) {
                sum += b;
            }
        }
        return sum;
    }

    @Scheduled(fixedDelayString = "PT10M", initialDelayString = "PT1M")
    void deleteOldWindows() {
        jdbc.sql("DELETE FROM usage_windows WHERE window_start < now() - interval '1 hour'").update();
    }

    private static Duration untilNextMinute() {
        long s = Instant.now().getEpochSecond() % 60;
        return Duration.ofSeconds(60 - s);
    }

    private static <T> T orDefault(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
