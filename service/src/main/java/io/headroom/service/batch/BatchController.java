package io.headroom.service.batch;

import io.headroom.jobs.batch.BatchJobs;
import io.headroom.jobs.batch.Batches;
import io.headroom.jobs.batch.OpenAiFiles;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.Blocking;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.batch.BatchApi.BatchError;
import io.headroom.service.batch.BatchApi.BatchErrors;
import io.headroom.service.batch.BatchApi.BatchList;
import io.headroom.service.batch.BatchApi.BatchObject;
import io.headroom.service.batch.BatchApi.CreateBatch;
import io.headroom.service.batch.BatchApi.RequestCounts;
import io.headroom.service.corpora.CorpusSessions;
import io.headroom.service.security.Caller;
import io.swagger.v3.oas.annotations.Operation;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.json.JsonMapper;

/**
 * The OpenAI Batch API: a batch runs every line of a JSONL input file against
 * {@code /v1/chat/completions} in the background (Spring Batch, restartable), optionally over a
 * corpus (the extension field {@code headroom_corpus}), and writes an output and an error file with
 * one line per {@code custom_id}. Another user's batch is a 404.
 */
@RestController
@RequestMapping("/v1/batches")
public class BatchController {

    static final String ENDPOINT = "/v1/chat/completions";

    private final Batches batches;
    private final OpenAiFiles files;
    private final BatchJobs jobs;
    private final CorpusSessions corpora;
    private final AuditLog audit;
    private final JsonMapper json;

    public BatchController(Batches batches, OpenAiFiles files, BatchJobs jobs, CorpusSessions corpora,
            AuditLog audit, JsonMapper json) {
        this.batches = batches;
        this.files = files;
        this.jobs = jobs;
        this.corpora = corpora;
        this.audit = audit;
        this.json = json;
    }

    @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "createBatch", summary = "Run every request of an input file in the background")
    public Mono<BatchObject> create(@RequestBody CreateBatch body, Caller caller) {
        if (body.inputFileId() == null) {
            return Mono.error(ApiException.invalid("input_file_id is required", "input_file_id"));
        }
        if (!ENDPOINT.equals(body.endpoint())) {
            return Mono.error(ApiException.invalid("endpoint must be " + ENDPOINT + " (the only one Headroom "
                    + "batches)", "endpoint"));
        }
        if (!"24h".equals(body.completionWindow())) {
            return Mono.error(ApiException.invalid("completion_window must be 24h", "completion_window"));
        }
        Map<String, String> metadata = body.metadata();
        if (metadata != null && (metadata.size() > 16 || metadata.entrySet().stream().anyMatch(e -> e.getKey() == null
                || e.getKey().length() > 64 || e.getValue() == null || e.getValue().length() > 512))) {
            return Mono.error(ApiException.invalid("metadata holds at most 16 pairs, keys up to 64 characters and "
                    + "values up to 512", "metadata"));
        }
        return Blocking.call(() -> {
            OpenAiFiles.FileRecord input = files.find(caller.id(), body.inputFileId()).orElseThrow(() ->
                    new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "No such File object: "
                            + body.inputFileId(), "input_file_id", "file_not_found"));
            if (!input.purpose().equals("batch")) {
                throw ApiException.invalid("the input file must have purpose batch", "input_file_id");
            }
            UUID corpus = body.headroomCorpus() == null ? null
                    : corpora.readySnapshot(caller.id(), body.headroomCorpus(), "headroom_corpus").corpusId();
            Batches.Batch b = batches.create(caller.id(), ENDPOINT, input.id(), "24h", corpus,
                    metadata == null ? null : json.writeValueAsString(metadata), Duration.ofHours(24));
            audit.record(caller, "batch.create", "batch", b.id(), caller.id());
            jobs.start(b.id());
            return view(b);
        });
    }

    @GetMapping("/{id}")
    @Operation(operationId = "retrieveBatch", summary = "A batch")
    public Mono<BatchObject> get(@PathVariable String id, Caller caller) {
        return Blocking.call(() -> view((caller.admin() ? batches.find(id) : batches.find(caller.id(), id))
                .orElseThrow(() -> notFound(id))));
    }

    @GetMapping
    @Operation(operationId = "listBatches", summary = "The caller's batches, newest first")
    public Mono<BatchList> list(@RequestParam(required = false) String after,
            @RequestParam(defaultValue = "20") int limit, Caller caller) {
        if (after != null && !after.matches("batch_[0-9a-f]{32}")) {
            return Mono.error(ApiException.invalid("after must be a batch id", "after"));
        }
        if (limit < 1 || limit > 100) {
            return Mono.error(ApiException.invalid("limit must be in [1, 100], got " + limit, "limit"));
        }
        return Blocking.call(() -> {
            List<Batches.Batch> found = batches.list(caller.id(), after, limit + 1);
            List<BatchObject> data = found.stream().limit(limit).map(this::view).toList();
            return new BatchList("list", data, data.isEmpty() ? null : data.getFirst().id(),
                    data.isEmpty() ? null : data.getLast().id(), found.size() > limit);
        });
    }

    @PostMapping("/{id}/cancel")
    @Operation(operationId = "cancelBatch", summary = "Cancel a batch: it stops after the request in progress, "
            + "and its output so far is kept")
    public Mono<BatchObject> cancel(@PathVariable String id, Caller caller) {
        return Blocking.call(() -> {
            Batches.Batch b = find(caller, id);
            if (!batches.transition(b.id(), "cancelling", List.of("validating", "in_progress"))
                    && !b.status().equals("cancelling")) {
                throw new ApiException(HttpStatus.CONFLICT, "invalid_request_error", "batch " + id + " is "
                        + b.status() + " and cannot be cancelled", null, "batch_not_cancellable");
            }
            audit.record(caller, "batch.cancel", "batch", id, caller.id());
            return view(batches.find(b.id()).orElseThrow());
        });
    }

    /** The caller's own batch (what an admin may change too). */
    private Batches.Batch find(Caller caller, String id) {
        return batches.find(caller.id(), id).orElseThrow(() -> notFound(id));
    }

    private static ApiException notFound(String id) {
        return new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "No such Batch object: " + id,
                "batch_id", "batch_not_found");
    }

    private BatchObject view(Batches.Batch b) {
        BatchErrors errors = null;
        if (b.errors() != null) {
            List<BatchError> list = json.readValue(b.errors(), new TypeReference<List<Map<String, Object>>>() {
            }).stream().map(e -> new BatchError((String) e.get("code"), (String) e.get("message"),
                    (String) e.get("param"), (Integer) e.get("line"))).toList();
            errors = new BatchErrors("list", list);
        }
        Map<String, String> metadata = b.metadata() == null ? null
                : json.readValue(b.metadata(), new TypeReference<Map<String, String>>() {
                });
        return new BatchObject(b.id(), "batch", b.endpoint(), errors, b.inputFileId(), b.completionWindow(),
                b.status(), b.outputFileId(), b.errorFileId(), b.createdAt().getEpochSecond(), s(b.inProgressAt()),
                s(b.expiresAt()), s(b.finalizingAt()), s(b.completedAt()), s(b.failedAt()), s(b.expiredAt()),
                s(b.cancellingAt()), s(b.cancelledAt()), new RequestCounts(b.total(), b.completed(), b.failed()),
                metadata, b.corpusId() == null ? null : b.corpusId().toString());
    }

    private static Long s(Instant t) {
        return t == null ? null : t.getEpochSecond();
    }
}
