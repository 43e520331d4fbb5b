package io.headroom.service.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;

class LocalModeGuardTests {

    @Test
    void localModeShouldListenOnLoopbackOnly() throws Exception {
        NettyReactiveWebServerFactory factory = new NettyReactiveWebServerFactory();
        new LocalModeGuard(CallersTests.properties(Map.of())).customize(factory);
        assertThat(factory.getAddress()).isEqualTo(InetAddress.getLoopbackAddress());

        NettyReactiveWebServerFactory everywhere = new NettyReactiveWebServerFactory();
        everywhere.setAddress(InetAddress.getByName("0.0.0.0"));
        assertThatThrownBy(() -> new LocalModeGuard(CallersTests.properties(Map.of())).customize(everywhere))
                .hasMessageContaining("not a loopback address");
    }

    @Test
    void withAnIdentityProviderTheAddressShouldBeLeftToTheDeployment() throws Exception {
        NettyReactiveWebServerFactory factory = new NettyReactiveWebServerFactory();
        factory.setAddress(InetAddress.getByName("0.0.0.0"));
        new LocalModeGuard(CallersTests.properties(Map.of("headroom.security.issuer-uri", "https://idp.example",
                "headroom.security.audience", "headroom"))).customize(factory);
        assertThat(factory.getAddress().getHostAddress()).isEqualTo("0.0.0.0");
    }
}
