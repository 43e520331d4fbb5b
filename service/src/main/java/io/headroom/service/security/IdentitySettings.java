package io.headroom.service.security;

import java.net.URI;

/**
 * The identity provider this instance trusts, resolved from {@link SecurityProperties} (and the
 * in-process provider in {@code dev-oidc} mode). Start-up fails with a message when the settings
 * are inconsistent: {@code oidc} without an issuer or an audience.
 *
 * @param mode the effective mode
 * @param issuer the OIDC issuer; null in {@code local} mode
 * @param audience the audience API tokens must carry
 * @param clientId the browser login's client id; null: no browser login
 * @param clientSecret its secret (may be null: a public client with PKCE)
 */
public record IdentitySettings(SecurityProperties.Mode mode, URI issuer, String audience, String clientId,
        String clientSecret) {

    /** The secret the in-process provider's client uses; the provider accepts any, it protects nothing. */
    static final String DEV_CLIENT_SECRET = "dev-oidc-client";

    public static IdentitySettings of(SecurityProperties p, DevIdentityProvider dev) {
        return switch (p.effectiveMode()) {
            case LOCAL -> new IdentitySettings(SecurityProperties.Mode.LOCAL, null, null, null, null);
            case DEV_OIDC -> {
                if (dev == null) {
                    throw new IllegalStateException("dev-oidc mode needs its in-process provider");
                }
                yield new IdentitySettings(SecurityProperties.Mode.DEV_OIDC, dev.issuer(), DevIdentityProvider.NAME,
                        DevIdentityProvider.NAME, DEV_CLIENT_SECRET);
            }
            case OIDC -> {
                if (p.issuerUri() == null) {
                    throw new IllegalStateException("headroom.security.mode is oidc but headroom.security.issuer-uri "
                            + "is not set: name the identity provider's issuer");
                }
                if (p.audience() == null || p.audience().isBlank()) {
                    throw new IllegalStateException("headroom.security.audience is required in oidc mode: API tokens "
                            + "must be meant for this service (the aud claim), not for any client of the provider");
                }
                yield new IdentitySettings(SecurityProperties.Mode.OIDC, p.issuerUri(), p.audience(),
                        blankToNull(p.clientId()), blankToNull(p.clientSecret()));
            }
        };
    }

    /** Whether browsers can sign in (a client is registered at the provider). */
    public boolean browserLogin() {
        return issuer != null && clientId != null;
    }

    /** One line for the start-up log (no secret in it). */
    String describe() {
        return switch (mode) {
            case LOCAL -> "security: local mode, no identity provider configured: requests without credentials act "
                    + "as the local user and the service listens on the loopback interface only "
                    + "(set headroom.security.issuer-uri and audience for SSO, or headroom.security.mode=dev-oidc)";
            case DEV_OIDC -> "security: dev-oidc mode, the in-process provider at " + issuer
                    + " signs users in (sign in at /auth/login)";
            case OIDC -> "security: oidc mode, issuer " + issuer + ", audience " + audience
                    + (browserLogin() ? ", browser sign-in as client " + clientId
                            : ", no browser sign-in (no client-id)");
        };
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
