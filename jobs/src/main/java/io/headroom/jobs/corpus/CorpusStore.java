package io.headroom.jobs.corpus;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Corpora and their files in PostgreSQL ({@code corpora}, {@code corpus_files}). Every query is
 * scoped to the owner; an admin's reads use the {@code AnyOwner} methods. Blocking: call off the
 * event loop. Writes that check limits run in the caller's transaction under a per-owner lock.
 */
public final class CorpusStore {

    /** A corpus with its totals. */
    public record Corpus(UUID id, String owner, String name, int fileCount, long bytes, Instant createdAt) {
    }

    /** One file of a corpus: where it came from (archive paths included), its type, size and digest. */
    public record CorpusFile(UUID id, UUID corpusId, String owner, String path, String mediaType, long size,
            String sha256, Instant createdAt) {
    }

    private final JdbcClient jdbc;

    public CorpusStore(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    public Corpus create(String owner, String name) {
        UUID id = UUID.randomUUID();
        Instant now = Instant.now();
        jdbc.sql("INSERT INTO corpora (id, owner, name, created_at) VALUES (?, ?, ?, ?)")
                .params(id, owner, name, Timestamp.from(now)).update();
        return new Corpus(id, owner, name, 0, 0, now);
    }

    public List<Corpus> list(String owner) {
        return jdbc.sql(SELECT_CORPUS + " WHERE c.owner = ? GROUP BY c.id ORDER BY c.created_at DESC")
                .param(owner).query(CorpusStore::corpus).list();
    }

    public Optional<Corpus> find(String owner, UUID id) {
        return jdbc.sql(SELECT_CORPUS + " WHERE c.id = ? AND c.owner = ? GROUP BY c.id").params(id, owner)
                .query(CorpusStore::corpus).optional();
    }

    /** A corpus whoever owns it: for an admin's reads only. */
    public Optional<Corpus> findAnyOwner(UUID id) {
        return jdbc.sql(SELECT_CORPUS + " WHERE c.id = ? GROUP BY c.id").param(id).query(CorpusStore::corpus)
                .optional();
    }

    public List<CorpusFile> files(UUID corpusId) {
        return jdbc.sql(SELECT_FILE + " WHERE corpus_id = ? ORDER BY path").param(corpusId)
                .query(CorpusStore::file).list();
    }

    /** One file of a corpus. */
    public Optional<CorpusFile> file(UUID corpusId, UUID fileId) {
        return jdbc.sql(SELECT_FILE + " WHERE corpus_id = ? AND id = ?").params(corpusId, fileId)
                .query(CorpusStore::file).optional();
    }

    /** Serialises an owner's uploads and deletions for the rest of the transaction (limits, blob references). */
    void lockOwner(String owner) {
        jdbc.sql("SELECT pg_advisory_xact_lock(hashtext('corpora:' || ?))").param(owner).query().singleRow();
    }

    /** Bytes the owner keeps across corpora, each distinct content once. */
    public long userBytes(String owner) {
        return jdbc.sql("SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT sha256, size FROM corpus_files "
                + "WHERE owner = ?) d").param(owner).query(Long.class).single();
    }

    /** Whether the owner keeps these bytes in any corpus. */
    boolean referenced(String owner, String sha256) {
        return jdbc.sql("SELECT EXISTS (SELECT 1 FROM corpus_files WHERE owner = ? AND sha256 = ?)")
                .params(owner, sha256).query(Boolean.class).single();
    }

    boolean pathTaken(UUID corpusId, String path) {
        return jdbc.sql("SELECT EXISTS (SELECT 1 FROM corpus_files WHERE corpus_id = ? AND path = ?)")
                .params(corpusId, path).query(Boolean.class).single();
    }

    void insertFile(CorpusFile f) {
        jdbc.sql("INSERT INTO corpus_files (id, corpus_id, owner, path, media_type, size, sha256, created_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .params(f.id(), f.corpusId(), f.owner(), f.path(), f.mediaType(), f.size(), f.sha256(),
                        Timestamp.from(f.createdAt()))
                .update();
    }

    /** Deletes a corpus; returns the digests its files had (the caller drops the unreferenced ones). */
    List<String> deleteCorpus(String owner, UUID id) {
        List<String> digests = jdbc.sql("SELECT DISTINCT sha256 FROM corpus_files WHERE corpus_id = ? AND owner = ?")
                .params(id, owner).query(String.class).list();
        int n = jdbc.sql("DELETE FROM corpora WHERE id = ? AND owner = ?").params(id, owner).update();
        return n == 0 ? null : digests;
    }

    /** Deletes one file of the owner's corpus; returns its digest, or null when there is no such file. */
    String deleteFile(String owner, UUID corpusId, UUID fileId) {
        return jdbc.sql("DELETE FROM corpus_files WHERE id = ? AND corpus_id = ? AND owner = ? RETURNING sha256")
                .params(fileId, corpusId, owner).query(String.class).optional().orElse(null);
    }

    private static final String SELECT_CORPUS = "SELECT c.id, c.owner, c.name, c.created_at, count(f.id) AS files, "
            + "COALESCE(SUM(f.size), 0) AS bytes FROM corpora c LEFT JOIN corpus_files f ON f.corpus_id = c.id";
    private static final String SELECT_FILE = "SELECT id, corpus_id, owner, path, media_type, size, sha256, created_at "
            + "FROM corpus_files";

    private static Corpus corpus(ResultSet rs, int n) throws SQLException {
        return new Corpus(rs.getObject("id", UUID.class), rs.getString("owner"), rs.getString("name"),
                rs.getInt("files"), rs.getLong("bytes"), rs.getTimestamp("created_at").toInstant());
    }

    private static CorpusFile file(ResultSet rs, int n) throws SQLException {
        return new CorpusFile(rs.getObject("id", UUID.class), rs.getObject("corpus_id", UUID.class),
                rs.getString("owner"), rs.getString("path"), rs.getString("media_type"), rs.getLong("size"),
                rs.getString("sha256"), rs.getTimestamp("created_at").toInstant());
    }
}
