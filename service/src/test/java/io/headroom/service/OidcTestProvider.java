package io.headroom.service;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import no.nav.security.mock.oauth2.MockOAuth2Server;
import no.nav.security.mock.oauth2.OAuth2Config;
import no.nav.security.mock.oauth2.http.NettyWrapper;
import no.nav.security.mock.oauth2.token.DefaultOAuth2TokenCallback;
import no.nav.security.mock.oauth2.token.KeyProvider;
import no.nav.security.mock.oauth2.token.OAuth2TokenProvider;

/**
 * A real OpenID Connect provider for the tests (mock-oauth2-server: discovery, JWKS, authorization
 * code with PKCE, tokens, end-session) plus the ability to mint tokens with exactly the claims a
 * test needs, signed by the provider's own key (expired, not yet valid, wrong issuer or audience) or
 * by a stranger's key, or not signed at all.
 */
final class OidcTestProvider implements AutoCloseable {

    static final String ISSUER_ID = "corp";
    /** The browser client registered for the service, and its secret (the log test greps for it). */
    static final String CLIENT_ID = "headroom-portal";
    static final String CLIENT_SECRET = "portal-client-secret-" + UUID.randomUUID();
    /** The audience API tokens for the service carry. */
    static final String AUDIENCE = "headroom-api";

    private final RotatingKeys keys = new RotatingKeys();

    /** The provider's signing key, which the test may rotate (the JWKS then publishes the new one only). */
    static final class RotatingKeys extends KeyProvider {
        private volatile RSAKey current = newKey("key-1");

        RotatingKeys() {
            super(List.of(), "RS256");
        }

        @Override
        public com.nimbusds.jose.jwk.JWK signingKey(String issuerId) {
            return current;
        }

        /** The provider checks its own tokens (UserInfo) against this. */
        @Override
        public List<com.nimbusds.jose.jwk.JWK> get(com.nimbusds.jose.jwk.JWKSelector selector,
                com.nimbusds.jose.proc.SecurityContext context) {
            return selector == null ? List.of()
                    : selector.select(new com.nimbusds.jose.jwk.JWKSet(current).toPublicJWKSet());
        }

        private final RSAKey first = current;

        void rotate() {
            current = newKey("key-" + UUID.randomUUID());
        }

        void restore() {
            current = first;
        }

        private static RSAKey newKey(String kid) {
            try {
                return new RSAKeyGenerator(2048).keyID(kid).generate();
            } catch (com.nimbusds.jose.JOSEException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** The provider starts signing with a new key (a new key id), as providers do on rotation. */
    void rotateKeys() {
        keys.rotate();
    }

    /** Back to the first key. */
    void restoreKeys() {
        keys.restore();
    }
    private final MockOAuth2Server server;

    OidcTestProvider() {
        server = new MockOAuth2Server(new OAuth2Config(false, null, null, false, new OAuth2TokenProvider(keys),
                Set.of(), new NettyWrapper()));
        server.start(InetAddress.getLoopbackAddress(), 0);
    }

    String issuer() {
        return server.issuerUrl(ISSUER_ID).toString();
    }

    /** The next browser sign-in at the provider signs in {@code user} (admin with {@code groups: [admin]}). */
    void nextSignIn(String user, boolean admin) {
        server.enqueueCallback(new DefaultOAuth2TokenCallback(ISSUER_ID, user, "JWT", List.of(CLIENT_ID),
                admin ? Map.of("groups", List.of("admin"), "sid", "sid-" + user) : Map.of("sid", "sid-" + user), 3600));
    }

    /** A valid API access token for {@code user}. */
    String accessToken(String user, boolean admin) {
        return sign(claims(user, issuer(), AUDIENCE, Instant.now(), Duration.ofHours(1), admin), signingKey());
    }

    JWTClaimsSet.Builder claims(String user, String issuer, String audience, Instant notBefore, Duration lifetime,
            boolean admin) {
        JWTClaimsSet.Builder b = new JWTClaimsSet.Builder().issuer(issuer).subject(user).audience(audience)
                .issueTime(Date.from(notBefore)).notBeforeTime(Date.from(notBefore))
                .expirationTime(Date.from(notBefore.plus(lifetime))).jwtID(UUID.randomUUID().toString());
        if (admin) {
            b.claim("groups", List.of("admin"));
        }
        return b;
    }

    /** The provider's own signing key (private part included). */
    RSAKey signingKey() {
        return (RSAKey) keys.signingKey(ISSUER_ID);
    }

    /** A key the provider never published, under the provider's key id. */
    RSAKey strangerKey() {
        try {
            return new RSAKeyGenerator(2048).keyID(signingKey().getKeyID()).generate();
        } catch (com.nimbusds.jose.JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sign(JWTClaimsSet.Builder claims, RSAKey key) {
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID())
                    .type(JOSEObjectType.JWT).build(), claims.build());
            jwt.sign(new RSASSASigner(key));
            return jwt.serialize();
        } catch (com.nimbusds.jose.JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The same claims with {@code alg: none} and no signature. */
    static String unsigned(JWTClaimsSet.Builder claims) {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        return b64.encodeToString("{\"alg\":\"none\",\"typ\":\"JWT\"}".getBytes()) + "."
                + b64.encodeToString(claims.build().toString().getBytes()) + ".";
    }

    /** A back-channel logout token for {@code user}, signed by the provider. */
    String logoutToken(String user) {
        return sign(new JWTClaimsSet.Builder().issuer(issuer()).subject(user).audience(CLIENT_ID)
                .issueTime(new Date()).jwtID(UUID.randomUUID().toString())
                .claim("events", Map.of("http://schemas.openid.net/event/backchannel-logout", Map.of())),
                signingKey());
    }

    @Override
    public void close() {
        server.shutdown();
    }
}
