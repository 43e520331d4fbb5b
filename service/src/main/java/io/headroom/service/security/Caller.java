package io.headroom.service.security;

/**
 * Who is calling: the user every object they create belongs to, whether they are an admin, and how
 * they proved it. Resolved once per request from the security context ({@link Callers}).
 *
 * @param id the user (the identity provider's subject, or the configured claim; the local user in
 *     local mode); objects are owned by this string
 * @param admin whether the user holds the configured admin role
 * @param via how the request authenticated
 * @param credentialId the API key's id when {@code via} is {@link Via#API_KEY}, else null
 * @param remoteAddress the client's address, for the audit trail (null when not known)
 */
public record Caller(String id, boolean admin, Via via, String credentialId, String remoteAddress) {

    public Caller(String id, boolean admin, Via via, String credentialId) {
        this(id, admin, via, credentialId, null);
    }

    /** This caller as seen from {@code address}. */
    public Caller from(String address) {
        return new Caller(id, admin, via, credentialId, address);
    }

    /** How a request authenticated. */
    public enum Via { JWT, API_KEY, BROWSER, LOCAL;

        /** As written in the audit trail. */
        public String wire() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * The owner to filter reads by: the caller's own objects, or everyone's (null) for an admin.
     * Writes always use {@link #id()}: an admin may read another user's object but not change it.
     */
    public String readScope() {
        return admin ? null : id;
    }
}
