package io.headroom.service.security;

import java.net.InetAddress;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * {@code local} mode has no authentication, and in {@code dev-oidc} mode anyone may sign in as
 * anyone: both serve this machine only. The server binds the loopback interface, and a configured
 * non-loopback {@code server.address} stops start-up.
 */
@Component
class LocalModeGuard implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory> {

    private final SecurityProperties properties;

    LocalModeGuard(SecurityProperties properties) {
        this.properties = properties;
    }

    @Override
    public void customize(NettyReactiveWebServerFactory factory) {
        if (properties.effectiveMode() == SecurityProperties.Mode.OIDC) {
            return;
        }
        InetAddress configured = factory.getAddress();
        if (configured == null) {
            factory.setAddress(InetAddress.getLoopbackAddress());
        } else if (!configured.isLoopbackAddress()) {
            String mode = properties.effectiveMode().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
            throw new IllegalStateException("server.address " + configured.getHostAddress() + " is not a loopback "
                    + "address, but " + mode + " mode serves this machine only (no real sign-in): configure an "
                    + "identity provider (headroom.security.issuer-uri and audience) to serve a network");
        }
    }
}
