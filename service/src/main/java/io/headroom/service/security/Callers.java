package io.headroom.service.security;

import java.util.Collection;
import java.util.Map;
import org.springframework.security.core.Authentication;
import org.springframework.security.oauth2.client.authentication.OAuth2AuthenticationToken;
import org.springframework.security.oauth2.core.oidc.user.OidcUser;
import org.springframework.stereotype.Component;

/**
 * Turns what the identity provider says about a user (token claims, the ID token of a browser
 * login) into a {@link Caller}, with the configured claims: the user from {@code user-claim}, admin
 * from {@code roles-claim} holding {@code admin-role}.
 */
@Component
public class Callers {

    private final SecurityProperties properties;

    public Callers(SecurityProperties properties) {
        this.properties = properties;
    }

    /** The caller these claims describe, or an {@link InvalidIdentityException} naming the missing claim. */
    public Caller fromClaims(Map<String, Object> claims, Caller.Via via) {
        Object user = claims.get(properties.userClaim());
        if (!(user instanceof String s) || s.isBlank()) {
            throw new InvalidIdentityException("the token has no '" + properties.userClaim()
                    + "' claim naming the user");
        }
        if (s.length() > 256 || s.chars().anyMatch(c -> c < 0x20)) {
            throw new InvalidIdentityException("the '" + properties.userClaim() + "' claim is not a usable user name");
        }
        return new Caller(s, hasRole(claims, properties.adminRole()), via, null);
    }

    /** The local mode's one user (an admin of their own machine). */
    public Caller local() {
        return new Caller(properties.localUser(), true, Caller.Via.LOCAL, null);
    }

    /** The caller of an authenticated request, or null for anything else (anonymous). */
    public Caller from(Authentication authentication) {
        return switch (authentication) {
            case CallerAuthentication c -> c.caller();
            case OAuth2AuthenticationToken t when t.getPrincipal() instanceof OidcUser u ->
                    fromClaims(u.getClaims(), Caller.Via.BROWSER);
            case null, default -> null;
        };
    }

    /** Whether {@code claims} grant {@code role} under the roles claim (a dotted path into nested objects). */
    boolean hasRole(Map<String, Object> claims, String role) {
        Object node = claims;
        for (String part : properties.rolesClaim().split("\\.")) {
            if (!(node instanceof Map<?, ?> m)) {
                return false;
            }
            node = m.get(part);
        }
        return switch (node) {
            case Collection<?> c -> c.stream().anyMatch(role::equals);
            case String s -> java.util.Arrays.asList(s.split("[\\s,]+")).contains(role);
            case null, default -> false;
        };
    }

    /** An identity the service cannot use (a token without the user claim). */
    public static final class InvalidIdentityException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public InvalidIdentityException(String message) {
            super(message);
        }
    }
}
