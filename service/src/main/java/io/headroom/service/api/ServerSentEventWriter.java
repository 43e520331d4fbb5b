package io.headroom.service.api;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.reactivestreams.Publisher;
import org.springframework.core.ResolvableType;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.MediaType;
import org.springframework.http.ReactiveHttpOutputMessage;
import org.springframework.http.codec.HttpMessageWriter;
import org.springframework.http.codec.ServerSentEvent;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes {@code ServerSentEvent<String>} streams the way OpenAI's API frames them: {@code event: },
 * {@code data: } and {@code id: } with a space after the colon (the WHATWG event-stream format
 * allows both; Spring's own writer omits the space, and integrations that match {@code "data: "}
 * literally then see nothing, not even {@code data: [DONE]}), one flush per event, UTF-8.
 *
 * <p>Registered as a typed writer, so it is chosen before Spring's default event writer. It takes
 * every element type for {@code text/event-stream} (a handler returning {@code ResponseEntity<?>}
 * is matched by media type alone): a {@link ServerSentEvent} is framed field by field, anything
 * else becomes one {@code data: } event of its JSON.
 */
public final class ServerSentEventWriter implements HttpMessageWriter<Object> {

    private static final MediaType EVENT_STREAM = new MediaType(MediaType.TEXT_EVENT_STREAM, StandardCharsets.UTF_8);

    @Override
    public List<MediaType> getWritableMediaTypes() {
        return List.of(MediaType.TEXT_EVENT_STREAM);
    }

    private final JsonMapper json;

    public ServerSentEventWriter(JsonMapper json) {
        this.json = json;
    }

    @Override
    public boolean canWrite(ResolvableType elementType, @Nullable MediaType mediaType) {
        return (mediaType != null && MediaType.TEXT_EVENT_STREAM.includes(mediaType))
                || ServerSentEvent.class.isAssignableFrom(elementType.toClass());
    }

    @Override
    public Mono<Void> write(Publisher<?> events, ResolvableType elementType, @Nullable MediaType mediaType,
            ReactiveHttpOutputMessage message, Map<String, Object> hints) {
        message.getHeaders().setContentType(EVENT_STREAM);
        return message.writeAndFlushWith(Flux.from(events).map(e -> {
            ServerSentEvent<?> event = e instanceof ServerSentEvent<?> sse ? sse
                    : ServerSentEvent.builder(e instanceof CharSequence cs ? cs.toString() : json.writeValueAsString(e))
                            .build();
            byte[] bytes = frame(event).getBytes(StandardCharsets.UTF_8);
            DataBuffer buffer = message.bufferFactory().wrap(bytes);
            return Mono.just(buffer);
        }));
    }

    /** One event as text, ending with the blank line that dispatches it. */
    static String frame(ServerSentEvent<?> e) {
        StringBuilder sb = new StringBuilder();
        if (e.comment() != null) {
            field(sb, "", e.comment());
        }
        if (e.id() != null) {
            field(sb, "id", e.id());
        }
        if (e.event() != null) {
            field(sb, "event", e.event());
        }
        if (e.retry() != null) {
            field(sb, "retry", Long.toString(e.retry().toMillis()));
        }
        if (e.data() != null) {
            field(sb, "data", e.data().toString());
        }
        return sb.append('\n').toString();
    }

    /** A field per line of {@code value}: a line break inside a value would otherwise end the field. */
    private static void field(StringBuilder sb, String name, String value) {
        for (String line : value.split("\r\n|\r|\n", -1)) {
            sb.append(name).append(": ").append(line).append('\n');
        }
    }
}
