package io.headroom.service.corpora;

import io.headroom.jobs.corpus.BlobStore;
import io.headroom.jobs.corpus.CorpusNotFoundException;
import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.jobs.corpus.CorpusUploads;
import io.headroom.jobs.corpus.UploadLimits;
import io.headroom.jobs.extract.DocumentTexts;
import io.headroom.jobs.ingest.Ingestions;
import io.headroom.service.api.ApiException;
import io.headroom.sessions.corpus.CorpusSnapshots;
import io.headroom.service.api.Blocking;
import io.headroom.service.api.PartStaging;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.config.JobsProperties;
import io.headroom.service.corpora.CorpusApi.CorpusFileList;
import io.headroom.service.corpora.CorpusApi.CorpusFileView;
import io.headroom.service.corpora.CorpusApi.CorpusList;
import io.headroom.service.corpora.CorpusApi.CorpusView;
import io.headroom.service.corpora.CorpusApi.CreateCorpus;
import io.headroom.service.corpora.CorpusApi.FileText;
import io.headroom.service.corpora.CorpusApi.IngestionView;
import io.headroom.service.quota.Quotas;
import io.headroom.service.security.Caller;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Encoding;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.http.codec.multipart.FilePartEvent;
import org.springframework.http.codec.multipart.PartEvent;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * A user's corpora and their files. Files arrive as {@code multipart/form-data} parts named
 * {@code file}, streamed to disk as they come (never held whole in memory), counted and hashed on
 * the way, sniffed from their bytes, opened when they are archives, and added all or nothing
 * ({@link CorpusUploads}). Another user's corpus is a 404; an admin may read any.
 */
@RestController
@RequestMapping("/v1/corpora")
public class CorpusController {

    static final int MAX_NAME_LENGTH = 200;
    static final int MAX_TEXT_CHARS = 1_000_000;

    private final CorpusStore store;
    private final CorpusUploads uploads;
    private final BlobStore blobs;
    private final JobsProperties jobs;
    private final Quotas quotas;
    private final AuditLog audit;
    private final DocumentTexts texts;
    private final Ingestions ingestions;
    private final JsonMapper json;
    private final CorpusSnapshots snapshots;

    public CorpusController(CorpusStore store, CorpusUploads uploads, BlobStore blobs, JobsProperties jobs,
            Quotas quotas, AuditLog audit, DocumentTexts texts, Ingestions ingestions, JsonMapper json,
            CorpusSnapshots snapshots) {
        this.snapshots = snapshots;
        this.texts = texts;
        this.ingestions = ingestions;
        this.json = json;
        this.store = store;
        this.uploads = uploads;
        this.blobs = blobs;
        this.jobs = jobs;
        this.quotas = quotas;
        this.audit = audit;
    }

    @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(operationId = "createCorpus", summary = "Create an empty corpus")
    @ApiResponse(responseCode = "201", description = "created",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = CorpusView.class)))
    public Mono<ResponseEntity<CorpusView>> create(@RequestBody CreateCorpus body, Caller caller) {
        String name = body.name() == null ? "" : body.name().strip();
        if (name.isEmpty() || name.length() > MAX_NAME_LENGTH || name.chars().anyMatch(Character::isISOControl)) {
            return Mono.error(ApiException.invalid("name is required: 1 to " + MAX_NAME_LENGTH
                    + " characters without control characters", "name"));
        }
        return Blocking.call(() -> {
            CorpusStore.Corpus c = store.create(caller.id(), name);
            audit.record(caller, "corpus.create", "corpus", c.id().toString(), caller.id());
            return ResponseEntity.status(HttpStatus.CREATED).body(view(c));
        });
    }

    @GetMapping
    @Operation(operationId = "listCorpora", summary = "The caller's corpora, newest first")
    public Mono<CorpusList> list(Caller caller) {
        return Blocking.call(() -> new CorpusList("list", store.list(caller.id()).stream()
                .map(CorpusController::view).toList()));
    }

    @GetMapping("/{id}")
    @Operation(operationId = "getCorpus", summary = "A corpus and its totals")
    public Mono<CorpusView> get(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            CorpusStore.Corpus c = readable(caller, cid);
            audit.record(caller, "corpus.read", "corpus", id, c.owner());
            return view(c);
        });
    }

    @DeleteMapping("/{id}")
    @Operation(operationId = "deleteCorpus", summary = "Delete a corpus and the bytes no other corpus keeps")
    @ApiResponse(responseCode = "204", description = "deleted")
    public Mono<ResponseEntity<Void>> delete(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            store.find(caller.id(), cid).orElseThrow(() -> new CorpusNotFoundException(cid));
            long sessions = snapshots.sessionsUsing(cid);
            if (sessions > 0) {
                throw new ApiException(HttpStatus.CONFLICT, "invalid_request_error", sessions + " session(s) "
                        + "started from this corpus; delete them first", null, "corpus_in_use");
            }
            List<UUID> snapshotIds = snapshots.ids(cid);
            try {
                if (!uploads.deleteCorpus(caller.id(), cid)) {
                    throw new CorpusNotFoundException(cid);
                }
            } catch (org.springframework.dao.DataIntegrityViolationException e) {
                throw new ApiException(HttpStatus.CONFLICT, "invalid_request_error", "a session started from this "
                        + "corpus meanwhile; delete it first", null, "corpus_in_use");
            }
            snapshotIds.forEach(snapshots::deleteFiles);
            audit.record(caller, "corpus.delete", "corpus", id, caller.id());
            return ResponseEntity.noContent().<Void>build();
        });
    }

    @GetMapping("/{id}/files")
    @Operation(operationId = "listCorpusFiles", summary = "A corpus's files, by path")
    public Mono<CorpusFileList> files(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            CorpusStore.Corpus c = readable(caller, cid);
            audit.record(caller, "corpus.files.read", "corpus", id, c.owner());
            return new CorpusFileList("list", store.files(cid).stream().map(f -> view(f, false)).toList());
        });
    }

    @PostMapping("/{id}/ingestion")
    @Operation(operationId = "startCorpusIngestion", summary = "Read the corpus: every file's text, tokenised in "
            + "document order (by path), checked against the model's context; the same files again find the same run")
    @ApiResponse(responseCode = "202", description = "started, or already run for these files",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = IngestionView.class)))
    public Mono<ResponseEntity<IngestionView>> ingest(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            Ingestions.Status s = ingestions.start(caller.id(), cid);
            audit.record(caller, "corpus.ingestion.start", "corpus", id, caller.id());
            return ResponseEntity.status(HttpStatus.ACCEPTED).body(view(cid, s));
        });
    }

    @GetMapping("/{id}/ingestion")
    @Operation(operationId = "getCorpusIngestion", summary = "How far the corpus's reading has come")
    public Mono<IngestionView> ingestion(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            readable(caller, cid);
            return view(cid, ingestions.status(cid));
        });
    }

    @PostMapping("/{id}/ingestion/stop")
    @Operation(operationId = "stopCorpusIngestion", summary = "Stop the running ingestion after the file it is "
            + "reading; starting it again goes on from there")
    @ApiResponse(responseCode = "202", description = "stopping",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = IngestionView.class)))
    public Mono<ResponseEntity<IngestionView>> stop(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            if (!ingestions.stop(caller.id(), cid)) {
                throw new ApiException(HttpStatus.CONFLICT, "invalid_request_error", "no ingestion of corpus " + id
                        + " is running", null, "no_ingestion_running");
            }
            audit.record(caller, "corpus.ingestion.stop", "corpus", id, caller.id());
            return ResponseEntity.status(HttpStatus.ACCEPTED).body(view(cid, ingestions.status(cid)));
        });
    }

    @PostMapping("/{id}/ingestion/cancel")
    @Operation(operationId = "cancelCorpusIngestion", summary = "Cancel the ingestion: stop it and discard the KV "
            + "prefilled so far (the text read is kept)")
    @ApiResponse(responseCode = "200", description = "cancelled",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = IngestionView.class)))
    public Mono<IngestionView> cancel(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> {
            if (!ingestions.cancel(caller.id(), cid, Duration.ofSeconds(60))) {
                throw new ApiException(HttpStatus.CONFLICT, "invalid_request_error", "no ingestion of corpus " + id
                        + " is running or has KV in progress", null, "no_ingestion_running");
            }
            audit.record(caller, "corpus.ingestion.cancel", "corpus", id, caller.id());
            return view(cid, ingestions.status(cid));
        });
    }

    @GetMapping(value = "/{id}/ingestion/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    @Operation(operationId = "followCorpusIngestion", summary = "The ingestion's progress as Server-Sent Events: "
            + "event: progress with IngestionView every second, then event: done with the last one")
    @ApiResponse(responseCode = "200", description = "the progress", content = @Content(
            mediaType = "text/event-stream", schema = @Schema(type = "string",
                    description = "event: progress / data: IngestionView ... event: done / data: IngestionView")))
    public Mono<ResponseEntity<Flux<ServerSentEvent<String>>>> follow(@PathVariable String id, Caller caller) {
        UUID cid = parse(id);
        return Blocking.call(() -> readable(caller, cid)).map(c -> {
            Flux<ServerSentEvent<String>> events = Flux.interval(Duration.ZERO, Duration.ofSeconds(1))
                    .concatMap(tick -> Blocking.call(() -> ingestions.status(cid)))
                    .takeUntil(Ingestions.Status::finished)
                    .map(s -> ServerSentEvent.<String>builder().event(s.finished() ? "done" : "progress")
                            .data(json.writeValueAsString(view(cid, s))).build());
            return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(events);
        });
    }

    private static IngestionView view(UUID corpus, Ingestions.Status s) {
        return new IngestionView(corpus.toString(), s.state(), s.progress().files(), s.progress().read(),
                s.progress().skipped(), s.progress().tokens(), s.skipped().stream()
                        .map(k -> new CorpusApi.SkippedFile(k.path(), k.reason())).toList(), s.error(),
                instant(s.startedAt()), instant(s.endedAt()), s.filesPerSecond(), s.tokensPerSecond(),
                s.etaSeconds(), s.snapshot() == null ? null : new CorpusApi.SnapshotView(s.snapshot().id().toString(),
                        s.snapshot().state(), s.snapshot().documents(), s.snapshot().prefilledTokens()));
    }

    private static Instant instant(java.time.LocalDateTime t) {
        return t == null ? null : t.atZone(java.time.ZoneId.systemDefault()).toInstant();
    }

    @GetMapping("/{id}/files/{file_id}/text")
    @Operation(operationId = "getCorpusFileText", summary = "The text Headroom reads from a file (extracted once, "
            + "in an isolated process), or why it reads none")
    public Mono<FileText> text(@PathVariable String id, @PathVariable("file_id") String fileId,
            @Parameter(schema = @Schema(minimum = "1", maximum = "1000000"))
            @RequestParam(name = "max_chars", defaultValue = "100000") int maxChars, Caller caller) {
        UUID cid = parse(id);
        UUID fid = parse(fileId);
        if (maxChars < 1 || maxChars > MAX_TEXT_CHARS) {
            return Mono.error(ApiException.invalid("max_chars must be in [1, " + MAX_TEXT_CHARS + "], got "
                    + maxChars, "max_chars"));
        }
        return Blocking.call(() -> {
            CorpusStore.Corpus c = readable(caller, cid);
            CorpusStore.CorpusFile f = store.file(cid, fid).orElseThrow(() -> fileNotFound(id, fileId));
            audit.record(caller, "corpus.file.text.read", "corpus", id, c.owner());
            DocumentTexts.Text t = texts.text(c.owner(), f.sha256());
            if (!t.extracted()) {
                return new FileText(fileId, "corpus.file.text", f.path(), f.mediaType(), false, t.skipReason(), 0, "",
                        false);
            }
            char[] buf = new char[maxChars];
            int n = 0;
            try (var reader = Files.newBufferedReader(t.file(), StandardCharsets.UTF_8)) {
                for (int r; n < maxChars && (r = reader.read(buf, n, maxChars - n)) > 0;) {
                    n += r;
                }
            }
            return new FileText(fileId, "corpus.file.text", f.path(), f.mediaType(), true, null, t.chars(),
                    new String(buf, 0, n), n < t.chars());
        });
    }

    @DeleteMapping("/{id}/files/{file_id}")
    @Operation(operationId = "deleteCorpusFile", summary = "Remove one file from a corpus")
    @ApiResponse(responseCode = "204", description = "deleted")
    public Mono<ResponseEntity<Void>> deleteFile(@PathVariable String id, @PathVariable("file_id") String fileId,
            Caller caller) {
        UUID cid = parse(id);
        UUID fid = parse(fileId);
        return Blocking.call(() -> {
            if (!uploads.deleteFile(caller.id(), cid, fid)) {
                throw fileNotFound(id, fileId);
            }
            audit.record(caller, "corpus.file.delete", "corpus", id, caller.id());
            return ResponseEntity.noContent().<Void>build();
        });
    }

    @PostMapping(value = "/{id}/files", consumes = MediaType.MULTIPART_FORM_DATA_VALUE)
    @Operation(operationId = "uploadCorpusFiles", summary = "Add files (parts named file; PDF, DOCX, PPTX, XLSX, "
            + "HTML, Markdown, text, source code, or zip/tar/tar.gz archives of them), all or nothing",
            requestBody = @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
                    mediaType = MediaType.MULTIPART_FORM_DATA_VALUE, schema = @Schema(type = "object",
                            requiredProperties = "file", description = "one or more parts named file"),
                    encoding = @Encoding(name = "file", contentType = "application/octet-stream"))))
    @ApiResponse(responseCode = "201", description = "the files added", content = @Content(
            mediaType = "application/json", schema = @Schema(implementation = CorpusFileList.class)))
    public Mono<ResponseEntity<CorpusFileList>> upload(@PathVariable String id,
            @RequestBody(required = false) Flux<PartEvent> parts, Caller caller) {
        UUID cid = parse(id);
        List<CorpusUploads.Upload> received = new CopyOnWriteArrayList<>();
        return Blocking.call(() -> {
            store.find(caller.id(), cid).orElseThrow(() -> new CorpusNotFoundException(cid));
            return jobs.uploads().limits(quotas.limits(caller.id()).uploadBytes());
        }).flatMap(limits -> receive(parts == null ? Flux.empty() : parts, limits, received).then(Mono.defer(() -> {
            if (received.isEmpty()) {
                return Mono.error(ApiException.invalid("the upload holds no files: send multipart/form-data with "
                        + "parts named 'file'", "file"));
            }
            return Blocking.call(() -> {
                CorpusUploads.Added added = uploads.add(caller.id(), cid, List.copyOf(received), limits);
                received.clear();
                audit.record(caller, "corpus.files.add", "corpus", id, caller.id());
                return added;
            });
        }))).map(added -> ResponseEntity.status(HttpStatus.CREATED).body(new CorpusFileList("list", added.files()
                .stream().map(f -> view(f, added.deduplicated().contains(f.id()))).toList())))
                .doFinally(signal -> discard(received));
    }

    /**
     * Streams each file part into {@code incoming/} under the per-file limit, and the request as a
     * whole under the corpus limit (no corpus can hold more, so no more is written to disk) and the
     * corpus's file count.
     */
    private Mono<Void> receive(Flux<PartEvent> parts, UploadLimits limits, List<CorpusUploads.Upload> received) {
        java.util.concurrent.atomic.AtomicLong total = new java.util.concurrent.atomic.AtomicLong();
        return parts.windowUntil(PartEvent::isLast).concatMap(part -> part.switchOnFirst((signal, events) -> {
            if (!signal.hasValue()) {
                return events.then();
            }
            PartEvent first = signal.get();
            if (!(first instanceof FilePartEvent file) || !"file".equals(first.name())) {
                return events.doOnNext(e -> DataBufferUtils.release(e.content())).then(Mono.error(ApiException.invalid(
                        "unexpected form part '" + first.name() + "': send files as parts named 'file' with a file "
                                + "name",
                        first.name())));
            }
            if (received.size() >= limits.maxFilesPerCorpus()) {
                return events.doOnNext(e -> DataBufferUtils.release(e.content())).then(Mono.error(
                        new io.headroom.jobs.corpus.UploadRefusedException(
                                io.headroom.jobs.corpus.UploadRefusedException.Kind.INVALID, "max_files_per_corpus",
                                "the upload holds more than " + limits.maxFilesPerCorpus() + " files")));
            }
            long left = limits.maxCorpusSize() - total.get();
            BlobStore.Writer writer = left < limits.maxFileSize() ? blobs.writer(left, "max_corpus_size")
                    : blobs.writer(limits.maxFileSize(), "max_file_size");
            return PartStaging.stage(events, writer).doOnNext(staged -> {
                total.addAndGet(staged.size());
                received.add(new CorpusUploads.Upload(file.filename(), staged));
            }).then();
        })).then();
    }

    private static void discard(List<CorpusUploads.Upload> received) {
        for (CorpusUploads.Upload u : received) {
            try {
                Files.deleteIfExists(u.staged().file());
            } catch (IOException e) {
                // incoming/ is emptied at the next start
            }
        }
    }

    private CorpusStore.Corpus readable(Caller caller, UUID id) {
        return (caller.admin() ? store.findAnyOwner(id) : store.find(caller.id(), id))
                .orElseThrow(() -> new CorpusNotFoundException(id));
    }

    private static CorpusView view(CorpusStore.Corpus c) {
        return new CorpusView(c.id().toString(), "corpus", c.owner(), c.name(), c.fileCount(), c.bytes(),
                c.createdAt());
    }

    private static CorpusFileView view(CorpusStore.CorpusFile f, boolean deduplicated) {
        return new CorpusFileView(f.id().toString(), "corpus.file", f.path(), f.mediaType(), f.size(), f.sha256(),
                deduplicated, f.createdAt());
    }

    private static ApiException fileNotFound(String corpus, String file) {
        return new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "file " + file
                + " not found in corpus " + corpus, "file_id", "file_not_found");
    }

    static UUID parse(String id) {
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "not found: " + id, null,
                    "not_found");
        }
    }

}
