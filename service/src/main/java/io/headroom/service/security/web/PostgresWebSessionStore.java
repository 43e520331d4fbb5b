package io.headroom.service.security.web;

import java.io.Serializable;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.security.web.server.context.WebSessionServerSecurityContextRepository;
import org.springframework.web.server.WebSession;
import org.springframework.web.server.session.WebSessionStore;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The browser's sessions in PostgreSQL ({@code web_sessions}), so that a signed-in user stays signed
 * in across a restart and on every replica. Ids are 256 random bits; only their SHA-256 is stored.
 * A session is written when it has been started or holds attributes, and then only when its
 * attributes changed or its last access moved by more than {@link #TOUCH_INTERVAL} (a page of API
 * calls is not a page of writes). Expired rows are deleted by {@link #deleteExpired()}.
 */
public final class PostgresWebSessionStore implements WebSessionStore {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresWebSessionStore.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** How stale the stored last access may get before a request writes it. */
    static final Duration TOUCH_INTERVAL = Duration.ofMinutes(1);

    private final JdbcClient jdbc;
    private final Duration maxIdle;
    private final Clock clock;

    public PostgresWebSessionStore(JdbcClient jdbc, Duration maxIdle, Clock clock) {
        this.jdbc = jdbc;
        this.maxIdle = maxIdle;
        this.clock = clock;
    }

    @Override
    public Mono<WebSession> createWebSession() {
        return Mono.fromSupplier(() -> new StoredSession(newId(), clock.instant(), clock.instant(), maxIdle,
                new ConcurrentHashMap<>(), null, null));
    }

    @Override
    public Mono<WebSession> retrieveSession(String id) {
        return Mono.fromCallable(() -> load(id)).subscribeOn(Schedulers.boundedElastic());
    }

    @Override
    public Mono<Void> removeSession(String id) {
        return Mono.fromRunnable(() -> delete(hash(id))).subscribeOn(Schedulers.boundedElastic()).then();
    }

    @Override
    public Mono<WebSession> updateLastAccessTime(WebSession session) {
        return Mono.fromSupplier(() -> {
            ((StoredSession) session).lastAccess = clock.instant();
            return session;
        });
    }

    /** Deletes sessions past their idle time (and their links to provider sessions); returns how many. */
    public int deleteExpired() {
        int n = jdbc.sql("DELETE FROM web_sessions WHERE expires_at < now()").update();
        jdbc.sql("DELETE FROM oidc_sessions o WHERE NOT EXISTS (SELECT 1 FROM web_sessions w "
                + "WHERE w.id_hash = o.session_id_hash) AND o.created_at < now() - interval '1 hour'").update();
        return n;
    }

    private WebSession load(String id) {
        if (id == null || id.length() > 100) {
            return null;
        }
        byte[] key = hash(id);
        return jdbc.sql("SELECT created_at, last_access_at, max_idle_seconds, attributes FROM web_sessions "
                + "WHERE id_hash = ? AND expires_at > now()").param(key).query((rs, n) -> {
                    byte[] data = rs.getBytes("attributes");
                    Object attributes = SessionSerializer.read(data);
                    if (!(attributes instanceof Map<?, ?> map)) {
                        LOG.warn("a stored web session could not be read; the user signs in again");
                        return null;
                    }
                    Map<String, Object> copy = new ConcurrentHashMap<>();
                    map.forEach((k, v) -> copy.put((String) k, v));
                    Instant lastAccess = rs.getTimestamp("last_access_at").toInstant();
                    StoredSession s = new StoredSession(id, rs.getTimestamp("created_at").toInstant(), lastAccess,
                            Duration.ofSeconds(rs.getInt("max_idle_seconds")), copy, data, lastAccess);
                    s.started = true;
                    return (WebSession) s;
                }).optional().orElse(null);
    }

    private void delete(byte[] key) {
        jdbc.sql("DELETE FROM web_sessions WHERE id_hash = ?").param(key).update();
    }

    private void save(StoredSession s) {
        HashMap<String, Object> serialisable = new HashMap<>();
        s.attributes.forEach((k, v) -> {
            if (v instanceof Serializable) {
                serialisable.put(k, v);
            } else {
                LOG.debug("web session attribute {} is not serialisable; it is not kept", k);
            }
        });
        byte[] data = SessionSerializer.write(serialisable);
        if (s.storedBytes != null && Arrays.equals(data, s.storedBytes) && s.storedAccess != null
                && Duration.between(s.storedAccess, s.lastAccess).compareTo(TOUCH_INTERVAL) < 0) {
            return;
        }
        Instant expires = s.lastAccess.plus(s.maxIdle);
        jdbc.sql("INSERT INTO web_sessions (id_hash, principal, created_at, last_access_at, max_idle_seconds, "
                + "expires_at, attributes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET "
                + "principal = EXCLUDED.principal, last_access_at = EXCLUDED.last_access_at, "
                + "max_idle_seconds = EXCLUDED.max_idle_seconds, expires_at = EXCLUDED.expires_at, "
                + "attributes = EXCLUDED.attributes")
                .params(hash(s.id), principal(s.attributes), Timestamp.from(s.creation), Timestamp.from(s.lastAccess),
                        (int) s.maxIdle.toSeconds(), Timestamp.from(expires), data)
                .update();
        s.storedBytes = data;
        s.storedAccess = s.lastAccess;
    }

    private static String principal(Map<String, Object> attributes) {
        Object context = attributes.get(
                WebSessionServerSecurityContextRepository.DEFAULT_SPRING_SECURITY_CONTEXT_ATTR_NAME);
        return context instanceof SecurityContext c && c.getAuthentication() != null
                ? c.getAuthentication().getName() : null;
    }

    static String newId() {
        byte[] random = new byte[32];
        RANDOM.nextBytes(random);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(random);
    }

    /** How a session id is kept at rest. */
    static byte[] hash(String id) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(id.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One browser session: attributes in memory for the request, written back by {@link #save()}. */
    private final class StoredSession implements WebSession {

        private volatile String id;
        private final Instant creation;
        private volatile Instant lastAccess;
        private volatile Duration maxIdle;
        private final Map<String, Object> attributes;
        /** What the row holds now (null: no row yet), to skip writes that change nothing. */
        private volatile byte[] storedBytes;
        private volatile Instant storedAccess;
        private volatile boolean started;
        private volatile boolean invalidated;

        StoredSession(String id, Instant creation, Instant lastAccess, Duration maxIdle, Map<String, Object> attributes,
                byte[] storedBytes, Instant storedAccess) {
            this.id = id;
            this.creation = creation;
            this.lastAccess = lastAccess;
            this.maxIdle = maxIdle;
            this.attributes = attributes;
            this.storedBytes = storedBytes;
            this.storedAccess = storedAccess;
        }

        @Override
        public String getId() {
            return id;
        }

        @Override
        public Map<String, Object> getAttributes() {
            return attributes;
        }

        @Override
        public void start() {
            started = true;
        }

        @Override
        public boolean isStarted() {
            return started || !attributes.isEmpty();
        }

        @Override
        public Mono<Void> changeSessionId() {
            return Mono.fromRunnable(() -> {
                String old = id;
                id = newId();
                if (storedBytes != null) {
                    delete(hash(old));
                    storedBytes = null;
                    storedAccess = null;
                }
            }).subscribeOn(Schedulers.boundedElastic()).then();
        }

        @Override
        public Mono<Void> invalidate() {
            return Mono.fromRunnable(() -> {
                invalidated = true;
                attributes.clear();
                delete(hash(id));
                storedBytes = null;
            }).subscribeOn(Schedulers.boundedElastic()).then();
        }

        @Override
        public Mono<Void> save() {
            if (invalidated || !isStarted()) {
                return Mono.empty();
            }
            return Mono.fromRunnable(() -> PostgresWebSessionStore.this.save(this))
                    .subscribeOn(Schedulers.boundedElastic()).then();
        }

        @Override
        public boolean isExpired() {
            return !invalidated && lastAccess.plus(maxIdle).isBefore(clock.instant());
        }

        @Override
        public Instant getCreationTime() {
            return creation;
        }

        @Override
        public Instant getLastAccessTime() {
            return lastAccess;
        }

        @Override
        public void setMaxIdleTime(Duration maxIdleTime) {
            this.maxIdle = maxIdleTime;
        }

        @Override
        public Duration getMaxIdleTime() {
            return maxIdle;
        }
    }
}
