package io.headroom.jobs.batch;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Batches of the OpenAI Batch API ({@code batches}, {@code batch_results}): their state and their
 * lines' results. A line's result is written once ({@code ok IS NULL} guards every update), so a
 * batch resumed after a crash never answers a line twice.
 */
public final class Batches {

    /** A batch's row. */
    public record Batch(String id, String owner, String endpoint, String inputFileId, String completionWindow,
            UUID corpusId, String metadata, String status, int total, int completed, int failed, String errors,
            String outputFileId, String errorFileId, Instant createdAt, Instant expiresAt, Instant inProgressAt,
            Instant finalizingAt, Instant completedAt, Instant failedAt, Instant cancellingAt, Instant cancelledAt,
            Instant expiredAt) {

        public boolean finished() {
            return List.of("completed", "failed", "expired", "cancelled").contains(status);
        }
    }

    /** A line waiting to run. */
    public record Pending(String batchId, int lineNo, String customId, String body) {
    }

    private final JdbcClient jdbc;

    public Batches(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    public static String newId() {
        return "batch_" + OpenAiFiles.randomHex();
    }

    public Batch create(String owner, String endpoint, String inputFileId, String completionWindow, UUID corpusId,
            String metadata, Duration window) {
        String id = newId();
        Instant now = Instant.now();
        jdbc.sql("INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, corpus_id, metadata, "
                + "status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'validating', ?, ?)")
                .params(id, owner, endpoint, inputFileId, completionWindow, corpusId, metadata, Timestamp.from(now),
                        Timestamp.from(now.plus(window))).update();
        return find(id).orElseThrow();
    }

    public Optional<Batch> find(String owner, String id) {
        return jdbc.sql("SELECT * FROM batches WHERE id = ? AND owner = ?").params(id, owner).query(Batches::row)
                .optional();
    }

    public Optional<Batch> find(String id) {
        return jdbc.sql("SELECT * FROM batches WHERE id = ?").param(id).query(Batches::row).optional();
    }

    /** The owner's batches, newest first, after the batch {@code after} (a cursor) when given. */
    public List<Batch> list(String owner, String after, int limit) {
        return jdbc.sql("SELECT * FROM batches WHERE owner = ? AND (?::text IS NULL OR (created_at, id) < (SELECT "
                + "created_at, id FROM batches WHERE id = ? AND owner = ?)) ORDER BY created_at DESC, id DESC LIMIT ?")
                .params(owner, after, after, owner, limit).query(Batches::row).list();
    }

    /** Records a checked line: to run ({@code body}), or failed with its error line. Idempotent. */
    public void addLine(String batchId, int lineNo, String customId, String body, String errorLine) {
        jdbc.sql("INSERT INTO batch_results (batch_id, line_no, custom_id, request, ok, result) VALUES (?, ?, ?, ?, ?, "
                + "?) ON CONFLICT (batch_id, line_no) DO NOTHING").params(batchId, lineNo, customId,
                        errorLine == null ? body : null, errorLine == null ? null : Boolean.FALSE, errorLine)
                .update();
    }

    /** Validation is done: {@code total} lines, the batch runs (or fails with {@code errors}, a JSON array). */
    public void validated(String batchId, int total, String errors, boolean failed) {
        Timestamp now = Timestamp.from(Instant.now());
        if (failed) {
            jdbc.sql("UPDATE batches SET status = 'failed', errors = ?, total = ?, failed_at = ? WHERE id = ? AND "
                    + "status = 'validating'").params(errors, total, now, batchId).update();
        } else {
            jdbc.sql("UPDATE batches SET status = 'in_progress', errors = ?, total = ?, in_progress_at = ? WHERE id = "
                    + "? AND status = 'validating'").params(errors, total, now, batchId).update();
        }
        counts(batchId);
    }

    /** The next line that has no result yet. */
    public Optional<Pending> nextPending(String batchId) {
        return jdbc.sql("SELECT batch_id, line_no, custom_id, request FROM batch_results WHERE batch_id = ? AND ok IS "
                + "NULL ORDER BY line_no LIMIT 1").param(batchId).query((rs, n) -> new Pending(rs.getString(1),
                        rs.getInt(2), rs.getString(3), rs.getString(4))).optional();
    }

    /** Records a line's result (once: a second write for the same line changes nothing). */
    public void answer(String batchId, int lineNo, boolean ok, String resultLine) {
        int answered = jdbc.sql("UPDATE batch_results SET ok = ?, result = ?, request = NULL WHERE batch_id = ? AND "
                + "line_no = ? AND ok IS NULL").params(ok, resultLine, batchId, lineNo).update();
        if (answered > 0) { // counted with the line, in the same transaction (the step's chunk)
            String column = ok ? "completed" : "failed";
            jdbc.sql("UPDATE batches SET " + column + " = " + column + " + 1 WHERE id = ?").param(batchId).update();
        }
    }

    /** Counts every line's result (once, after validation recorded the invalid lines). */
    private void counts(String batchId) {
        jdbc.sql("UPDATE batches b SET completed = (SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND "
                + "r.ok), failed = (SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND NOT r.ok) WHERE "
                + "b.id = ?").param(batchId).update();
    }

    /** The result lines, in line order: the output file's ({@code ok}) or the error file's. */
    public List<String> results(String batchId, boolean ok) {
        return jdbc.sql("SELECT result FROM batch_results WHERE batch_id = ? AND ok = ? ORDER BY line_no")
                .params(batchId, ok).query(String.class).list();
    }

    /** Moves a batch to {@code status} from one of {@code from}, stamping its time; false if it was in none. */
    public boolean transition(String batchId, String status, List<String> from) {
        String column = switch (status) {
            case "finalizing" -> "finalizing_at";
            case "completed" -> "completed_at";
            case "failed" -> "failed_at";
            case "cancelling" -> "cancelling_at";
            case "cancelled" -> "cancelled_at";
            case "expired" -> "expired_at";
            default -> throw new IllegalArgumentException("not a target status: " + status);
        };
        return jdbc.sql("UPDATE batches SET status = ?, " + column + " = COALESCE(" + column + ", ?) WHERE id = ? AND "
                + "status = ANY(?)").params(status, Timestamp.from(Instant.now()), batchId,
                        from.toArray(new String[0])).update() > 0;
    }

    public void files(String batchId, String outputFileId, String errorFileId) {
        jdbc.sql("UPDATE batches SET output_file_id = ?, error_file_id = ? WHERE id = ?")
                .params(outputFileId, errorFileId, batchId).update();
    }

    /** Batches left unfinished (a crash, a restart): their jobs are resumed at start-up. */
    public List<String> unfinished() {
        return jdbc.sql("SELECT id FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', "
                + "'cancelling') ORDER BY created_at").query(String.class).list();
    }

    private static Instant t(ResultSet rs, String column) throws SQLException {
        Timestamp ts = rs.getTimestamp(column);
        return ts == null ? null : ts.toInstant();
    }

    private static Batch row(ResultSet rs, int n) throws SQLException {
        return new Batch(rs.getString("id"), rs.getString("owner"), rs.getString("endpoint"),
                rs.getString("input_file_id"), rs.getString("completion_window"),
                rs.getObject("corpus_id", UUID.class), rs.getString("metadata"), rs.getString("status"),
                rs.getInt("total"), rs.getInt("completed"), rs.getInt("failed"), rs.getString("errors"),
                rs.getString("output_file_id"), rs.getString("error_file_id"), t(rs, "created_at"),
                t(rs, "expires_at"), t(rs, "in_progress_at"), t(rs, "finalizing_at"), t(rs, "completed_at"),
                t(rs, "failed_at"), t(rs, "cancelling_at"), t(rs, "cancelled_at"), t(rs, "expired_at"));
    }
}
