package io.headroom.jobs.ingest;

import io.headroom.jobs.corpus.CorpusStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * What ingestion read from each file of a corpus ({@code corpus_documents}), in document order (by
 * path). The next file to read is the first without a row, so a job restarted after a crash goes on
 * where it stopped, and a row is never written twice.
 */
public final class CorpusDocuments {

    /** One file as read: its token ids, or why it was skipped. */
    public record Document(UUID corpusId, UUID fileId, String owner, String path, String skipReason, long chars,
            int[] tokens) {
    }

    /** How far a corpus's reading has come. */
    public record Progress(int files, int read, int skipped, long tokens) {
        public int done() {
            return read + skipped;
        }
    }

    /** A file that was read (not skipped), with where its text is found. */
    public record Read(UUID fileId, String owner, String path, String sha256) {
    }

    /** A skipped file and why. */
    public record Skip(String path, String reason) {
    }

    private final JdbcClient jdbc;

    public CorpusDocuments(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    /** The corpus's first file (by path) that has not been read yet. */
    public Optional<CorpusStore.CorpusFile> nextUnread(UUID corpusId) {
        return jdbc.sql("SELECT f.id, f.corpus_id, f.owner, f.path, f.media_type, f.size, f.sha256, f.created_at "
                + "FROM corpus_files f WHERE f.corpus_id = ? AND NOT EXISTS (SELECT 1 FROM corpus_documents d "
                + "WHERE d.corpus_id = f.corpus_id AND d.file_id = f.id) ORDER BY f.path LIMIT 1").param(corpusId)
                .query((rs, n) -> new CorpusStore.CorpusFile(rs.getObject("id", UUID.class),
                        rs.getObject("corpus_id", UUID.class), rs.getString("owner"), rs.getString("path"),
                        rs.getString("media_type"), rs.getLong("size"), rs.getString("sha256"),
                        rs.getTimestamp("created_at").toInstant())).optional();
    }

    /** Records one file as read (or skipped); a second write for the same file changes nothing. */
    public void save(Document d) {
        ByteBuffer ids = ByteBuffer.allocate(d.tokens().length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int t : d.tokens()) {
            ids.putInt(t);
        }
        jdbc.sql("INSERT INTO corpus_documents (corpus_id, file_id, owner, path, skip_reason, chars, token_count, "
                + "token_ids, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (corpus_id, file_id) DO NOTHING")
                .params(d.corpusId(), d.fileId(), d.owner(), d.path(), d.skipReason(), d.chars(), d.tokens().length,
                        ids.array(), Timestamp.from(Instant.now()))
                .update();
    }

    public Progress progress(UUID corpusId) {
        return jdbc.sql("SELECT (SELECT count(*) FROM corpus_files WHERE corpus_id = ?) AS files, "
                + "count(*) FILTER (WHERE skip_reason IS NULL) AS read, count(*) FILTER (WHERE skip_reason IS NOT "
                + "NULL) AS skipped, COALESCE(SUM(token_count), 0) AS tokens FROM corpus_documents WHERE corpus_id = ?")
                .params(corpusId, corpusId).query((rs, n) -> new Progress(rs.getInt("files"), rs.getInt("read"),
                        rs.getInt("skipped"), rs.getLong("tokens"))).single();
    }

    /** Files read (or skipped) and tokens read since {@code since}: the pace of the current run. */
    public long[] doneSince(UUID corpusId, Instant since) {
        return jdbc.sql("SELECT count(*) AS files, COALESCE(SUM(token_count), 0) AS tokens FROM corpus_documents "
                + "WHERE corpus_id = ? AND read_at >= ?").params(corpusId, Timestamp.from(since))
                .query((rs, n) -> new long[] {rs.getLong("files"), rs.getLong("tokens")}).single();
    }

    /** The corpus's files that were read (not skipped), in document order (by path). */
    public List<Read> readInOrder(UUID corpusId) {
        return jdbc.sql("SELECT d.file_id, d.owner, d.path, f.sha256 FROM corpus_documents d JOIN corpus_files f ON "
                + "f.id = d.file_id WHERE d.corpus_id = ? AND d.skip_reason IS NULL ORDER BY d.path").param(corpusId)
                .query((rs, n) -> new Read(rs.getObject("file_id", UUID.class), rs.getString("owner"),
                        rs.getString("path"), rs.getString("sha256"))).list();
    }

    public List<Skip> skipped(UUID corpusId) {
        return jdbc.sql("SELECT path, skip_reason FROM corpus_documents WHERE corpus_id = ? AND skip_reason IS NOT "
                + "NULL ORDER BY path").param(corpusId).query((rs, n) -> new Skip(rs.getString("path"),
                        rs.getString("skip_reason"))).list();
    }
}
