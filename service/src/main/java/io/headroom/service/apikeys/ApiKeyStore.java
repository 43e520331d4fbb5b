package io.headroom.service.apikeys;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * API keys in PostgreSQL. A key is {@code hr_} and 43 characters of base64url (256 random bits); it
 * is returned once, at creation, and only its SHA-256 is stored. Blocking: call off the event loop.
 */
@Component
public class ApiKeyStore {

    /** What every key starts with, so that a bearer token is told apart from a JWT. */
    public static final String PREFIX = "hr_";
    /** Characters of the key kept in clear, to tell keys apart in a list. */
    static final int SHOWN_PREFIX = PREFIX.length() + 6;

    private static final SecureRandom RANDOM = new SecureRandom();

    /** A stored key (never its secret). */
    public record ApiKey(UUID id, String owner, String name, String prefix, Instant createdAt, Instant lastUsedAt,
            Instant expiresAt, Instant revokedAt) {

        boolean expired(Instant now) {
            return expiresAt != null && !expiresAt.isAfter(now);
        }
    }

    /** A key just created: the record and the secret, which is never available again. */
    public record Created(ApiKey key, String secret) {
    }

    private final JdbcClient jdbc;
    private final TransactionTemplate tx;

    public ApiKeyStore(JdbcClient jdbc, TransactionTemplate tx) {
        this.jdbc = jdbc;
        this.tx = tx;
    }

    /**
     * Creates a key for {@code owner}, or throws {@link KeyLimitException} when they hold {@code max}
     * usable keys already (counted under a per-owner lock, so concurrent creates cannot pass it).
     */
    public Created create(String owner, String name, Instant expiresAt, int max) {
        byte[] random = new byte[32];
        RANDOM.nextBytes(random);
        String secret = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        Instant now = Instant.now();
        ApiKey key = new ApiKey(UUID.randomUUID(), owner, name, secret.substring(0, SHOWN_PREFIX), now, null,
                expiresAt, null);
        tx.executeWithoutResult(status -> {
            jdbc.sql("SELECT pg_advisory_xact_lock(hashtext('api_keys:' || ?))").param(owner).query().singleRow();
            int held = jdbc.sql("SELECT count(*) FROM api_keys WHERE owner = ? AND revoked_at IS NULL "
                    + "AND (expires_at IS NULL OR expires_at > now())").param(owner).query(Integer.class).single();
            if (held >= max) {
                throw new KeyLimitException(max);
            }
            jdbc.sql("INSERT INTO api_keys (id, owner, name, prefix, secret_hash, created_at, expires_at) "
                    + "VALUES (?, ?, ?, ?, ?, ?, ?)")
                    .params(key.id(), owner, name, key.prefix(), hash(secret), Timestamp.from(now),
                            expiresAt == null ? null : Timestamp.from(expiresAt))
                    .update();
        });
        return new Created(key, secret);
    }

    /** The owner's keys that are not revoked, newest first. */
    public List<ApiKey> list(String owner) {
        return jdbc.sql(SELECT + " WHERE owner = ? AND revoked_at IS NULL ORDER BY created_at DESC")
                .param(owner).query(ApiKeyStore::row).list();
    }

    /** One of the owner's keys that is not revoked. */
    public Optional<ApiKey> find(String owner, UUID id) {
        return jdbc.sql(SELECT + " WHERE id = ? AND owner = ? AND revoked_at IS NULL").params(id, owner)
                .query(ApiKeyStore::row).optional();
    }

    /** A key that is not revoked, whoever owns it: for an admin's reads only. */
    public Optional<ApiKey> findAnyOwner(UUID id) {
        return jdbc.sql(SELECT + " WHERE id = ? AND revoked_at IS NULL").param(id).query(ApiKeyStore::row).optional();
    }

    /** Revokes one of the owner's keys; false when there is no such key. */
    public boolean revoke(String owner, UUID id) {
        return jdbc.sql("UPDATE api_keys SET revoked_at = now() WHERE id = ? AND owner = ? AND revoked_at IS NULL")
                .params(id, owner).update() == 1;
    }

    /** The key whose secret this is, revoked and expired ones included (the caller tells them apart). */
    public Optional<ApiKey> bySecret(String secret) {
        return jdbc.sql(SELECT + " WHERE secret_hash = ?").param(hash(secret)).query(ApiKeyStore::row).optional();
    }

    /**
     * Records a use: {@code last_used_at} moves to now when it is older than {@code interval}.
     * Returns whether it moved (the caller then writes the use to the audit trail), so a key used
     * a thousand times a minute costs one write a minute, on any number of replicas.
     */
    public boolean recordUse(UUID id, Duration interval) {
        return jdbc.sql("UPDATE api_keys SET last_used_at = now() WHERE id = ? AND (last_used_at IS NULL "
                + "OR last_used_at < now() - make_interval(secs => ?))")
                .params(id, (double) interval.toMillis() / 1000).update() == 1;
    }

    private static final String SELECT = "SELECT id, owner, name, prefix, created_at, last_used_at, expires_at, "
            + "revoked_at FROM api_keys";

    private static ApiKey row(java.sql.ResultSet rs, int n) throws java.sql.SQLException {
        return new ApiKey(rs.getObject("id", UUID.class), rs.getString("owner"), rs.getString("name"),
                rs.getString("prefix"), instant(rs.getTimestamp("created_at")),
                instant(rs.getTimestamp("last_used_at")),
                instant(rs.getTimestamp("expires_at")), instant(rs.getTimestamp("revoked_at")));
    }

    private static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }

    static byte[] hash(String secret) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The owner already holds the most keys allowed. */
    public static final class KeyLimitException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        KeyLimitException(int max) {
            super("you hold " + max + " API keys, the most allowed; revoke one first");
        }
    }
}
