package io.headroom.service.config;

import io.headroom.jobs.corpus.UploadLimits;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * {@code headroom.jobs.*}: where uploaded corpora are kept and what an upload may be.
 *
 * @param dataDirectory uploaded files, content-addressed ({@code <tmp>/headroom-corpora} when unset)
 * @param uploads the limits every upload is held to while it streams
 * @param extraction the isolated text extractor's limits per document
 * @param snapshot how corpora are prefilled into KV snapshots
 * @param batches the OpenAI Files and Batch APIs' limits
 */
@Validated
@ConfigurationProperties("headroom.jobs")
public record JobsProperties(Path dataDirectory, @Valid @NotNull @DefaultValue Uploads uploads,
        @Valid @NotNull @DefaultValue Extraction extraction, @Valid @NotNull @DefaultValue Snapshot snapshot,
        @Valid @NotNull @DefaultValue Batches batches) {

    /**
     * @param maxFileSize one uploaded batch input file
     * @param maxRequests requests (lines) one batch may hold
     */
    public record Batches(
            @NotNull @DefaultValue("200MB") DataSize maxFileSize,
            @Min(1) @DefaultValue("50000") int maxRequests) {
    }

    /** Where the Files API keeps its files. */
    public Path filesDirectory() {
        return dataDirectoryOrDefault().resolve("files");
    }

    /**
     * @param sparsity the DuoAttention sparsity snapshots are built at, and so every session over a
     *     corpus attends at: in [0, 1]; unset, 0.5 where a pattern is loaded and full attention where not
     * @param checkpointInterval how often a running prefill writes its KV so far to disk (what a
     *     restart after a crash goes on from)
     */
    public record Snapshot(
            @jakarta.validation.constraints.DecimalMin("0") @jakarta.validation.constraints.DecimalMax("1")
            Double sparsity,
            @NotNull @DefaultValue("30s") java.time.Duration checkpointInterval) {
    }

    /** Where corpus snapshots (their retrieval KV files) are kept. */
    public Path snapshotDirectory() {
        return dataDirectoryOrDefault().resolve("snapshots");
    }

    /**
     * @param timeout the most one document may take to read
     * @param heap the extractor process's heap cap
     * @param maxChars the most text one document may yield
     */
    public record Extraction(
            @NotNull @DefaultValue("60s") java.time.Duration timeout,
            @NotNull @DefaultValue("512MB") DataSize heap,
            @Min(1) @DefaultValue("50000000") long maxChars) {

        public io.headroom.jobs.extract.Extractor.Limits limits() {
            return new io.headroom.jobs.extract.Extractor.Limits(timeout, (int) heap.toMegabytes(), maxChars);
        }
    }

    public Path dataDirectoryOrDefault() {
        return dataDirectory != null ? dataDirectory : Path.of(System.getProperty("java.io.tmpdir"),
                "headroom-corpora");
    }

    /**
     * @param maxFileSize one uploaded file, or one file inside an archive
     * @param maxCorpusSize one corpus
     * @param maxFilesPerCorpus files one corpus may hold
     * @param maxFilesPerArchive files one archive may hold
     * @param maxArchiveDepth archives inside archives (1: an archive may not hold another)
     * @param maxExpansionRatio bytes expanded per byte of archive (zip bombs)
     * @param maxExpandedSize bytes expanded from one upload, all levels together
     */
    public record Uploads(
            @NotNull @DefaultValue("256MB") DataSize maxFileSize,
            @NotNull @DefaultValue("4GB") DataSize maxCorpusSize,
            @Min(1) @DefaultValue("10000") int maxFilesPerCorpus,
            @Min(1) @DefaultValue("10000") int maxFilesPerArchive,
            @Min(1) @DefaultValue("3") int maxArchiveDepth,
            @Min(1) @DefaultValue("100") long maxExpansionRatio,
            @NotNull @DefaultValue("4GB") DataSize maxExpandedSize) {

        /** The engine-free limits record, with the user's upload quota. */
        public UploadLimits limits(long userBytes) {
            return new UploadLimits(maxFileSize.toBytes(), maxCorpusSize.toBytes(), userBytes, maxFilesPerArchive,
                    maxArchiveDepth, maxExpansionRatio, maxExpandedSize.toBytes(), maxFilesPerCorpus);
        }
    }
}
