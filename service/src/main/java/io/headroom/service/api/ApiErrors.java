package io.headroom.service.api;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.jobs.corpus.CorpusNotFoundException;
import io.headroom.jobs.corpus.UploadRefusedException;
import io.headroom.service.apikeys.ApiKeyStore;
import io.headroom.sessions.ContextLimitException;
import io.headroom.sessions.QuotaExceededException;
import io.headroom.sessions.SessionBusyException;
import io.headroom.sessions.store.SessionNotFoundException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.springframework.beans.TypeMismatchException;
import org.springframework.core.MethodParameter;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.server.MethodNotAllowedException;
import org.springframework.web.server.MissingRequestValueException;
import org.springframework.web.server.NotAcceptableStatusException;
import org.springframework.web.server.PayloadTooLargeException;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebInputException;
import org.springframework.web.server.UnsupportedMediaTypeStatusException;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.InputCoercionException;
import tools.jackson.core.exc.StreamConstraintsException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.exc.InvalidFormatException;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.exc.UnrecognizedPropertyException;

/**
 * Maps every failure to an HTTP status and the OpenAI error envelope
 * {@code {"error":{"message","type","param","code"}}}. Messages speak the client's terms (the field
 * as it is spelled in JSON, the JSON type expected, the limit); they never carry a Java type, a
 * stack trace or a framework's internal wording. Internal failures say only that.
 *
 * <p>Codes used: {@code invalid_json}, {@code invalid_type}, {@code unknown_parameter},
 * {@code unsupported_parameter}, {@code missing_required_parameter}, {@code integer_out_of_range},
 * {@code invalid_value}, {@code invalid_uri}, {@code request_too_large}, {@code unsupported_media_type},
 * {@code not_acceptable}, {@code method_not_allowed}, {@code not_found}, {@code session_not_found},
 * {@code model_not_found}, {@code session_busy}, {@code context_length_exceeded},
 * {@code engine_queue_full}, {@code quota_exceeded} (param: which quota), {@code api_key_limit_reached};
 * authentication: {@code missing_credentials}, {@code invalid_token}, {@code invalid_api_key} (401),
 * {@code permission_denied}, {@code csrf_token_invalid} (403).
 */
public final class ApiErrors {

    /** A Java-looking qualified name, e.g. {@code io.headroom.X} or {@code java.lang.String}. */
    private static final Pattern QUALIFIED_NAME = Pattern.compile("\\b[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+\\.[A-Z][\\w$]*");

    private ApiErrors() {
    }

    /** The status and envelope for {@code error}. */
    public static ApiException classify(Throwable error) {
        Throwable e = unwrap(error);
        return switch (e) {
            case ApiException a -> a;
            case SessionNotFoundException n -> new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error",
                    n.getMessage(), "session_id", "session_not_found");
            case SessionBusyException b -> new ApiException(HttpStatus.CONFLICT, "invalid_request_error",
                    b.getMessage(), "session_id", "session_busy");
            case ContextLimitException c -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    c.getMessage(), "messages", "context_length_exceeded");
            case QuotaExceededException q -> new ApiException(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error",
                    q.getMessage(), q.quota(), "quota_exceeded").retryAfter(q.retryAfter());
            case org.springframework.security.authentication.AuthenticationServiceException a -> new ApiException(
                    HttpStatus.SERVICE_UNAVAILABLE, "server_error", "credentials could not be checked now (the "
                    + "identity provider did not answer); try again shortly", null, "identity_provider_unavailable")
                    .retryAfter(java.time.Duration.ofSeconds(5));
            case CorpusNotFoundException c -> new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error",
                    c.getMessage(), "corpus_id", "corpus_not_found");
            case UploadRefusedException u -> upload(u);
            case ApiKeyStore.KeyLimitException k -> new ApiException(HttpStatus.CONFLICT, "invalid_request_error",
                    k.getMessage(), null, "api_key_limit_reached");
            case EngineQueue.QueueFullException q -> new ApiException(HttpStatus.TOO_MANY_REQUESTS,
                    "rate_limit_error", q.getMessage(), null, "engine_queue_full")
                    .retryAfter(q.retryAfter());
            case DataBufferLimitException d -> tooLarge();
            case PayloadTooLargeException p -> tooLarge();
            case UnsupportedMediaTypeStatusException u -> new ApiException(HttpStatus.UNSUPPORTED_MEDIA_TYPE,
                    "invalid_request_error", "Content-Type " + (u.getContentType() == null ? "(none)"
                            : u.getContentType().toString()) + " is not accepted here; send application/json",
                    null, "unsupported_media_type");
            case NotAcceptableStatusException n -> new ApiException(HttpStatus.NOT_ACCEPTABLE,
                    "invalid_request_error", "this endpoint answers only " + n.getSupportedMediaTypes().stream()
                            .map(Object::toString).collect(Collectors.joining(" or ")) + "; change the Accept header",
                    null, "not_acceptable");
            case MethodNotAllowedException m -> new ApiException(HttpStatus.METHOD_NOT_ALLOWED,
                    "invalid_request_error", "method " + m.getHttpMethod() + " is not allowed here; allowed: "
                            + methods(m.getSupportedMethods()), null, "method_not_allowed");
            case ServerWebInputException w -> input(w);
            case ResponseStatusException r -> byStatus(HttpStatus.valueOf(r.getStatusCode().value()));
            case IllegalArgumentException i -> ApiException.invalid(clientTerms(i.getMessage()), null);
            case ModelFormatException m -> ApiException.invalid(clientTerms(m.getMessage()), null);
            default -> new ApiException(HttpStatus.INTERNAL_SERVER_ERROR, "server_error",
                    "internal error while handling the request", null, null);
        };
    }

    /** The envelope as a map ready for JSON. */
    public static Map<String, Object> envelope(ApiException a) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", a.getMessage());
        error.put("type", a.type());
        error.put("param", a.param());
        error.put("code", a.code());
        return Map.of("error", error);
    }

    /** An upload refused: 413 too large, 415 a type Headroom does not read, 409 a path taken, else 400. */
    private static ApiException upload(UploadRefusedException u) {
        HttpStatus status = switch (u.kind()) {
            case TOO_LARGE -> HttpStatus.PAYLOAD_TOO_LARGE;
            case UNSUPPORTED_TYPE -> HttpStatus.UNSUPPORTED_MEDIA_TYPE;
            case CONFLICT -> HttpStatus.CONFLICT;
            case INVALID -> HttpStatus.BAD_REQUEST;
        };
        String code = switch (u.kind()) {
            case TOO_LARGE -> "upload_too_large";
            case UNSUPPORTED_TYPE -> "unsupported_file_type";
            case CONFLICT -> "file_exists";
            case INVALID -> "invalid_upload";
        };
        return new ApiException(status, "invalid_request_error", u.getMessage(), u.limit(), code);
    }

    private static ApiException tooLarge() {
        return new ApiException(HttpStatus.PAYLOAD_TOO_LARGE, "invalid_request_error",
                "the request body is larger than this service accepts", null, "request_too_large");
    }

    /** Statuses raised by the framework without a cause worth telling. */
    private static ApiException byStatus(HttpStatus status) {
        if (status == HttpStatus.NOT_FOUND) {
            return new ApiException(status, "invalid_request_error", "no such endpoint", null, "not_found");
        }
        return new ApiException(status, status.is4xxClientError() ? "invalid_request_error" : "server_error",
                status.getReasonPhrase(), null, null);
    }

    private static String methods(Set<HttpMethod> methods) {
        return methods.stream().map(HttpMethod::name).sorted().collect(Collectors.joining(", "));
    }

    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** A body that could not be read, or a path or query value of the wrong type. */
    private static ApiException input(ServerWebInputException w) {
        JacksonException json = cause(w, JacksonException.class);
        if (json != null) {
            return body(json);
        }
        if (cause(w, DataBufferLimitException.class) != null) {
            return tooLarge();
        }
        MethodParameter parameter = w.getMethodParameter();
        String name = parameter == null ? null : parameterName(parameter);
        String where = parameter != null && parameter.hasParameterAnnotation(PathVariable.class) ? "path parameter"
                : "query parameter";
        if (w instanceof MissingRequestValueException m) {
            return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    where + " '" + m.getName() + "' is required", m.getName(), "missing_required_parameter");
        }
        TypeMismatchException mismatch = cause(w, TypeMismatchException.class);
        if (mismatch != null && name != null) {
            return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", where + " '" + name
                    + "' must be " + article(jsonType(mismatch.getRequiredType())), name, "invalid_type");
        }
        if (parameter != null && parameter.getParameterIndex() >= 0 && (name == null || isBody(parameter))) {
            return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    "a request body is required: send a JSON object", null, "invalid_json");
        }
        return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", "the request is not valid", name,
                null);
    }

    private static boolean isBody(MethodParameter p) {
        return p.hasParameterAnnotation(org.springframework.web.bind.annotation.RequestBody.class);
    }

    private static String parameterName(MethodParameter p) {
        var query = p.getParameterAnnotation(org.springframework.web.bind.annotation.RequestParam.class);
        if (query != null && !query.name().isEmpty()) {
            return query.name();
        }
        var path = p.getParameterAnnotation(PathVariable.class);
        if (path != null && !path.name().isEmpty()) {
            return path.name();
        }
        return p.getParameterName();
    }

    /** A JSON body that failed to read: the field by its JSON path, the JSON type expected. */
    static ApiException body(JacksonException e) {
        String field = path(e.getPath());
        String subject = field == null ? "the request body" : "'" + field + "'";
        return switch (e) {
            case UnrecognizedPropertyException u when unsupported(u) -> new ApiException(HttpStatus.BAD_REQUEST,
                    "invalid_request_error", "'" + field + "' is not supported by Headroom", field,
                    "unsupported_parameter");
            case UnrecognizedPropertyException u -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    "unrecognized request argument supplied: '" + field + "'" + known(u.getKnownPropertyIds()),
                    field, "unknown_parameter");
            case InvalidFormatException f when ApiCodecConfiguration.NUL_MESSAGE.equals(f.getOriginalMessage()) ->
                    new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", subject + " "
                            + ApiCodecConfiguration.NUL_MESSAGE, field, "invalid_value");
            case InputCoercionException c -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    subject + " is out of range for " + range(c.getTargetType()), field, "integer_out_of_range");
            case MismatchedInputException m when m.getTargetType() != null && field == null
                    && !isScalar(m.getTargetType()) -> new ApiException(HttpStatus.BAD_REQUEST,
                    "invalid_request_error", "the request body must be a JSON object", null, "invalid_type");
            case MismatchedInputException m when m.getTargetType() != null -> new ApiException(HttpStatus.BAD_REQUEST,
                    "invalid_request_error", subject + " must be " + article(jsonType(m.getTargetType())), field,
                    "invalid_type");
            case StreamConstraintsException c -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    "the request body is nested or sized beyond this service's JSON limits", null, "invalid_json");
            case StreamReadException r -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    "the request body is not valid JSON: " + clientTerms(firstLine(r.getOriginalMessage())), null,
                    "invalid_json");
            case MismatchedInputException m -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    field == null ? "the request body must be a JSON object" : subject + " has the wrong type",
                    field, field == null ? "invalid_json" : "invalid_type");
            default -> new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error",
                    subject + " is not valid", field, "invalid_value");
        };
    }

    private static boolean unsupported(UnrecognizedPropertyException u) {
        Class<?> type = u.getReferringClass();
        UnsupportedFields fields = type == null ? null : type.getAnnotation(UnsupportedFields.class);
        return fields != null && List.of(fields.value()).contains(u.getPropertyName());
    }

    private static String known(Collection<Object> ids) {
        if (ids == null || ids.isEmpty()) {
            return "";
        }
        return "; accepted here: " + ids.stream().map(Object::toString).sorted().collect(Collectors.joining(", "));
    }

    private static String path(List<JacksonException.Reference> refs) {
        if (refs == null || refs.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (JacksonException.Reference r : refs) {
            if (r.getPropertyName() != null) {
                if (!sb.isEmpty()) {
                    sb.append('.');
                }
                sb.append(r.getPropertyName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.isEmpty() ? null : sb.toString();
    }

    private static boolean isScalar(Class<?> type) {
        return !jsonType(type).equals("object");
    }

    /** The JSON type a Java target type reads from. */
    static String jsonType(Class<?> type) {
        if (type == null) {
            return "value";
        }
        if (type == String.class || CharSequence.class.isAssignableFrom(type) || type == java.util.UUID.class) {
            return "string";
        }
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class
                || type == Short.class || type == short.class || type == java.math.BigInteger.class) {
            return "integer";
        }
        if (Number.class.isAssignableFrom(type) || type == float.class || type == double.class) {
            return "number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "boolean";
        }
        if (type.isArray() || Collection.class.isAssignableFrom(type)) {
            return "array";
        }
        return "object";
    }

    private static String article(String jsonType) {
        return switch (jsonType) {
            case "integer", "array", "object" -> "an " + jsonType;
            case "value" -> "a valid value";
            default -> "a " + jsonType;
        };
    }

    private static String range(Class<?> type) {
        if (type == Long.class || type == long.class) {
            return "a 64-bit integer";
        }
        return "a 32-bit integer";
    }

    private static String firstLine(String m) {
        if (m == null) {
            return "unreadable input";
        }
        int cut = m.indexOf(" at [Source");
        String s = cut > 0 ? m.substring(0, cut) : m;
        return s.lines().findFirst().orElse("unreadable input").strip();
    }

    /** Removes anything that reads like a Java type name from a message meant for a client. */
    public static String clientTerms(String message) {
        if (message == null || message.isBlank()) {
            return "the request is not valid";
        }
        return QUALIFIED_NAME.matcher(message.replace("`", "")).replaceAll("value");
    }

    private static <T extends Throwable> T cause(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }
}
