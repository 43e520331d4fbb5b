package io.headroom.service.batch;

import io.headroom.jobs.batch.OpenAiFiles;
import io.headroom.jobs.corpus.BlobStore;
import io.headroom.service.api.ApiException;
import io.headroom.service.api.Blocking;
import io.headroom.service.api.PartStaging;
import io.headroom.service.audit.AuditLog;
import io.headroom.service.batch.BatchApi.FileDeleted;
import io.headroom.service.batch.BatchApi.FileList;
import io.headroom.service.batch.BatchApi.FileObject;
import io.headroom.service.config.JobsProperties;
import io.headroom.service.security.Caller;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.core.io.FileSystemResource;
import org.springframework.core.io.Resource;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.multipart.FilePartEvent;
import org.springframework.http.codec.multipart.FormPartEvent;
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
import reactor.core.scheduler.Schedulers;

/**
 * The OpenAI Files API for batches: {@code multipart/form-data} with a {@code purpose} field
 * ({@code batch}) and a {@code file} part (JSONL), streamed to disk under the size limit; the
 * output and error files batches write. Another user's file is a 404.
 */
@RestController
@RequestMapping("/v1/files")
public class FileController {

    static final int MAX_FILENAME = 255;

    private final OpenAiFiles files;
    private final BlobStore blobs;
    private final JobsProperties jobs;
    private final AuditLog audit;

    public FileController(OpenAiFiles files, BlobStore blobs, JobsProperties jobs, AuditLog audit) {
        this.files = files;
        this.blobs = blobs;
        this.jobs = jobs;
        this.audit = audit;
    }

    @PostMapping(consumes = MediaType.MULTIPART_FORM_DATA_VALUE)
    @Operation(operationId = "createFile", summary = "Upload a batch input file (purpose batch, JSONL)")
    public Mono<FileObject> upload(@RequestBody(required = false) Flux<PartEvent> parts, Caller caller) {
        AtomicReference<String> purpose = new AtomicReference<>();
        AtomicReference<String> filename = new AtomicReference<>();
        AtomicReference<BlobStore.Staged> staged = new AtomicReference<>();
        long max = jobs.batches().maxFileSize().toBytes();
        Flux<PartEvent> in = parts == null ? Flux.empty() : parts;
        return in.windowUntil(PartEvent::isLast).concatMap(part -> part.switchOnFirst((signal, events) -> {
            if (!signal.hasValue()) {
                return events.then();
            }
            PartEvent first = signal.get();
            if (first instanceof FormPartEvent form && form.name().equals("purpose")) {
                purpose.set(form.value());
                return events.then();
            }
            if (first instanceof FormPartEvent form && form.name().equals("file") && staged.get() == null) {
                // a client that sends the file without a file name (small files only: the form-field size limit)
                filename.set("upload.jsonl");
                return Mono.fromCallable(() -> {
                    BlobStore.Writer writer = blobs.writer(max, "max_file_size");
                    try {
                        writer.write(java.nio.ByteBuffer.wrap(form.value().getBytes(StandardCharsets.UTF_8)));
                        return writer.finish();
                    } catch (IOException | RuntimeException e) {
                        writer.abort();
                        throw e;
                    }
                }).subscribeOn(Schedulers.boundedElastic()).doOnNext(staged::set).then(events.then());
            }
            if (!(first instanceof FormPartEvent) && first.name().equals("file") && staged.get() == null) {
                // a file part; some clients send one without a file name (a plain part with a content type)
                filename.set(first instanceof FilePartEvent file ? file.filename() : "upload.jsonl");
                return PartStaging.stage(events, blobs.writer(max, "max_file_size")).doOnNext(staged::set).then();
            }
            return events.doOnNext(e -> DataBufferUtils.release(e.content())).then(Mono.error(ApiException.invalid(
                    "unexpected form part '" + first.name() + "': send purpose and one file", first.name())));
        })).then(Mono.defer(() -> Blocking.call(() -> {
            if (!"batch".equals(purpose.get())) {
                throw ApiException.invalid("purpose must be batch (the only purpose Headroom takes)", "purpose");
            }
            if (staged.get() == null) {
                throw ApiException.invalid("the upload holds no file: send a part named 'file'", "file");
            }
            String name = filename.get() == null ? "" : filename.get().strip();
            if (name.isEmpty() || name.length() > MAX_FILENAME || name.chars().anyMatch(Character::isISOControl)) {
                throw ApiException.invalid("the file needs a name of 1 to " + MAX_FILENAME + " characters", "file");
            }
            OpenAiFiles.FileRecord f = files.adopt(caller.id(), "batch", name, staged.get().file(),
                    staged.get().size());
            staged.set(null);
            audit.record(caller, "file.create", "file", f.id(), caller.id());
            return view(f);
        }))).doFinally(s -> {
            BlobStore.Staged left = staged.get();
            if (left != null) {
                try {
                    Files.deleteIfExists(left.file());
                } catch (IOException e) {
                    // incoming/ is emptied at the next start
                }
            }
        });
    }

    @GetMapping
    @Operation(operationId = "listFiles", summary = "The caller's files, newest first")
    public Mono<FileList> list(@RequestParam(required = false) String purpose,
            @RequestParam(defaultValue = "100") int limit, Caller caller) {
        if (purpose != null && !purpose.equals("batch") && !purpose.equals("batch_output")) {
            return Mono.error(ApiException.invalid("purpose must be batch or batch_output", "purpose"));
        }
        if (limit < 1 || limit > 10_000) {
            return Mono.error(ApiException.invalid("limit must be in [1, 10000], got " + limit, "limit"));
        }
        return Blocking.call(() -> {
            var found = files.list(caller.id(), purpose, limit + 1);
            return new FileList("list", found.stream().limit(limit).map(FileController::view).toList(),
                    found.size() > limit);
        });
    }

    @GetMapping("/{id}")
    @Operation(operationId = "retrieveFile", summary = "A file")
    public Mono<FileObject> get(@PathVariable String id, Caller caller) {
        return Blocking.call(() -> view(find(caller, id)));
    }

    @GetMapping("/{id}/content")
    @Operation(operationId = "downloadFile", summary = "A file's content", responses = @io.swagger.v3.oas.annotations
            .responses.ApiResponse(responseCode = "200", description = "the bytes", content = @Content(
                    mediaType = "application/octet-stream", schema = @Schema(type = "string", format = "binary"))))
    public Mono<ResponseEntity<Resource>> content(@PathVariable String id, Caller caller) {
        return Blocking.call(() -> {
            OpenAiFiles.FileRecord f = find(caller, id);
            audit.record(caller, "file.content.read", "file", id, f.owner());
            return ResponseEntity.ok().contentType(f.filename().endsWith(".jsonl")
                    ? new MediaType("application", "jsonl", StandardCharsets.UTF_8)
                    : MediaType.APPLICATION_OCTET_STREAM).body((Resource) new FileSystemResource(files.path(f.id())));
        });
    }

    @DeleteMapping("/{id}")
    @Operation(operationId = "deleteFile", summary = "Delete a file")
    public Mono<FileDeleted> delete(@PathVariable String id, Caller caller) {
        return Blocking.call(() -> {
            if (!files.delete(caller.id(), id)) { // an admin reads any file, but deletes only their own
                throw notFound(id);
            }
            audit.record(caller, "file.delete", "file", id, caller.id());
            return new FileDeleted(id, "file", true);
        });
    }

    private OpenAiFiles.FileRecord find(Caller caller, String id) {
        if (id == null || !id.matches("file-[0-9a-f]{32}")) {
            throw notFound(id);
        }
        return (caller.admin() ? files.findAnyOwner(id) : files.find(caller.id(), id)).orElseThrow(() -> notFound(id));
    }

    static ApiException notFound(String id) {
        return new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", "No such File object: " + id, "id",
                "file_not_found");
    }

    static FileObject view(OpenAiFiles.FileRecord f) {
        return new FileObject(f.id(), "file", f.bytes(), f.createdAt().getEpochSecond(), f.filename(), f.purpose(),
                "processed");
    }
}
