package io.headroom.jobs.batch;

import io.headroom.sessions.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Files of the OpenAI Files API ({@code openai_files}): batch input files that users upload and the
 * output and error files batches write. The bytes are in {@code <directory>/<id>} (owner-only
 * permissions), written to a temporary file first and moved into place, so a file either exists
 * whole or not at all.
 */
public final class OpenAiFiles {

    /** A file's row. */
    public record FileRecord(String id, String owner, String purpose, String filename, long bytes,
            Instant createdAt) {
    }

    private final JdbcClient jdbc;
    private final Path directory;

    public OpenAiFiles(JdbcClient jdbc, Path directory) {
        this.jdbc = jdbc;
        this.directory = directory;
        try {
            PrivateFiles.directory(directory);
            try (var leftovers = Files.list(directory)) { // uploads a crash cut off
                for (Path f : (Iterable<Path>) leftovers::iterator) {
                    if (f.getFileName().toString().endsWith(".tmp")) {
                        Files.deleteIfExists(f);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the files directory " + directory, e);
        }
    }

    /** A new file id. */
    public static String newId() {
        return "file-" + randomHex();
    }

    /** Keeps a file already staged on disk (same file system) as a new file; the staged file is moved. */
    public FileRecord adopt(String owner, String purpose, String filename, Path staged, long bytes) throws IOException {
        String id = newId();
        Files.move(staged, path(id), StandardCopyOption.ATOMIC_MOVE);
        try {
            Instant now = Instant.now();
            jdbc.sql("INSERT INTO openai_files (id, owner, purpose, filename, bytes, created_at) VALUES (?, ?, ?, ?, "
                    + "?, ?)").params(id, owner, purpose, filename, bytes, Timestamp.from(now)).update();
            return new FileRecord(id, owner, purpose, filename, bytes, now);
        } catch (RuntimeException e) {
            Files.deleteIfExists(path(id));
            throw e;
        }
    }

    /** Writes {@code content} as a new file (a batch's output) with id {@code id}, or finds it written already. */
    public FileRecord write(String id, String owner, String purpose, String filename, byte[] content) {
        Optional<FileRecord> existing = find(owner, id);
        if (existing.isPresent()) {
            return existing.get();
        }
        Path tmp = directory.resolve(id + ".tmp");
        try {
            Files.write(tmp, content);
            Files.move(tmp, path(id), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write file " + id, e);
        }
        Instant now = Instant.now();
        jdbc.sql("INSERT INTO openai_files (id, owner, purpose, filename, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                + "ON CONFLICT (id) DO NOTHING").params(id, owner, purpose, filename, content.length,
                        Timestamp.from(now)).update();
        return new FileRecord(id, owner, purpose, filename, content.length, now);
    }

    public Optional<FileRecord> find(String owner, String id) {
        return jdbc.sql("SELECT id, owner, purpose, filename, bytes, created_at FROM openai_files WHERE id = ? AND "
                + "owner = ?").params(id, owner).query(OpenAiFiles::row).optional();
    }

    /** A file whoever owns it: for an admin's reads only. */
    public Optional<FileRecord> findAnyOwner(String id) {
        return jdbc.sql("SELECT id, owner, purpose, filename, bytes, created_at FROM openai_files WHERE id = ?")
                .param(id).query(OpenAiFiles::row).optional();
    }

    /** The owner's files, newest first, optionally of one purpose. */
    public List<FileRecord> list(String owner, String purpose, int limit) {
        return jdbc.sql("SELECT id, owner, purpose, filename, bytes, created_at FROM openai_files WHERE owner = ? AND "
                + "(?::text IS NULL OR purpose = ?) ORDER BY created_at DESC, id LIMIT ?")
                .params(owner, purpose, purpose, limit).query(OpenAiFiles::row).list();
    }

    /** Where a file's bytes are. */
    public Path path(String id) {
        if (!id.matches("file-[0-9a-f]{32}")) {
            throw new IllegalArgumentException("not a file id: " + id);
        }
        return directory.resolve(id);
    }

    public boolean delete(String owner, String id) {
        if (!id.matches("file-[0-9a-f]{32}")) {
            return false;
        }
        int rows = jdbc.sql("DELETE FROM openai_files WHERE id = ? AND owner = ?").params(id, owner).update();
        if (rows > 0) {
            try {
                Files.deleteIfExists(path(id));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete file " + id, e);
            }
        }
        return rows > 0;
    }

    /** 32 random hex digits: the unique part of the ids the OpenAI APIs hand out. */
    public static String randomHex() {
        byte[] b = new byte[16];
        new java.security.SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static FileRecord row(java.sql.ResultSet rs, int n) throws java.sql.SQLException {
        return new FileRecord(rs.getString("id"), rs.getString("owner"), rs.getString("purpose"),
                rs.getString("filename"), rs.getLong("bytes"), rs.getTimestamp("created_at").toInstant());
    }
}
