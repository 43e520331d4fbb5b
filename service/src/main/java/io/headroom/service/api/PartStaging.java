package io.headroom.service.api;

import io.headroom.jobs.corpus.BlobStore;
import java.io.IOException;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.codec.multipart.PartEvent;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * One uploaded multipart part streamed to disk as it arrives (never held whole in memory): each
 * buffer written to the {@link BlobStore.Writer} off the event loop and released, the file finished
 * (hashed, counted, under the writer's limit) at the part's end, and deleted when the upload fails
 * or the client goes away.
 */
public final class PartStaging {

    private PartStaging() {
    }

    /** Streams one part's {@code events} into {@code writer}; the staged file when the part is whole. */
    public static Mono<BlobStore.Staged> stage(Flux<PartEvent> events, BlobStore.Writer writer) {
        return events.concatMap(e -> Mono.fromCallable(() -> {
            write(writer, e.content());
            return true;
        }).subscribeOn(Schedulers.boundedElastic()))
                .then(Mono.fromCallable(writer::finish).subscribeOn(Schedulers.boundedElastic()))
                .doOnError(e -> writer.abort())
                .doOnCancel(writer::abort);
    }

    private static void write(BlobStore.Writer writer, DataBuffer buffer) throws IOException {
        try (DataBuffer.ByteBufferIterator it = buffer.readableByteBuffers()) {
            while (it.hasNext()) {
                writer.write(it.next());
            }
        } finally {
            DataBufferUtils.release(buffer);
        }
    }
}
