package io.headroom.service.corpora;

import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.media.Schema.RequiredMode;
import java.time.Instant;
import java.util.List;

/** Bodies of {@code /v1/corpora} (JSON, snake_case). */
public final class CorpusApi {

    private CorpusApi() {
    }

    /** POST /v1/corpora. */
    public record CreateCorpus(
            @Schema(requiredMode = RequiredMode.REQUIRED, minLength = 1, maxLength = 200) String name) {
    }

    /** A corpus. */
    public record CorpusView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "corpus") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) String owner,
            @Schema(requiredMode = RequiredMode.REQUIRED) String name,
            @Schema(requiredMode = RequiredMode.REQUIRED) int fileCount,
            @Schema(requiredMode = RequiredMode.REQUIRED) long bytes,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant createdAt) {
    }

    /** The caller's corpora. */
    public record CorpusList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<CorpusView> data) {
    }

    /** One file of a corpus. */
    public record CorpusFileView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "corpus.file") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the file's name, or its path inside the "
                    + "archive it came in (archive.zip/dir/file.pdf)") String path,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "sniffed from the bytes") String mediaType,
            @Schema(requiredMode = RequiredMode.REQUIRED) long bytes,
            @Schema(requiredMode = RequiredMode.REQUIRED) String sha256,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the same bytes were already stored for "
                    + "this user, so they were not stored again") boolean deduplicated,
            @Schema(requiredMode = RequiredMode.REQUIRED) Instant createdAt) {
    }

    /** The text Headroom reads from a file (what the model will see), or why it reads none. */
    public record FileText(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "corpus.file.text") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) String path,
            @Schema(requiredMode = RequiredMode.REQUIRED) String mediaType,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean extracted,
            @Schema(nullable = true, description = "why the file yields no text: encrypted, damaged, no text, "
                    + "took too long, too much text") String skipReason,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "characters of text in all") long chars,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "the text, up to max_chars") String text,
            @Schema(requiredMode = RequiredMode.REQUIRED) boolean truncated) {
    }

    /** A skipped file and why. */
    public record SkippedFile(
            @Schema(requiredMode = RequiredMode.REQUIRED) String path,
            @Schema(requiredMode = RequiredMode.REQUIRED) String reason) {
    }

    /** Where a corpus's ingestion stands. */
    public record IngestionView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String corpusId,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"not_started", "starting", "started",
                "completed", "failed", "stopping", "stopped", "abandoned", "unknown"}) String status,
            @Schema(requiredMode = RequiredMode.REQUIRED) int documentsTotal,
            @Schema(requiredMode = RequiredMode.REQUIRED) int documentsRead,
            @Schema(requiredMode = RequiredMode.REQUIRED) int documentsSkipped,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "tokens of the documents read") long tokens,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<SkippedFile> skipped,
            @Schema(nullable = true, description = "why the ingestion failed") String error,
            @Schema(nullable = true) Instant startedAt,
            @Schema(nullable = true) Instant endedAt,
            @Schema(nullable = true, description = "files read per second in the current run") Double filesPerSecond,
            @Schema(nullable = true, description = "tokens read per second in the current run") Double tokensPerSecond,
            @Schema(nullable = true, description = "seconds left at the current pace") Long etaSeconds,
            @Schema(nullable = true, description = "the corpus's KV snapshot, once prefill has begun")
            SnapshotView snapshot) {
    }

    /** A corpus's KV snapshot: sessions over the corpus start from it when it is ready. */
    public record SnapshotView(
            @Schema(requiredMode = RequiredMode.REQUIRED, format = "uuid") String id,
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = {"building", "ready"}) String state,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "documents prefilled") int documents,
            @Schema(requiredMode = RequiredMode.REQUIRED, description = "tokens prefilled (all of them once ready)")
            int tokensPrefilled) {
    }

    /** Files of a corpus, or the files an upload added. */
    public record CorpusFileList(
            @Schema(requiredMode = RequiredMode.REQUIRED, allowableValues = "list") String object,
            @Schema(requiredMode = RequiredMode.REQUIRED) List<CorpusFileView> data) {
    }
}
