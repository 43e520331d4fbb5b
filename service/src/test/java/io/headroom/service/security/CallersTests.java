package io.headroom.service.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

class CallersTests {

    static SecurityProperties properties(Map<String, String> values) {
        return new Binder(new MapConfigurationPropertySource(values)).bindOrCreate("headroom.security",
                SecurityProperties.class);
    }

    @Test
    void userAndAdminRoleShouldComeFromTheConfiguredClaims() {
        Callers callers = new Callers(properties(Map.of("headroom.security.user-claim", "preferred_username",
                "headroom.security.roles-claim", "realm_access.roles")));
        Caller c = callers.fromClaims(Map.of("sub", "f81d", "preferred_username", "ann",
                "realm_access", Map.of("roles", List.of("offline_access", "admin"))), Caller.Via.JWT);
        assertThat(c.id()).isEqualTo("ann");
        assertThat(c.admin()).isTrue();
        assertThat(callers.fromClaims(Map.of("preferred_username", "bo", "realm_access", Map.of("roles",
                List.of("user"))), Caller.Via.JWT).admin()).isFalse();
    }

    @Test
    void rolesGivenAsOneStringShouldBeSplitOnSpacesAndCommas() {
        Callers callers = new Callers(properties(Map.of("headroom.security.roles-claim", "roles")));
        assertThat(callers.fromClaims(Map.of("sub", "a", "roles", "reader admin"), Caller.Via.JWT).admin()).isTrue();
        assertThat(callers.fromClaims(Map.of("sub", "a", "roles", "reader,admin"), Caller.Via.JWT).admin()).isTrue();
        assertThat(callers.fromClaims(Map.of("sub", "a", "roles", "administrator"), Caller.Via.JWT).admin()).isFalse();
        assertThat(callers.fromClaims(Map.of("sub", "a", "roles", Map.of("admin", true)), Caller.Via.JWT).admin())
                .isFalse();
    }

    @Test
    void aTokenWithoutAUsableUserClaimShouldBeRefused() {
        Callers callers = new Callers(properties(Map.of()));
        assertThatThrownBy(() -> callers.fromClaims(Map.of("email", "x@y"), Caller.Via.JWT))
                .hasMessageContaining("'sub'");
        assertThatThrownBy(() -> callers.fromClaims(Map.of("sub", " "), Caller.Via.JWT)).hasMessageContaining("'sub'");
        assertThatThrownBy(() -> callers.fromClaims(Map.of("sub", "a\nb"), Caller.Via.JWT))
                .hasMessageContaining("not a usable");
        assertThatThrownBy(() -> callers.fromClaims(Map.of("sub", 42), Caller.Via.JWT)).hasMessageContaining("'sub'");
    }

    @Test
    void localModeShouldBeTheDefaultAndOidcNeedAnAudience() {
        assertThat(properties(Map.of()).effectiveMode()).isEqualTo(SecurityProperties.Mode.LOCAL);
        SecurityProperties oidc = properties(Map.of("headroom.security.issuer-uri", "https://login.example/realm"));
        assertThat(oidc.effectiveMode()).isEqualTo(SecurityProperties.Mode.OIDC);
        assertThatThrownBy(() -> IdentitySettings.of(oidc, null)).hasMessageContaining("audience is required");
        assertThatThrownBy(() -> IdentitySettings.of(properties(Map.of("headroom.security.mode", "oidc")), null))
                .hasMessageContaining("issuer-uri");
        IdentitySettings api = IdentitySettings.of(properties(Map.of("headroom.security.issuer-uri",
                "https://login.example/realm", "headroom.security.audience", "headroom")), null);
        assertThat(api.browserLogin()).as("no client id: API only").isFalse();
    }
}
