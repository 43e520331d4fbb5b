package io.headroom.service.security;

import java.net.InetAddress;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import no.nav.security.mock.oauth2.MockOAuth2Server;
import no.nav.security.mock.oauth2.OAuth2Config;
import no.nav.security.mock.oauth2.http.NettyWrapper;
import no.nav.security.mock.oauth2.token.DefaultOAuth2TokenCallback;
import no.nav.security.mock.oauth2.token.KeyProvider;
import no.nav.security.mock.oauth2.token.OAuth2TokenProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code dev-oidc} mode's identity provider: a real OpenID Connect provider (discovery, JWKS,
 * authorization code with PKCE, tokens, end-session), started inside the service on the loopback
 * interface, so that SSO can be tried with the run command and one flag. Its sign-in page takes
 * any user name; claims typed there as JSON are added to the tokens ({@code {"groups": ["admin"]}}
 * makes an admin). It signs with a key made at start, so tokens do not outlive the process. Never
 * for production: anyone can sign in as anyone.
 */
public final class DevIdentityProvider implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevIdentityProvider.class);

    /** The provider's issuer id (the path under its base URL), client id and token audience. */
    public static final String NAME = "headroom";

    private final MockOAuth2Server server;

    public DevIdentityProvider(int port) {
        // keys made now (the library's default keys ship inside its jar: anyone could sign with them)
        OAuth2Config config = new OAuth2Config(true, null, null, false,
                new OAuth2TokenProvider(new KeyProvider(List.of(), "RS256")),
                Set.of(new DefaultOAuth2TokenCallback(NAME, "dev-user", "JWT", List.of(NAME), Map.of(), 3600)),
                new NettyWrapper());
        server = new MockOAuth2Server(config);
        server.start(InetAddress.getLoopbackAddress(), port);
        LOG.info("dev-oidc: an OpenID Connect provider for trying SSO runs in this process at {} (anyone may sign "
                + "in as anyone: never use this mode in production)", issuer());
    }

    /** The issuer URI tokens carry and discovery is served under. */
    public URI issuer() {
        return server.issuerUrl(NAME).uri();
    }

    @Override
    public void close() {
        server.shutdown();
    }
}
