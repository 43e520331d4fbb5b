package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Every operation in the service's OpenAPI document, fuzzed from the document itself: wrong JSON
 * types, missing and extra fields, out-of-range numbers, huge and NUL-bearing strings, invalid path
 * ids and query values, malformed and oversized bodies, deep nesting, wrong content types and
 * methods. Every answer must be a 2xx in the documented shape or a 4xx with the error envelope:
 * never a 5xx, never a Java type name. An endpoint added to the API is fuzzed without anyone
 * writing a test for it. Then a client driven by the document alone walks through a session.
 *
 * <p>Random choices use {@code -Dheadroom.test.seed} (printed); the counts are printed too.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class ApiFuzzIntegrationTests {

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
        r.add("headroom.sessions.max-append-size", () -> "64KB");
    }

    static final long SEED = Long.getLong("headroom.test.seed", 20261206L);
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** Statuses the transport answers for any path, outside what an operation documents. */
    static final Set<Integer> TRANSPORT = Set.of(405, 414, 431);
    static final Pattern INTERNALS = ApiContractIntegrationTests.INTERNALS;

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    OpenApiDocument doc;
    final Map<Integer, Integer> statuses = new TreeMap<>();
    final List<String> failures = new ArrayList<>();
    int requests;

    @BeforeEach
    void document() {
        doc = new OpenApiDocument(JSON.readTree(send("GET", "/v3/api-docs", null, null).body()));
    }

    /** An answer: status, the content type, the body. */
    record Answer(int statusCode, String contentType, String body) {
    }

    Answer send(String method, String path, String contentType, String body) {
        if (!ServiceTestSupport.validUri(path)) {
            RawHttp.Response raw = RawHttp.send(port, method, path, contentType, body);
            return new Answer(raw.status(), raw.headers().getOrDefault("content-type", ""), raw.body());
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofSeconds(120));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r.headers().firstValue("content-type").orElse(""), r.body());
        } catch (Exception e) {
            throw new AssertionError(method + " " + path, e);
        }
    }

    /** Sends one fuzzed request and checks the answer against the rules above. */
    void probe(OpenApiDocument.Operation op, String method, String path, String contentType, String body,
            String what) {
        Answer r = send(method, path, contentType, body);
        requests++;
        statuses.merge(r.statusCode(), 1, Integer::sum);
        String label = op.id() + " " + what + " -> " + r.statusCode() + " " + abbreviate(r.body());
        if (r.statusCode() >= 500) {
            failures.add("5xx: " + label);
            return;
        }
        if (INTERNALS.matcher(r.body()).find()) {
            failures.add("Java internals: " + label);
        }
        if (!op.documents(r.statusCode()) && !TRANSPORT.contains(r.statusCode()) && method.equals(op.method())) {
            failures.add("undocumented status: " + label);
        }
        String type = r.contentType();
        if (r.statusCode() >= 400) {
            try {
                JsonNode e = JSON.readTree(r.body());
                List<String> errs = doc.validate(e, F.objectNode().put("$ref", "#/components/schemas/ErrorEnvelope"));
                if (!errs.isEmpty() || e.at("/error/message").asString("").isBlank()) {
                    failures.add("not the envelope " + errs + ": " + label);
                }
            } catch (RuntimeException ex) {
                failures.add("not JSON: " + label);
            }
        } else if (type.startsWith("application/json") && method.equals(op.method())) {
            JsonNode schema = op.responseSchema(r.statusCode(), "application/json");
            if (schema == null) {
                failures.add("no documented schema: " + label);
            } else {
                List<String> errs = doc.validate(JSON.readTree(r.body()), schema);
                if (!errs.isEmpty()) {
                    failures.add("not the documented shape " + errs + ": " + label);
                }
            }
        } else if (type.startsWith("text/event-stream") && !r.body().startsWith("data: ")
                && !r.body().startsWith("event: ")) {
            failures.add("event stream not framed as documented: " + label);
        }
    }

    static String abbreviate(String s) {
        return s.length() > 300 ? s.substring(0, 300) + "…" : s;
    }

    /** A session of the caller's own, with a document, so path ids can point at a real object. */
    String session() {
        Answer r = send("POST", "/v1/sessions", "application/json", "{}");
        String id = JSON.readTree(r.body()).get("id").asString();
        send("POST", "/v1/sessions/" + id + "/context", "application/json", "{\"text\":\"lindor muzo a pawimu\"}");
        return id;
    }

    static final List<String> BAD_IDS = List.of("%ZZ", "%00", "not-a-uuid", "..", "%2e%2e%2f", "%F0%9F%98%80",
            "a".repeat(5000), "3fa85f64-5717-4562-b3fc-2c963f66afa6", "00000000-0000-0000-0000-000000000000", "%20");
    static final List<String> BAD_QUERY = List.of("abc", "-1", "1e3", "1.5", "99999999999", "", "%00", "%ZZ",
            "9".repeat(400));

    @Test
    void everyOperationShouldAnswerEveryBadInputWithADocumented4xxOrA2xx() {
        System.out.println("[fuzz] seed " + SEED + " (-Dheadroom.test.seed)");
        SplittableRandom random = new SplittableRandom(SEED);
        Map<String, Set<String>> methodsByPath = new TreeMap<>();
        for (OpenApiDocument.Operation op : doc.operations()) {
            methodsByPath.computeIfAbsent(op.path(), p -> new java.util.TreeSet<>()).add(op.method());
        }
        for (OpenApiDocument.Operation op : doc.operations()) {
            if (!op.path().startsWith("/v1")) {
                continue;
            }
            String own = session();
            String path = op.path().replace("{id}", op.path().startsWith("/v1/models") ? "headroom-passkey" : own)
                    .replaceAll("\\{[a-z_]+\\}", UUID.randomUUID().toString());
            JsonNode bodySchema = op.bodySchema();
            String base = bodySchema == null ? null : doc.sample(bodySchema).toString();
            // the valid request itself is answered as documented
            probe(op, op.method(), path, base == null ? null : "application/json", base, "sample " + base);
            for (String bad : BAD_IDS) {
                if (op.path().contains("{")) {
                    probe(op, op.method(), op.path().replaceAll("\\{[a-z_]+\\}", java.util.regex.Matcher
                            .quoteReplacement(bad)), base == null ? null : "application/json", base,
                            "path id " + abbreviate(bad));
                }
            }
            for (JsonNode q : op.parameters("query")) {
                for (String bad : BAD_QUERY) {
                    probe(op, op.method(), path + "?" + q.get("name").asString() + "=" + bad, null, null,
                            "query " + q.get("name").asString() + "=" + abbreviate(bad));
                }
            }
            for (String other : List.of("GET", "POST", "PUT", "PATCH", "DELETE")) {
                if (!methodsByPath.get(op.path()).contains(other)) {
                    probe(op, other, path, "application/json", "{}", "method " + other);
                }
            }
            if (bodySchema != null) {
                fuzzBody(op, path, (ObjectNode) doc.sample(bodySchema), doc.resolve(bodySchema), random);
            }
        }
        System.out.println("[fuzz] " + requests + " requests over " + doc.operations().size()
                + " operations; statuses " + statuses);
        assertThat(failures).as(String.join("\n", failures)).isEmpty();
        assertThat(statuses.keySet()).allMatch(s -> s < 500);
    }

    /** Mutations of a valid body, field by field, then of the body as a whole. */
    void fuzzBody(OpenApiDocument.Operation op, String path, ObjectNode base, JsonNode schema,
            SplittableRandom random) {
        List<JsonNode> wrongValues = List.of(F.stringNode("x"), F.numberNode(1), F.numberNode(1.5),
                F.booleanNode(true), F.arrayNode(), F.objectNode(), F.nullNode(), F.numberNode(2147483648L),
                F.numberNode(-2147483649L), F.numberNode(new java.math.BigInteger("9223372036854775808")),
                F.numberNode(1e30), F.numberNode(-1), F.numberNode(0), F.stringNode("a\u0000b"),
                F.stringNode("l".repeat(70_000)), F.stringNode(""), F.stringNode(" "),
                F.arrayNode().add(1), F.arrayNode().add("a\u0000"), F.stringNode("\uD83D\uDE00 ünïcødé"));
        for (Map.Entry<String, JsonNode> p : schema.path("properties").properties()) {
            String field = p.getKey();
            for (JsonNode v : wrongValues) {
                ObjectNode body = base.deepCopy();
                body.set(field, v);
                limitWork(body);
                probe(op, op.method(), path, "application/json", body.toString(),
                        field + "=" + abbreviate(v.toString()));
            }
            if (base.has(field)) {
                ObjectNode missing = base.deepCopy();
                missing.remove(field);
                limitWork(missing);
                probe(op, op.method(), path, "application/json", missing.toString(), "without " + field);
            }
        }
        ObjectNode extra = base.deepCopy();
        extra.put("zz_unknown_" + random.nextInt(1000), 1);
        probe(op, op.method(), path, "application/json", extra.toString(), "extra field");
        String deep = "{\"a\":".repeat(3000) + "1" + "}".repeat(3000);
        List<String> wholeBodies = List.of("", "null", "[]", "1", "\"s\"", "{", "{}}", "{\"a\":1,\"a\":2}",
                base + " trailing", deep, "[" + base + "]", "\u00ff\u00fe\u0000", "{\"x\":\"" + "y".repeat(6_000_000)
                        + "\"}");
        for (String b : wholeBodies) {
            probe(op, op.method(), path, "application/json", b, "body " + abbreviate(b));
        }
        for (String ct : List.of("text/plain", "application/xml", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "application/json; charset=latin-9")) {
            probe(op, op.method(), path, ct, base.toString(), "content type " + ct);
        }
        probe(op, op.method(), path, null, base.toString(), "no content type");
    }

    /** Keeps a body that is accepted cheap to serve: short answers, no stream (validated as JSON). */
    static void limitWork(ObjectNode body) {
        for (String f : List.of("max_tokens", "max_completion_tokens")) {
            JsonNode v = body.get(f);
            if (v != null && v.isIntegralNumber() && (!v.canConvertToLong() || v.asLong() > 4)) {
                body.put(f, 1);
            }
        }
    }

    /**
     * A client that knows only the document: every call is found by operation id, its body is
     * checked against the documented request schema before it is sent, and every answer against the
     * documented response schema.
     */
    JsonNode call(String operationId, String id, JsonNode body, int expected) {
        OpenApiDocument.Operation op = doc.operation(operationId);
        if (body != null) {
            assertThat(doc.validate(body, op.bodySchema())).as(operationId + " request").isEmpty();
        }
        String path = op.path().replace("{id}", id == null ? "" : id);
        Answer r = send(op.method(), path, body == null ? null : "application/json",
                body == null ? null : body.toString());
        assertThat(r.statusCode()).as(operationId + ": " + r.body()).isEqualTo(expected);
        assertThat(op.documents(expected)).as(operationId + " documents " + expected).isTrue();
        if (expected == 204) {
            return null;
        }
        JsonNode schema = expected >= 400 ? F.objectNode().put("$ref", "#/components/schemas/ErrorEnvelope")
                : op.responseSchema(expected, "application/json");
        JsonNode json = JSON.readTree(r.body());
        assertThat(doc.validate(json, schema)).as(operationId + " response " + r.body()).isEmpty();
        return json;
    }

    @Test
    void aClientDrivenByTheDocumentAloneShouldWalkThroughASession() {
        JsonNode created = call("createSession", null, F.objectNode().put("sparsity", 0.5), 201);
        String id = created.get("id").asString();
        call("appendContext", id, F.objectNode().put("name", "memo").put("text", DOCUMENT), 200);
        JsonNode turn = call("createTurn", id, F.objectNode().put("message", QUESTION).put("max_tokens", 8)
                .put("stream", false), 200);
        assertThat(turn.at("/message/content").asString().strip()).startsWith("48213");
        assertThat(call("getSession", id, null, 200).get("token_count").asInt()).isPositive();
        assertThat(call("listMessages", id, null, 200).get("data").size()).isEqualTo(2);
        assertThat(call("listSessions", null, null, 200).get("data").toString()).contains(id);
        ObjectNode chat = F.objectNode().put("model", "headroom-passkey").put("headroom_session", id)
                .put("max_tokens", 8).put("temperature", 0);
        chat.putArray("messages").addObject().put("role", "user").put("content", QUESTION);
        JsonNode completion = call("createChatCompletion", null, chat, 200);
        assertThat(completion.at("/choices/0/message/content").asString().strip()).startsWith("48213");
        assertThat(call("listModels", null, null, 200).at("/data/0/id").asString()).isEqualTo("headroom-passkey");
        call("getModel", "headroom-passkey", null, 200);
        call("deleteSession", id, null, 204);
        call("getSession", id, null, 404);
        call("getSession", UUID.randomUUID().toString(), null, 404);
    }
}
