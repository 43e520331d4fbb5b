package io.headroom.jobs.corpus;

import io.headroom.sessions.files.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Uploaded files on disk, content-addressed: one user's file with a given SHA-256 is stored once
 * however often it is uploaded ({@code blobs/<owner digest>/<2 hex>/<sha256>}). Uploads arrive in
 * {@code incoming/} first, hashed and counted as they stream, and move into place only when the
 * upload as a whole is accepted; {@code incoming/} is emptied at start (an upload a crash cut off).
 * The tree is the service's alone (directories 0700, files 0600). Each user has a namespace of their
 * own, so whether a file exists never tells one user about another's uploads.
 */
public final class BlobStore {

    private static final Logger LOG = LoggerFactory.getLogger(BlobStore.class);
    private static final int CHUNK = 64 * 1024;

    /** A file received in {@code incoming/}, not yet accepted. */
    public record Staged(Path file, String sha256, long size) {
    }

    private final Path blobs;
    private final Path incoming;
    private final Path texts;

    public BlobStore(Path root) {
        this.blobs = root.resolve("blobs");
        this.incoming = root.resolve("incoming");
        this.texts = root.resolve("texts");
        try {
            directory(root);
            directory(blobs);
            directory(incoming);
            directory(texts);
            try (var files = Files.list(incoming)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    LOG.info("removing {}: an upload cut off by an earlier crash", f.getFileName());
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the upload directory " + root, e);
        }
    }

    /** A writer for one incoming file of at most {@code maxBytes} (else {@code limit} is refused, 413). */
    public Writer writer(long maxBytes, String limit) {
        return new Writer(maxBytes, limit);
    }

    /** Copies {@code in} into a new incoming file (for the files inside an archive). */
    public Staged stage(InputStream in, long maxBytes, String limit) throws IOException {
        Writer w = writer(maxBytes, limit);
        try {
            byte[] buf = new byte[CHUNK];
            for (int n; (n = in.read(buf)) >= 0;) {
                w.write(ByteBuffer.wrap(buf, 0, n));
            }
            return w.finish();
        } catch (IOException | RuntimeException e) {
            w.abort();
            throw e;
        }
    }

    /**
     * Moves an accepted file into the owner's namespace; returns whether it was new (false: the
     * owner already had these bytes, and the incoming copy is dropped).
     */
    public boolean keep(String owner, Staged staged) throws IOException {
        Path target = path(owner, staged.sha256());
        if (Files.exists(target)) {
            Files.deleteIfExists(staged.file());
            return false;
        }
        directory(target.getParent().getParent());
        directory(target.getParent());
        try {
            Files.move(staged.file(), target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            Files.deleteIfExists(staged.file());
            return false;
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(staged.file(), target);
        }
        return true;
    }

    /** Where the texts extracted from the owner's files are kept (see {@code DocumentTexts}). */
    public Path textDirectory(String owner) {
        return texts.resolve(ownerDigest(owner));
    }

    /** Removes the owner's blob and the text extracted from it (when no row names it any more). */
    public void delete(String owner, String sha256) {
        try {
            Files.deleteIfExists(path(owner, sha256));
            Files.deleteIfExists(textDirectory(owner).resolve(sha256 + ".txt"));
            Files.deleteIfExists(textDirectory(owner).resolve(sha256 + ".skip"));
        } catch (IOException e) {
            LOG.warn("could not delete an unreferenced upload: {}", e.getMessage());
        }
    }

    /** Where the owner's bytes with this digest are kept. */
    public Path path(String owner, String sha256) {
        if (!sha256.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("not a SHA-256: " + sha256);
        }
        return blobs.resolve(ownerDigest(owner)).resolve(sha256.substring(0, 2)).resolve(sha256);
    }

    static String ownerDigest(String owner) {
        return HexFormat.of().formatHex(sha256().digest(owner.getBytes(StandardCharsets.UTF_8)), 0, 16);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void directory(Path dir) throws IOException {
        PrivateFiles.directory(dir);
    }

    /** Streams one incoming file to disk, hashing and counting; past the limit it refuses and deletes. */
    public final class Writer {

        private final long maxBytes;
        private final String limit;
        private final Path file;
        private final FileChannel channel;
        private final MessageDigest digest = sha256();
        private long size;

        private Writer(long maxBytes, String limit) {
            this.maxBytes = maxBytes;
            this.limit = limit;
            try {
                this.file = incoming.resolve(UUID.randomUUID() + ".part");
                this.channel = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), PrivateFiles.fileAttributes(incoming));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create an incoming upload file", e);
            }
        }

        /** Appends {@code bytes} (consumed). */
        public void write(ByteBuffer bytes) throws IOException {
            size += bytes.remaining();
            if (size > maxBytes) {
                abort();
                throw new UploadRefusedException(UploadRefusedException.Kind.TOO_LARGE, limit, "the upload goes past "
                        + "the limit of " + maxBytes + " bytes here (" + limit + ")");
            }
            digest.update(bytes.duplicate());
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        }

        /** Closes the file (forced to disk) and returns it with its digest and size. */
        public Staged finish() throws IOException {
            channel.force(true);
            channel.close();
            return new Staged(file, HexFormat.of().formatHex(digest.digest()), size);
        }

        /** Deletes what was written. */
        public void abort() {
            try {
                channel.close();
                Files.deleteIfExists(file);
            } catch (IOException e) {
                LOG.warn("could not remove an incoming upload: {}", e.getMessage());
            }
        }
    }
}
