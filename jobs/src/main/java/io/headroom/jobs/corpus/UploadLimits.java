package io.headroom.jobs.corpus;

/**
 * What an upload may be, enforced while it streams: a limit hit stops it there, with nothing kept.
 *
 * @param maxFileSize bytes of one uploaded file, or of one file inside an archive
 * @param maxCorpusSize bytes of one corpus (its files' sizes, each counted once per path)
 * @param maxUserBytes bytes one user keeps across corpora (each distinct content once)
 * @param maxFilesPerArchive regular files one archive may hold (nested archives count for their parent too)
 * @param maxArchiveDepth archives inside archives: 1 means an archive may not hold another
 * @param maxExpansionRatio bytes expanded from an archive per byte of the archive
 * @param maxExpandedSize bytes expanded from one upload, all nesting levels together
 * @param maxFilesPerCorpus files one corpus may hold
 */
public record UploadLimits(long maxFileSize, long maxCorpusSize, long maxUserBytes, int maxFilesPerArchive,
        int maxArchiveDepth, long maxExpansionRatio, long maxExpandedSize, int maxFilesPerCorpus) {

    /** The longest file path kept (archive paths included), in characters. */
    public static final int MAX_PATH_LENGTH = 1024;
}
