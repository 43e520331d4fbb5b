package io.headroom.sessions.kv;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import java.util.UUID;

/**
 * What the KV tiers file a session's KV under: its owner and its id, in every tier (the engine's
 * map, host memory, the spill file's name). A session id presented by another user names another
 * key, so it can never reach the owner's KV, even where the database check before it were missed.
 *
 * @param owner the user the session belongs to
 * @param id the session
 */
public record SessionKey(String owner, UUID id) {

    public SessionKey {
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(id, "id");
    }

    /** The spill file's name: the id and a digest of the owner (no user name on disk). */
    String fileName() {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(owner.getBytes(StandardCharsets.UTF_8));
            return id + "-" + HexFormat.of().formatHex(digest, 0, 12) + ".kv";
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
