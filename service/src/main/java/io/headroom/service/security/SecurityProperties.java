package io.headroom.service.security;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * {@code headroom.security.*}: who callers are and what they may use.
 *
 * @param mode {@code local} (no identity provider: one local user, loopback only), {@code dev-oidc}
 *     (an OIDC provider inside the process, for trying SSO on one machine) or {@code oidc} (the
 *     company's provider at {@code issuer-uri}); unset: {@code oidc} when an issuer is configured,
 *     else {@code local}
 * @param issuerUri the OIDC issuer (its discovery document and JWKS are fetched from it)
 * @param audience the audience API tokens must carry ({@code aud}); required in {@code oidc} mode
 * @param clientId the browser login's client id at the provider (no browser login when unset)
 * @param clientSecret its secret (a confidential client; PKCE is used either way)
 * @param scopes scopes the browser login asks for
 * @param userClaim the claim naming the user ({@code sub}, {@code preferred_username}, {@code email}, …)
 * @param rolesClaim the claim holding roles, a dotted path for nested ones ({@code groups},
 *     {@code realm_access.roles}); a list or a space-separated string
 * @param adminRole the role value that makes a user an admin
 * @param localUser the user every request acts as in {@code local} mode
 * @param cookie the browser session cookie
 * @param apiKeys API keys
 * @param cors cross-origin access to the API (off unless origins are listed)
 * @param devOidc the in-process provider of {@code dev-oidc} mode
 * @param quotas per-user limits (defaults; per-user overrides live in the database)
 */
@Validated
@ConfigurationProperties("headroom.security")
public record SecurityProperties(
        Mode mode,
        URI issuerUri,
        String audience,
        String clientId,
        String clientSecret,
        @NotNull @DefaultValue({"openid", "profile", "email"}) List<String> scopes,
        @NotBlank @DefaultValue("sub") String userClaim,
        @NotBlank @DefaultValue("groups") String rolesClaim,
        @NotBlank @DefaultValue("admin") String adminRole,
        @NotBlank @DefaultValue("local-user") String localUser,
        @Valid @NotNull @DefaultValue Cookie cookie,
        @Valid @NotNull @DefaultValue ApiKeys apiKeys,
        @Valid @NotNull @DefaultValue Cors cors,
        @Valid @NotNull @DefaultValue DevOidc devOidc,
        @Valid @NotNull @DefaultValue Quotas quotas) {

    /** How the service learns who a caller is. */
    public enum Mode { LOCAL, DEV_OIDC, OIDC }

    /** The mode in effect: the configured one, else {@code oidc} with an issuer and {@code local} without. */
    public Mode effectiveMode() {
        if (mode != null) {
            return mode;
        }
        return issuerUri != null ? Mode.OIDC : Mode.LOCAL;
    }

    /**
     * @param name the cookie's name
     * @param secure sent over HTTPS only (browsers also accept it on http://localhost)
     * @param sameSite {@code Lax} lets the provider's redirect back carry it; {@code Strict} would not
     * @param idleTimeout a browser session unused this long ends
     */
    public record Cookie(
            @NotBlank @DefaultValue("HEADROOM_SESSION") String name,
            @DefaultValue("true") boolean secure,
            @NotBlank @DefaultValue("Lax") String sameSite,
            @NotNull @DefaultValue("8h") Duration idleTimeout) {
    }

    /**
     * @param maxPerUser keys one user may hold (revoked ones excluded)
     * @param maxLifetime the longest expiry a key may be given ({@code 0}: no limit, keys may never expire)
     * @param useRecordInterval a key's {@code last_used_at} and its audit event are written at most this often
     */
    public record ApiKeys(
            @Min(1) @DefaultValue("50") int maxPerUser,
            @NotNull @DefaultValue("0") Duration maxLifetime,
            @NotNull @DefaultValue("1m") Duration useRecordInterval) {
    }

    /** @param allowedOrigins origins whose browser scripts may call {@code /v1} (empty: none) */
    public record Cors(@NotNull @DefaultValue({}) List<String> allowedOrigins) {
    }

    /**
     * @param port the in-process provider's port (0: a free one)
     * @param adminUsers user names the provider marks as admins (in the roles claim)
     */
    public record DevOidc(@DefaultValue("0") int port, @NotNull @DefaultValue("admin") List<String> adminUsers) {
    }

    /**
     * Defaults for every user; a row in {@code user_quotas} overrides any of them for one user.
     *
     * @param sessions sessions a user may hold
     * @param storedTokens tokens across all of a user's sessions (documents, messages, answers)
     * @param kvBytes KV bytes a user's sessions may hold across the tiers (engine, host memory, spill files)
     * @param requestsPerMinute API requests per minute
     * @param tokensPerMinute prompt and generated tokens per minute
     * @param uploadBytes bytes of uploaded corpus files a user keeps (each distinct content once)
     */
    public record Quotas(
            @Min(0) @DefaultValue("1000") int sessions,
            @Min(0) @DefaultValue("100000000") long storedTokens,
            @NotNull @DefaultValue("64GB") DataSize kvBytes,
            @Min(0) @DefaultValue("1200") int requestsPerMinute,
            @Min(0) @DefaultValue("10000000") long tokensPerMinute,
            @NotNull @DefaultValue("20GB") DataSize uploadBytes) {
    }
}
