package io.headroom.jobs.extract;

import io.headroom.jobs.corpus.BlobStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.UUID;

/**
 * The text of a user's uploaded file, extracted once by the isolated {@link Extractor} and kept
 * beside the bytes ({@code texts/<owner digest>/<sha256>.txt}, or {@code .skip} with the reason; removed
 * with the bytes), so
 * previews and ingestion read it without parsing the document again. Identical bytes share one text.
 */
public final class DocumentTexts {

    /** A file's text on disk, or why there is none. */
    public record Text(Path file, long chars, String skipReason) {
        public boolean extracted() {
            return skipReason == null;
        }
    }

    private final BlobStore blobs;
    private final Extractor extractor;

    public DocumentTexts(BlobStore blobs, Extractor extractor) {
        this.blobs = blobs;
        this.extractor = extractor;
    }

    /** The text of the owner's bytes with this digest, extracting it on first use. Blocking. */
    public Text text(String owner, String sha256) {
        Path dir = blobs.textDirectory(owner);
        Path text = dir.resolve(sha256 + ".txt");
        Path skip = dir.resolve(sha256 + ".skip");
        try {
            if (Files.exists(text)) {
                return new Text(text, Files.size(text), null);
            }
            if (Files.exists(skip)) {
                return new Text(null, 0, Files.readString(skip, StandardCharsets.UTF_8));
            }
            Files.createDirectories(dir);
            Path tmp = dir.resolve(UUID.randomUUID() + ".tmp");
            Extractor.Result r = extractor.extract(blobs.path(owner, sha256), tmp);
            if (r.extracted()) {
                Files.move(tmp, text, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                return new Text(text, Files.size(text), null);
            }
            Path skipTmp = dir.resolve(UUID.randomUUID() + ".tmp");
            Files.writeString(skipTmp, r.skipReason(), StandardCharsets.UTF_8);
            Files.move(skipTmp, skip, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return new Text(null, 0, r.skipReason());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot keep the text of an uploaded file", e);
        }
    }
}
