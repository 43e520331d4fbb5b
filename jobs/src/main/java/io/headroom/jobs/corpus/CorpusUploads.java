package io.headroom.jobs.corpus;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Adds uploaded files to a corpus, all or nothing: every file is sniffed (archives opened under
 * {@link UploadLimits}), the corpus's and the user's byte limits and the file count are checked
 * under the owner's lock, the accepted bytes are moved into the owner's content-addressed store,
 * and the rows are written in one transaction. A refusal, a failure or a crash leaves no row; a
 * blob moved in for a transaction that did not commit is removed again (or, after a crash, is an
 * unreferenced file that costs disk only).
 */
public final class CorpusUploads {

    /** One file as the client sent it, already streamed into {@code incoming/}. */
    public record Upload(String name, BlobStore.Staged staged) {
    }

    /** What an upload added: the new rows, and which of them found their bytes already stored. */
    public record Added(List<CorpusStore.CorpusFile> files, Set<UUID> deduplicated) {
    }

    private final CorpusStore store;
    private final BlobStore blobs;
    private final TypeSniffer sniffer = new TypeSniffer();
    private final TransactionTemplate tx;

    public CorpusUploads(CorpusStore store, BlobStore blobs, TransactionTemplate tx) {
        this.store = store;
        this.blobs = blobs;
        this.tx = tx;
    }

    /**
     * Adds {@code uploads} to the owner's corpus; throws {@link UploadRefusedException} (nothing
     * added) or {@link CorpusNotFoundException}. The incoming files are consumed either way.
     */
    public Added add(String owner, UUID corpusId, List<Upload> uploads, UploadLimits limits) {
        List<BlobStore.Staged> created = new ArrayList<>();
        uploads.forEach(u -> created.add(u.staged()));
        List<String> moved = new ArrayList<>();
        try {
            store.find(owner, corpusId).orElseThrow(() -> new CorpusNotFoundException(corpusId));
            ArchiveExpander expander = new ArchiveExpander(blobs, sniffer, limits);
            List<ArchiveExpander.Accepted> accepted = new ArrayList<>();
            Set<String> names = new HashSet<>();
            for (Upload u : uploads) {
                String name = fileName(u.name());
                if (!names.add(name)) {
                    throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "file", "two files in "
                            + "this upload are named '" + name + "'");
                }
                expander.accept(name, u.staged(), accepted, created);
            }
            return tx.execute(status -> {
                store.lockOwner(owner);
                CorpusStore.Corpus corpus = store.find(owner, corpusId)
                        .orElseThrow(() -> new CorpusNotFoundException(corpusId));
                check(owner, corpus, accepted, limits);
                List<CorpusStore.CorpusFile> rows = new ArrayList<>();
                Set<UUID> dedup = new HashSet<>();
                Instant now = Instant.now();
                for (ArchiveExpander.Accepted a : accepted) {
                    if (store.pathTaken(corpusId, a.path())) {
                        throw new UploadRefusedException(UploadRefusedException.Kind.CONFLICT, "file", "the corpus "
                                + "already has a file at '" + a.path() + "'; delete it first to replace it");
                    }
                    CorpusStore.CorpusFile row = new CorpusStore.CorpusFile(UUID.randomUUID(), corpusId, owner,
                            a.path(), a.mediaType(), a.staged().size(), a.staged().sha256(), now);
                    boolean known = store.referenced(owner, a.staged().sha256());
                    try {
                        if (blobs.keep(owner, a.staged())) {
                            moved.add(a.staged().sha256());
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot store an uploaded file", e);
                    }
                    if (known) {
                        dedup.add(row.id());
                    }
                    store.insertFile(row);
                    rows.add(row);
                }
                return new Added(rows, dedup);
            });
        } catch (RuntimeException e) {
            for (String sha : moved) {
                if (!store.referenced(owner, sha)) {
                    blobs.delete(owner, sha);
                }
            }
            throw e;
        } finally {
            for (BlobStore.Staged s : created) {
                try {
                    Files.deleteIfExists(s.file());
                } catch (IOException e) {
                    // incoming/ is emptied at the next start
                }
            }
        }
    }

    private void check(String owner, CorpusStore.Corpus corpus, List<ArchiveExpander.Accepted> accepted,
            UploadLimits limits) {
        long adding = accepted.stream().mapToLong(a -> a.staged().size()).sum();
        if (corpus.fileCount() + accepted.size() > limits.maxFilesPerCorpus()) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "max_files_per_corpus", "the corpus "
                    + "would hold " + (corpus.fileCount() + accepted.size()) + " files; the limit is "
                    + limits.maxFilesPerCorpus());
        }
        if (corpus.bytes() + adding > limits.maxCorpusSize()) {
            throw new UploadRefusedException(UploadRefusedException.Kind.TOO_LARGE, "max_corpus_size", "the corpus "
                    + "would hold " + (corpus.bytes() + adding) + " bytes; the limit is " + limits.maxCorpusSize());
        }
        Set<String> fresh = new HashSet<>();
        long newBytes = 0;
        for (ArchiveExpander.Accepted a : accepted) {
            if (fresh.add(a.staged().sha256()) && !store.referenced(owner, a.staged().sha256())) {
                newBytes += a.staged().size();
            }
        }
        long user = store.userBytes(owner);
        if (user + newBytes > limits.maxUserBytes()) {
            throw new UploadRefusedException(UploadRefusedException.Kind.TOO_LARGE, "upload_bytes", "you would keep "
                    + (user + newBytes) + " bytes of uploads; your quota is " + limits.maxUserBytes());
        }
    }

    /** Deletes a corpus and the bytes no other corpus of the owner keeps; false when there is none. */
    public boolean deleteCorpus(String owner, UUID id) {
        List<String> digests = tx.execute(status -> {
            store.lockOwner(owner);
            return store.deleteCorpus(owner, id);
        });
        if (digests == null) {
            return false;
        }
        dropUnreferenced(owner, digests);
        return true;
    }

    /** Deletes one file of a corpus (and its bytes when nothing else keeps them); false when there is none. */
    public boolean deleteFile(String owner, UUID corpusId, UUID fileId) {
        String digest = tx.execute(status -> {
            store.lockOwner(owner);
            return store.deleteFile(owner, corpusId, fileId);
        });
        if (digest == null) {
            return false;
        }
        dropUnreferenced(owner, List.of(digest));
        return true;
    }

    private void dropUnreferenced(String owner, List<String> digests) {
        tx.executeWithoutResult(status -> {
            store.lockOwner(owner);
            digests.stream().filter(d -> !store.referenced(owner, d)).forEach(d -> blobs.delete(owner, d));
        });
    }

    /**
     * The name a client gave a file, kept as its path in the corpus: its last path segment only
     * (browsers and tools send folders along), without control characters.
     */
    static String fileName(String given) {
        String name = given == null ? "" : given.replace('\\', '/');
        name = name.substring(name.lastIndexOf('/') + 1).strip();
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.length() > 255
                || name.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "filename", "every file part "
                    + "needs a file name of 1 to 255 characters without control characters");
        }
        return name;
    }
}
