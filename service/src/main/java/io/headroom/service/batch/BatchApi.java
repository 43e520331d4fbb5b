package io.headroom.service.batch;

import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.util.List;
import java.util.Map;

/** The OpenAI Files and Batch API's objects, in OpenAI's wire format (snake_case, Unix seconds). */
public final class BatchApi {

    private BatchApi() {
    }

    /** A file. */
    public record FileObject(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "file") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) long bytes,
            @Schema(requiredMode = RequiredMode.REQUIRED) long createdAt,
            @Schema(requiredMode = RequiredMode.REQUIRED) String filename,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"batch", "batch_output"}) String purpose,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "processed") String status) {
    }

    /** Files, newest first. */
    public record FileList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<FileObject> data,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean hasMore) {
    }

    /** A deleted file. */
    public record FileDeleted(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "file") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean deleted) {
    }

    /** The body of {@code POST /v1/batches}. */
    public record CreateBatch(
            @Schema(requiredMode = RequiredMode.REQUIRED) String inputFileId,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "/v1/chat/completions") String endpoint,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "24h") String completionWindow,
            @Schema(description = "up to 16 pairs; keys up to 64 characters, values up to 512") Map<String, String>
            metadata,
            @Schema(format = "uuid", description = "Headroom extension: every request runs over this corpus's KV "
                    + "snapshot") String headroomCorpus) {
    }

    /** One validation error. */
    public record BatchError(
            @Schema(requiredMode = RequiredMode.REQUIRED) String code,
            @Schema(requiredMode = RequiredMode.REQUIRED) String message,
            @Schema(nullable = true) String param,
            @Schema(nullable = true, description = "the input file's line (1-based)") Integer line) {
    }

    /** A batch's validation errors. */
    public record BatchErrors(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<BatchError> data) {
    }

    /** How many requests a batch holds, has done and has failed. */
    public record RequestCounts(
            @Schema(requiredMode = RequiredMode.REQUIRED) int total,
            @Schema(requiredMode = RequiredMode.REQUIRED) int completed,
            @Schema(requiredMode = RequiredMode.REQUIRED) int failed) {
    }

    /** A batch. */
    public record BatchObject(
            @Schema(requiredMode = RequiredMode.REQUIRED) String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "batch") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) String endpoint,
            @Schema(nullable = true) BatchErrors errors,
            @Schema(requiredMode = RequiredMode.REQUIRED) String inputFileId,
            @Schema(requiredMode = RequiredMode.REQUIRED) String completionWindow,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"validating", "failed", "in_progress",
                "finalizing", "completed", "expired", "cancelling", "cancelled"}) String status,
            @Schema(nullable = true) String outputFileId,
            @Schema(nullable = true) String errorFileId,
            @Schema(requiredMode = RequiredMode.REQUIRED) long createdAt,
            @Schema(nullable = true) Long inProgressAt,
            @Schema(nullable = true) Long expiresAt,
            @Schema(nullable = true) Long finalizingAt,
            @Schema(nullable = true) Long completedAt,
            @Schema(nullable = true) Long failedAt,
            @Schema(nullable = true) Long expiredAt,
            @Schema(nullable = true) Long cancellingAt,
            @Schema(nullable = true) Long cancelledAt,
            @Schema(requiredMode = RequiredMode.REQUIRED) RequestCounts requestCounts,
            @Schema(nullable = true) Map<String, String> metadata,
            @Schema(nullable = true, format = "uuid", description = "Headroom extension") String headroomCorpus) {
    }

    /** Batches, newest first. */
    public record BatchList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<BatchObject> data,
            @Schema(nullable = true) String firstId,
            @Schema(nullable = true) String lastId,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean hasMore) {
    }
}
