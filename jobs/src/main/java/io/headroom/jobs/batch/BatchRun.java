package io.headroom.jobs.batch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.springframework.batch.core.job.Job;
import org.springframework.batch.core.job.builder.JobBuilder;
import org.springframework.batch.core.repository.JobRepository;
import org.springframework.batch.core.scope.context.StepSynchronizationManager;
import org.springframework.batch.core.step.Step;
import org.springframework.batch.core.step.builder.StepBuilder;
import org.springframework.batch.infrastructure.repeat.RepeatStatus;
import org.springframework.transaction.PlatformTransactionManager;
import tools.jackson.databind.json.JsonMapper;

/**
 * The batch job (Spring Batch), identified by its batch: {@value #PARAMETER}.
 * <ol>
 *   <li>{@code validate}: every line of the input file checked; a valid line is recorded to run, an
 *       invalid one (not JSON, no or a duplicate {@code custom_id}, another endpoint) as an error
 *       line. A file with no valid line, or not UTF-8 text, fails the batch with its errors.</li>
 *   <li>{@code run}: one line per chunk, in line order, each request on the engine's background lane;
 *       its result is written once, so a run resumed after a crash goes on with the first line
 *       without one. A cancelled or expired batch stops here after the line in progress.</li>
 *   <li>{@code finalize}: the output and error files written (one line per {@code custom_id}, in the
 *       input's order) and the batch completed, cancelled or expired.</li>
 * </ol>
 */
public final class BatchRun {

    public static final String JOB = "openAiBatch";
    public static final String PARAMETER = "batch";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** The most errors a batch lists in its {@code errors} (every line's error is in the error file). */
    static final int MAX_LISTED_ERRORS = 100;

    private BatchRun() {
    }

    /** Lines longer than this are an error line (OpenAI's limit on one request is similar). */
    static final int MAX_LINE_CHARS = 1_000_000;

    public static Job job(JobRepository jobs, PlatformTransactionManager tx, Batches batches, OpenAiFiles files,
            BatchRequests requests, int maxLines) {
        Step validate = new StepBuilder("validate", jobs).tasklet((contribution, context) -> {
            Batches.Batch b = batch(batches);
            if (b.status().equals("validating")) {
                validate(b, batches, files, requests, maxLines);
            }
            return RepeatStatus.FINISHED;
        }, tx).build();
        Step run = new StepBuilder("run", jobs).tasklet((contribution, context) -> {
            Batches.Batch b = batch(batches);
            if (!b.status().equals("in_progress") || Instant.now().isAfter(b.expiresAt())) {
                return RepeatStatus.FINISHED; // failed, cancelling, expired: finalize says which
            }
            Optional<Batches.Pending> next = batches.nextPending(b.id());
            if (next.isEmpty()) {
                return RepeatStatus.FINISHED;
            }
            Batches.Pending p = next.get();
            BatchRequests.Outcome o = requests.run(b.owner(), b.corpusId(), p.customId(), p.body());
            batches.answer(b.id(), p.lineNo(), o.ok(), o.jsonLine());
            contribution.incrementWriteCount(1);
            return RepeatStatus.CONTINUABLE;
        }, tx).build();
        Step finish = new StepBuilder("finalize", jobs).tasklet((contribution, context) -> {
            finalizeBatch(batch(batches), batches, files);
            return RepeatStatus.FINISHED;
        }, tx).build();
        return new JobBuilder(JOB, jobs).start(validate).next(run).next(finish).build();
    }

    private static Batches.Batch batch(Batches batches) {
        String id = StepSynchronizationManager.getContext().getStepExecution().getJobParameters().getString(PARAMETER);
        return batches.find(id).orElseThrow(() -> new IllegalStateException("batch " + id + " is gone"));
    }

    private static void validate(Batches.Batch b, Batches batches, OpenAiFiles files, BatchRequests requests,
            int maxLines) throws IOException {
        List<String> errors = new ArrayList<>();
        Set<String> customIds = new HashSet<>();
        int lineNo = 0;
        int valid = 0;
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader in = new BufferedReader(new java.io.InputStreamReader(Files.newInputStream(
                files.path(b.inputFileId())), decoder))) {
            for (String line; (line = in.readLine()) != null;) {
                if (line.isBlank()) {
                    continue;
                }
                lineNo++;
                if (lineNo > maxLines) {
                    errors.add(error("too_many_lines", "the input file has more than " + maxLines + " requests",
                            null));
                    batches.validated(b.id(), 0, "[" + String.join(",", errors) + "]", true);
                    return;
                }
                BatchRequests.Line l = line.length() > MAX_LINE_CHARS
                        ? new BatchRequests.Line(null, null, "line_too_long", "the line is longer than "
                                + MAX_LINE_CHARS + " characters")
                        : requests.check(lineNo, line, b.endpoint());
                if (l.valid() && !customIds.add(l.customId())) {
                    l = new BatchRequests.Line(l.customId(), null, "duplicate_custom_id", "custom_id '" + l.customId()
                            + "' is used by an earlier line; each request needs its own");
                }
                if (l.valid()) {
                    valid++;
                    batches.addLine(b.id(), lineNo, l.customId(), l.body(), null);
                } else {
                    if (errors.size() < MAX_LISTED_ERRORS) {
                        errors.add(error(l.errorCode(), l.errorMessage(), lineNo));
                    }
                    batches.addLine(b.id(), lineNo, l.customId(), null, requests.errorLine(l.customId(),
                            l.errorCode(), "line " + lineNo + ": " + l.errorMessage()));
                }
            }
        } catch (CharacterCodingException | UncheckedIOException e) {
            batches.validated(b.id(), 0, "[" + error("invalid_file", "the input file is not UTF-8 text (JSONL)", null)
                    + "]", true);
            return;
        }
        if (valid == 0) {
            if (lineNo == 0) {
                errors.add(error("empty_file", "the input file holds no requests", null));
            } else {
                errors.addFirst(error("invalid_file", "no line of the input file is a valid request: it must be "
                        + "JSONL, one object with custom_id, method, url and body per line", null));
            }
            batches.validated(b.id(), lineNo, "[" + String.join(",", errors) + "]", true);
            return;
        }
        batches.validated(b.id(), lineNo, errors.isEmpty() ? null : "[" + String.join(",", errors) + "]", false);
    }

    /** A {@code {code, message, line}} error object (JSON) for the batch's {@code errors}. */
    static String error(String code, String message, Integer line) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("object", "error");
        e.put("code", code);
        e.put("message", message);
        e.put("param", null);
        e.put("line", line);
        return JSON.writeValueAsString(e);
    }

    private static void finalizeBatch(Batches.Batch b, Batches batches, OpenAiFiles files) {
        if (b.finished()) {
            return;
        }
        String target = b.status().equals("cancelling") ? "cancelled"
                : b.status().equals("in_progress") && batches.nextPending(b.id()).isPresent()
                        && Instant.now().isAfter(b.expiresAt()) ? "expired" : "completed";
        if (b.status().equals("in_progress")) {
            batches.transition(b.id(), "finalizing", List.of("in_progress"));
        }
        List<String> ok = batches.results(b.id(), true);
        List<String> failed = batches.results(b.id(), false);
        // as OpenAI: an output file when some request succeeded, an error file when some failed
        String outputId = ok.isEmpty() ? null : b.outputFileId() != null ? b.outputFileId() : OpenAiFiles.newId();
        String errorId = failed.isEmpty() ? null : b.errorFileId() != null ? b.errorFileId() : OpenAiFiles.newId();
        batches.files(b.id(), outputId, errorId); // ids first: a crash after this writes the same files again
        if (outputId != null) {
            files.write(outputId, b.owner(), "batch_output", b.id() + "_output.jsonl", jsonl(ok));
        }
        if (errorId != null) {
            files.write(errorId, b.owner(), "batch_output", b.id() + "_error.jsonl", jsonl(failed));
        }
        batches.transition(b.id(), target, List.of("finalizing", "cancelling"));
    }

    private static byte[] jsonl(List<String> lines) {
        StringBuilder sb = new StringBuilder();
        lines.forEach(l -> sb.append(l).append('\n'));
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
