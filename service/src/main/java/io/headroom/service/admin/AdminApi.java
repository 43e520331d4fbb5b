package io.headroom.service.admin;

import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** Bodies of {@code /v1/admin/**} (JSON, snake_case). */
public final class AdminApi {

    private AdminApi() {
    }

    /** One audit event. */
    public record AuditEvent(
            @Schema(requiredMode = RequiredMode.REQUIRED) long id,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant occurredAt,
            @Schema(requiredMode = RequiredMode.REQUIRED) String actor,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "jwt, api_key, browser, local, provider")
            String via,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "e.g. session.create, session.read, "
                    + "api_key.use, sign_in") String action,
            @Schema(nullable = true) String objectType,
            @Schema(nullable = true) String objectId,
            @Schema(nullable = true) String objectOwner,
            @Schema(nullable = true) String remoteAddr) {
    }

    /** A page of audit events, newest first. */
    public record AuditPage(
            @Schema(requiredMode = RequiredMode.REQUIRED) List<AuditEvent> data,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean hasMore,
            @Schema(nullable = true, description = "pass as before for the next page") Long nextBefore) {
    }

    /** What the engine is doing. */
    public record EngineStatus(
            @Schema(requiredMode = RequiredMode.REQUIRED) String model,
            @Schema(requiredMode = RequiredMode.REQUIRED) int queueDepth,
            @Schema(requiredMode = RequiredMode.REQUIRED) int queueCapacity,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "KV bytes per tier") Map<String, Long> kvBytes,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "sessions whose KV is in the engine (device) "
                    + "or parked in host memory (host)") Map<String, Integer> sessionsResident) {
    }

    /** A user's quota limits; in a PUT, a null or absent field falls back to the service default. */
    public record QuotaLimits(
            @Schema(nullable = true, minimum = "0") Integer sessions,
            @Schema(nullable = true, minimum = "0") Long storedTokens,
            @Schema(nullable = true, minimum = "0") Long kvBytes,
            @Schema(nullable = true, minimum = "0") Integer requestsPerMinute,
            @Schema(nullable = true, minimum = "0") Long tokensPerMinute,
            @Schema(nullable = true, minimum = "0") Long uploadBytes) {
    }

    /** A user's quotas: in effect, their own overrides, and what they use now. */
    public record UserQuotas(
            @Schema(requiredMode = RequiredMode.REQUIRED) String user,
            @Schema(requiredMode = RequiredMode.REQUIRED) QuotaLimits limits,
            @Schema(requiredMode = RequiredMode.REQUIRED) QuotaLimits overrides,
            @Schema(requiredMode = RequiredMode.REQUIRED) QuotaLimits usage) {
    }
}
