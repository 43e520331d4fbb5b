package io.headroom.jobs.corpus;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Enumeration;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Opens uploaded archives (zip, tar, tar.gz; archives inside archives up to the configured depth)
 * into the documents they hold, under every limit at once: files per archive, nesting depth,
 * bytes per file, bytes expanded per byte of archive (zip bombs, including overlapping-entry ones),
 * bytes expanded per upload; and entry names: absolute paths, {@code ..}, backslashes, drive
 * letters, control characters, links and device entries are refused. Every file it writes is
 * added to {@code created}, so the caller deletes them all when the upload is refused.
 */
public final class ArchiveExpander {

    /** A document found in an upload: where in it, its bytes in {@code incoming/}, its type. */
    public record Accepted(String path, BlobStore.Staged staged, String mediaType) {
    }

    /** Bytes expanded so far by one upload, against {@link UploadLimits#maxExpandedSize()}. */
    static final class Budget {
        long expanded;
    }

    private final BlobStore blobs;
    private final TypeSniffer sniffer;
    private final UploadLimits limits;

    public ArchiveExpander(BlobStore blobs, TypeSniffer sniffer, UploadLimits limits) {
        this.blobs = blobs;
        this.sniffer = sniffer;
        this.limits = limits;
    }

    /**
     * Sorts one uploaded file: a document is accepted as it is, an archive is opened. Refusals throw
     * {@link UploadRefusedException}; what was written so far is in {@code created}.
     */
    public void accept(String path, BlobStore.Staged file, List<Accepted> out, List<BlobStore.Staged> created) {
        accept(path, file, 0, new Budget(), out, created);
    }

    private void accept(String path, BlobStore.Staged file, int depth, Budget budget, List<Accepted> out,
            List<BlobStore.Staged> created) {
        TypeSniffer.Sniffed s = sniffer.sniff(file.file());
        if (s.kind() == TypeSniffer.Kind.DOCUMENT) {
            out.add(new Accepted(path, file, s.mediaType()));
            return;
        }
        if (depth >= limits.maxArchiveDepth()) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "max_archive_depth", "'" + path
                    + "' is an archive nested deeper than " + limits.maxArchiveDepth() + " level(s)");
        }
        try {
            switch (s.kind()) {
                case ZIP -> zip(path, file, depth, budget, out, created);
                case TAR -> {
                    try (InputStream in = new BufferedInputStream(Files.newInputStream(file.file()))) {
                        tar(path, file.size(), in, depth, budget, out, created);
                    }
                }
                case GZIP -> {
                    BlobStore.Staged inner;
                    try (InputStream in = new GzipCompressorInputStream(new BufferedInputStream(
                            Files.newInputStream(file.file())))) {
                        inner = stage(in, path, file.size(), new long[1], budget, created);
                    }
                    if (sniffer.sniff(inner.file()).kind() != TypeSniffer.Kind.TAR) {
                        throw new UploadRefusedException(UploadRefusedException.Kind.UNSUPPORTED_TYPE, "file_type",
                                "'" + path + "' is gzip-compressed but holds no tar archive");
                    }
                    try (InputStream in = new BufferedInputStream(Files.newInputStream(inner.file()))) {
                        tar(path, file.size(), in, depth, budget, out, created);
                    }
                }
                default -> throw new IllegalStateException(s.kind().name());
            }
        } catch (IOException e) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "archive", "'" + path
                    + "' is a damaged or unreadable archive");
        }
    }

    private void zip(String path, BlobStore.Staged file, int depth, Budget budget, List<Accepted> out,
            List<BlobStore.Staged> created) throws IOException {
        long[] fromThis = new long[1];
        int files = 0;
        try (ZipFile zip = ZipFile.builder().setPath(file.file()).get()) {
            Enumeration<ZipArchiveEntry> entries = zip.getEntriesInPhysicalOrder();
            while (entries.hasMoreElements()) {
                ZipArchiveEntry e = entries.nextElement();
                String name = entryName(path, e.getName());
                if (e.isDirectory()) {
                    continue;
                }
                if (e.isUnixSymlink()) {
                    throw link(path, e.getName());
                }
                files = count(path, files);
                BlobStore.Staged staged;
                try (InputStream in = zip.getInputStream(e)) {
                    staged = stage(in, path, file.size(), fromThis, budget, created);
                }
                accept(name, staged, depth + 1, budget, out, created);
            }
        }
    }

    private void tar(String path, long archiveSize, InputStream raw, int depth, Budget budget, List<Accepted> out,
            List<BlobStore.Staged> created) throws IOException {
        long[] fromThis = new long[1];
        int files = 0;
        TarArchiveInputStream tar = new TarArchiveInputStream(raw);
        for (TarArchiveEntry e; (e = tar.getNextEntry()) != null;) {
            String name = entryName(path, e.getName());
            if (e.isDirectory()) {
                continue;
            }
            if (e.isSymbolicLink() || e.isLink()) {
                throw link(path, e.getName());
            }
            if (!e.isFile()) {
                throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "entry_name", "'" + path
                        + "' holds '" + printable(e.getName()) + "', which is not a regular file");
            }
            files = count(path, files);
            BlobStore.Staged staged = stage(tar, path, archiveSize, fromThis, budget, created);
            accept(name, staged, depth + 1, budget, out, created);
        }
    }

    /** One entry's bytes, under the tightest of: bytes per file, this archive's ratio, the upload's total. */
    private BlobStore.Staged stage(InputStream in, String path, long archiveSize, long[] fromThis, Budget budget,
            List<BlobStore.Staged> created) throws IOException {
        long byRatio = Math.max(0, safeMultiply(archiveSize, limits.maxExpansionRatio()) - fromThis[0]);
        long byTotal = Math.max(0, limits.maxExpandedSize() - budget.expanded);
        long max = limits.maxFileSize();
        String limit = "max_file_size";
        if (byRatio < max) {
            max = byRatio;
            limit = "max_expansion_ratio";
        }
        if (byTotal < max) {
            max = byTotal;
            limit = "max_expanded_size";
        }
        BlobStore.Staged staged;
        try {
            staged = blobs.stage(in, max, limit);
        } catch (UploadRefusedException e) {
            throw new UploadRefusedException(e.kind(), e.limit(), "'" + path + "' expands beyond " + max
                    + " bytes (" + e.limit() + ")");
        }
        created.add(staged);
        fromThis[0] += staged.size();
        budget.expanded += staged.size();
        return staged;
    }

    private int count(String path, int files) {
        if (files + 1 > limits.maxFilesPerArchive()) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "max_files_per_archive", "'" + path
                    + "' holds more than " + limits.maxFilesPerArchive() + " files");
        }
        return files + 1;
    }

    private static UploadRefusedException link(String path, String entry) {
        return new UploadRefusedException(UploadRefusedException.Kind.INVALID, "entry_name", "'" + path + "' holds '"
                + printable(entry) + "', a link; archives may hold regular files only");
    }

    /**
     * The entry's path under its archive, or a refusal: absolute paths, drive letters, backslashes,
     * {@code ..} segments, control characters and over-long names could reach outside the corpus
     * or mislead whoever reads the list.
     */
    static String entryName(String archive, String entry) {
        boolean bad = entry.isEmpty() || entry.startsWith("/") || entry.indexOf('\\') >= 0
                || entry.matches("^[A-Za-z]:.*") || entry.chars().anyMatch(c -> c < 0x20 || c == 0x7f)
                || (archive.length() + 1 + entry.length()) > UploadLimits.MAX_PATH_LENGTH;
        for (String segment : entry.split("/")) {
            bad |= segment.equals("..");
        }
        if (bad) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "entry_name", "'" + archive
                    + "' holds an entry named '" + printable(entry) + "': entries must be relative paths inside the "
                    + "archive, without '..', backslashes or control characters");
        }
        return archive + "/" + entry;
    }

    private static String printable(String s) {
        String clean = s.replaceAll("\\p{Cntrl}", "?");
        return clean.length() > 200 ? clean.substring(0, 200) + "…" : clean;
    }

    private static long safeMultiply(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }
}
