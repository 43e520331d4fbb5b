package io.headroom.sessions.corpus;

import io.headroom.sessions.files.PrivateFiles;
import io.headroom.sessions.store.TokenIds;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Corpus snapshots: a corpus prefilled once into DuoAttention KV ({@code corpus_snapshots},
 * {@code corpus_snapshot_documents}). The retrieval-head KV is a spill file in the KV block format
 * ({@code <directory>/<id>.kv}, checksummed); a snapshot being built keeps its last checkpoint in
 * {@code <id>.kv.partial}. PostgreSQL holds what the file can be rebuilt from: each document's token
 * ids and the streaming-head state at its end.
 */
public final class CorpusSnapshots {

    /** A snapshot's row. */
    public record Snapshot(UUID id, UUID corpusId, String owner, String filesDigest, String model, Double sparsity,
            String state, int tokenCount, int documents, int checkpointTokens, long spillBytes, Instant createdAt,
            Instant readyAt) {

        public boolean ready() {
            return state.equals("ready");
        }
    }

    /** One prefilled document: its place, its tokens, and the streaming-head state after it. */
    public record Boundary(int ord, UUID fileId, String path, int tokenStart, int[] tokens, byte[] streamingState) {

        public int tokenEnd() {
            return tokenStart + tokens.length;
        }
    }

    /** A prefilled document as recorded, without its streaming state (which only a resume reads, by itself). */
    public record Document(int ord, UUID fileId, String path, int tokenStart, int[] tokens) {

        public int tokenEnd() {
            return tokenStart + tokens.length;
        }
    }

    private static final String COLUMNS = "id, corpus_id, owner, files_digest, model, sparsity, state, token_count, "
            + "documents, checkpoint_tokens, spill_bytes, created_at, ready_at";

    private final JdbcClient jdbc;
    private final Path directory;

    public CorpusSnapshots(JdbcClient jdbc, Path directory) {
        this.jdbc = jdbc;
        this.directory = directory;
        try {
            PrivateFiles.directory(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the corpus snapshot directory " + directory, e);
        }
    }

    /** The finished snapshot's retrieval KV. */
    public Path spillFile(UUID id) {
        return directory.resolve(id + ".kv");
    }

    /** The retrieval KV of a snapshot being built, as of its last checkpoint. */
    public Path partialFile(UUID id) {
        return directory.resolve(id + ".kv.partial");
    }

    /** The newest finished snapshot of the owner's corpus for {@code model}. */
    public Optional<Snapshot> latestReady(String owner, UUID corpusId, String model) {
        return jdbc.sql("SELECT " + COLUMNS + " FROM corpus_snapshots WHERE owner = ? AND corpus_id = ? AND model = ? "
                + "AND state = 'ready' ORDER BY ready_at DESC LIMIT 1").params(owner, corpusId, model)
                .query(CorpusSnapshots::snapshot).optional();
    }

    /** The newest snapshot of the corpus, finished or not. */
    public Optional<Snapshot> latest(UUID corpusId) {
        return jdbc.sql("SELECT " + COLUMNS + " FROM corpus_snapshots WHERE corpus_id = ? ORDER BY created_at DESC "
                + "LIMIT 1").param(corpusId).query(CorpusSnapshots::snapshot).optional();
    }

    public Optional<Snapshot> find(UUID id) {
        return jdbc.sql("SELECT " + COLUMNS + " FROM corpus_snapshots WHERE id = ?").param(id)
                .query(CorpusSnapshots::snapshot).optional();
    }

    /**
     * The snapshot of exactly these files for this model and sparsity (finished, or being built), or
     * a new one being built.
     */
    public Snapshot begin(UUID corpusId, String owner, String filesDigest, String model, Double sparsity) {
        Optional<Snapshot> same = jdbc.sql("SELECT " + COLUMNS + " FROM corpus_snapshots WHERE corpus_id = ? AND "
                + "files_digest = ? AND model = ? AND sparsity IS NOT DISTINCT FROM ? ORDER BY created_at DESC LIMIT 1")
                .params(corpusId, filesDigest, model, sparsity).query(CorpusSnapshots::snapshot).optional();
        if (same.isPresent()) {
            return same.get();
        }
        UUID id = UUID.randomUUID();
        jdbc.sql("INSERT INTO corpus_snapshots (id, corpus_id, owner, files_digest, model, sparsity, state, "
                + "created_at) VALUES (?, ?, ?, ?, ?, ?, 'building', ?)")
                .params(id, corpusId, owner, filesDigest, model, sparsity, Timestamp.from(Instant.now())).update();
        return find(id).orElseThrow();
    }

    /** The documents prefilled so far, in order. */
    public List<Document> documents(UUID id) {
        return jdbc.sql("SELECT ord, file_id, path, token_start, token_ids FROM corpus_snapshot_documents WHERE "
                + "snapshot_id = ? ORDER BY ord").param(id)
                .query((rs, n) -> new Document(rs.getInt("ord"), rs.getObject("file_id", UUID.class),
                        rs.getString("path"), rs.getInt("token_start"), TokenIds.fromBytes(rs.getBytes("token_ids"))))
                .list();
    }

    /** Records a prefilled document (again, after a restart, replacing what a crash left). */
    public void saveBoundary(UUID id, Boundary b) {
        jdbc.sql("INSERT INTO corpus_snapshot_documents (snapshot_id, ord, file_id, path, token_start, token_ids, "
                + "token_count, streaming_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (snapshot_id, ord) DO "
                + "UPDATE SET file_id = EXCLUDED.file_id, path = EXCLUDED.path, token_start = EXCLUDED.token_start, "
                + "token_ids = EXCLUDED.token_ids, token_count = EXCLUDED.token_count, "
                + "streaming_state = EXCLUDED.streaming_state")
                .params(id, b.ord(), b.fileId(), b.path(), b.tokenStart(), TokenIds.toBytes(b.tokens()),
                        b.tokens().length, b.streamingState()).update();
        jdbc.sql("UPDATE corpus_snapshots SET token_count = ?, documents = ? WHERE id = ?")
                .params(b.tokenEnd(), b.ord() + 1, id).update();
    }

    /** Forgets the documents from {@code tokens} on (prefilled after the checkpoint a restart goes on from). */
    public void truncate(UUID id, int tokens) {
        jdbc.sql("DELETE FROM corpus_snapshot_documents WHERE snapshot_id = ? AND token_start >= ?")
                .params(id, tokens).update();
        jdbc.sql("UPDATE corpus_snapshots SET token_count = ?, documents = (SELECT count(*) FROM "
                + "corpus_snapshot_documents WHERE snapshot_id = ?), checkpoint_tokens = LEAST(checkpoint_tokens, ?) "
                + "WHERE id = ?").params(tokens, id, tokens, id).update();
    }

    /** The partial file now holds the first {@code tokens} tokens. */
    public void checkpointed(UUID id, int tokens) {
        jdbc.sql("UPDATE corpus_snapshots SET checkpoint_tokens = ? WHERE id = ?").params(tokens, id).update();
    }

    /** The snapshot is complete: its spill file is in place with {@code tokenIds.length} tokens. */
    public void ready(UUID id, int[] tokenIds, int documents, long spillBytes) {
        jdbc.sql("UPDATE corpus_snapshots SET state = 'ready', token_count = ?, documents = ?, token_ids = ?, "
                + "checkpoint_tokens = ?, spill_bytes = ?, ready_at = ? WHERE id = ?")
                .params(tokenIds.length, documents, TokenIds.toBytes(tokenIds), tokenIds.length, spillBytes,
                        Timestamp.from(Instant.now()), id).update();
    }

    /** The token ids of a finished snapshot, in order. */
    public int[] tokens(UUID id) {
        byte[] ids = jdbc.sql("SELECT token_ids FROM corpus_snapshots WHERE id = ?").param(id).query(byte[].class)
                .optional().orElse(null);
        if (ids == null) {
            throw new IllegalStateException("corpus snapshot " + id + " is not finished");
        }
        return TokenIds.fromBytes(ids);
    }

    /** The streaming-head state after the document that ends at {@code tokens}, if one does. */
    public Optional<byte[]> streamingStateAt(UUID id, int tokens) {
        return jdbc.sql("SELECT streaming_state FROM corpus_snapshot_documents WHERE snapshot_id = ? AND "
                + "token_start + token_count = ? ORDER BY ord DESC LIMIT 1").params(id, tokens).query(byte[].class)
                .optional();
    }

    /** Sessions that started from any snapshot of the corpus (they keep it from being deleted). */
    public long sessionsUsing(UUID corpusId) {
        return jdbc.sql("SELECT count(*) FROM sessions s JOIN corpus_snapshots c ON c.id = s.corpus_snapshot_id "
                + "WHERE c.corpus_id = ?").param(corpusId).query(Long.class).single();
    }

    /** The snapshot ids of a corpus. */
    public List<UUID> ids(UUID corpusId) {
        return jdbc.sql("SELECT id FROM corpus_snapshots WHERE corpus_id = ?").param(corpusId).query(UUID.class)
                .list();
    }

    /** Deletes a snapshot no session uses, with its files; false when a session uses it. */
    public boolean discard(UUID id) {
        long users = jdbc.sql("SELECT count(*) FROM sessions WHERE corpus_snapshot_id = ?").param(id)
                .query(Long.class).single();
        if (users > 0) {
            return false;
        }
        jdbc.sql("DELETE FROM corpus_snapshots WHERE id = ?").param(id).update();
        deleteFiles(id);
        return true;
    }

    /** Removes a snapshot's files (after its rows are gone). */
    public void deleteFiles(UUID id) {
        try {
            Files.deleteIfExists(spillFile(id));
            Files.deleteIfExists(partialFile(id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the files of corpus snapshot " + id, e);
        }
    }

    private static Snapshot snapshot(ResultSet rs, int n) throws SQLException {
        Timestamp ready = rs.getTimestamp("ready_at");
        Object sparsity = rs.getObject("sparsity");
        return new Snapshot(rs.getObject("id", UUID.class), rs.getObject("corpus_id", UUID.class),
                rs.getString("owner"), rs.getString("files_digest"), rs.getString("model"),
                sparsity == null ? null : ((Number) sparsity).doubleValue(), rs.getString("state"),
                rs.getInt("token_count"), rs.getInt("documents"), rs.getInt("checkpoint_tokens"),
                rs.getLong("spill_bytes"), rs.getTimestamp("created_at").toInstant(),
                ready == null ? null : ready.toInstant());
    }
}
