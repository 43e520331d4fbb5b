package io.headroom.service.apikeys;

import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.time.Instant;
import java.util.List;

/** Request and response bodies of {@code /v1/api-keys} (JSON, snake_case). */
public final class ApiKeyApi {

    private ApiKeyApi() {
    }

    /** POST /v1/api-keys. */
    public record CreateApiKey(
            @Schema(requiredMode = RequiredMode.REQUIRED, minLength = 1, maxLength = 100,
                    description = "what the key is for, shown in lists") String name,
            @Schema(description = "when the key stops working (RFC 3339); omit for no expiry, unless the service "
                    + "sets a maximum lifetime") Instant expiresAt) {
    }

    /** A key as listed: never its secret. */
    public record ApiKeyView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "api_key") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) String name,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the key's first characters") String prefix,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant createdAt,
            @Schema(nullable = true, description = "updated at most once a minute") Instant lastUsedAt,
            @Schema(nullable = true) Instant expiresAt) {
    }

    /** A key just created: the only time its secret is shown. */
    public record ApiKeyCreated(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "api_key") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) String name,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the key: send it as Authorization: Bearer; "
                    + "it is not shown again") String key,
            @Schema(requiredMode = RequiredMode.REQUIRED) String prefix,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant createdAt,
            @Schema(nullable = true) Instant expiresAt) {
    }

    /** The caller's keys. */
    public record ApiKeyList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<ApiKeyView> data) {
    }
}
