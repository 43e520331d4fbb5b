package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.sched.EngineQueue;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The API's wire contract, through the real HTTP stack: each defect found by trying the service as
 * a new user would (issue #20) is a test here. Bodies are sent as raw bytes and responses read as
 * raw bytes, so nothing a client library smooths over is hidden.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class ApiContractIntegrationTests {

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
        r.add("headroom.engine.queue-capacity", () -> "1");
    }

    static final String BASE = "\"model\":\"headroom-passkey\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    @LocalServerPort
    int port;

    @Autowired
    EngineQueue queue;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final JsonMapper JSON = JsonMapper.builder().build();

    record Reply(int status, String body, java.util.Map<String, String> headers) {
        JsonNode json() {
            return JSON.readTree(body);
        }

        String header(String name) {
            return headers.getOrDefault(name.toLowerCase(java.util.Locale.ROOT), "");
        }
    }

    Reply send(String method, String path, String contentType, String body) {
        if (!ServiceTestSupport.validUri(path)) {
            RawHttp.Response raw = RawHttp.send(port, method, path, contentType, body);
            return new Reply(raw.status(), raw.body(), raw.headers());
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofSeconds(60));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
            r.headers().map().forEach((k, v) -> headers.put(k.toLowerCase(java.util.Locale.ROOT), v.getFirst()));
            return new Reply(r.statusCode(), r.body(), headers);
        } catch (Exception e) {
            throw new AssertionError(method + " " + path, e);
        }
    }

    Reply post(String path, String body) {
        return send("POST", path, "application/json", body);
    }

    String session() {
        Reply r = post("/v1/sessions", "{}");
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json().get("id").asString();
    }

    /** A 4xx with the envelope, a message free of Java internals, and the expected param. */
    static JsonNode assertError(Reply r, int status, String param) {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.header("content-type")).startsWith("application/json");
        JsonNode body = r.json();
        assertThat(body.at("/error/message").asString()).as(r.body()).isNotBlank();
        assertThat(body.at("/error/type").asString()).isNotBlank();
        assertThat(body.get("error").has("param")).isTrue();
        assertThat(body.get("error").has("code")).isTrue();
        assertNoInternals(r.body());
        if (param != null) {
            assertThat(body.at("/error/param").asString()).as(r.body()).isEqualTo(param);
        }
        return body;
    }

    /** Words that only a Java stack would put in a message. */
    static final Pattern INTERNALS = Pattern.compile("java\\.|javax\\.|jakarta\\.|io\\.headroom|tools\\.jackson|"
            + "com\\.fasterxml|reactor\\.|org\\.spring|Exception|JsonNode|Mono<|Flux<|\\$[A-Z]|`");

    static void assertNoInternals(String body) {
        Matcher m = INTERNALS.matcher(body);
        assertThat(m.find()).as("a Java internal in: " + body).isFalse();
    }

    @ParameterizedTest(name = "chat completions with {0} is 400 naming {1}")
    @CsvSource(delimiter = '|', value = {
        "\"max_tokens\":2147483648|max_tokens",
        "\"max_tokens\":-2147483649|max_tokens",
        "\"max_completion_tokens\":2147483648|max_completion_tokens",
        "\"top_k\":2147483648|top_k",
        "\"seed\":\"x\"|seed",
        "\"seed\":1e30|seed",
        "\"seed\":9223372036854775808|seed",
        "\"max_tokens\":4.5|max_tokens",
        "\"max_tokens\":1e3|max_tokens",
        "\"stop\":[1]|stop",
        "\"stream\":\"yes\"|stream",
        "\"n\":2|n",
        "\"tools\":[]|tools",
        "\"logprobs\":true|logprobs",
        "\"response_format\":{\"type\":\"json_object\"}|response_format",
        "\"presence_penalty\":\"high\"|presence_penalty",
        "\"presence_penalty\":3|presence_penalty",
        "\"user\":\"u-1\"|user",
        "\"no_such_field\":1|no_such_field",
        "\"temperature\":true|temperature",
        "\"messages\":[{\"role\":\"user\",\"content\":5}]|messages[0].content",
        "\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]|messages[0].role"})
    void badChatCompletionFieldsShouldBe400NamingTheField(String field, String param) {
        String body = field.startsWith("\"messages\"") ? "{\"model\":\"headroom-passkey\"," + field
                + ",\"max_tokens\":4}" : "{" + BASE + ",\"max_tokens\":4," + field + "}";
        if (field.startsWith("\"max_tokens\"")) {
            body = "{" + BASE + "," + field + "}";
        }
        assertError(post("/v1/chat/completions", body), 400, param);
    }

    @ParameterizedTest(name = "turn with {0} is 400 naming {1}")
    @CsvSource(delimiter = '|', value = {
        "\"message\":123|message",
        "\"message\":\"x\",\"stream\":\"yes\"|stream",
        "\"message\":\"x\",\"max_tokens\":4.5|max_tokens",
        "\"message\":\"x\",\"max_tokens\":1e3|max_tokens",
        "\"message\":\"x\",\"stop\":[1]|stop[0]",
        "\"message\":\"x\",\"maxTokens\":4|maxTokens",
        "\"message\":\"x\",\"seed\":1.5|seed",
        "\"message\":\"x\",\"message\":\"y\"|"})
    void laxTurnFieldsShouldBe400NamingTheField(String fields, String param) {
        String id = session();
        assertError(post("/v1/sessions/" + id + "/turns", "{" + fields + "}"), 400, param);
        assertThat(get("/v1/sessions/" + id).json().get("token_count").asInt()).isZero();
    }

    Reply get(String path) {
        return send("GET", path, null, null);
    }

    @Test
    void aRefusedRequestWhoseBodyArrivesLaterShouldStillGetItsAnswer() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("localhost", port)) {
            socket.setSoTimeout(10_000);
            var out = socket.getOutputStream();
            out.write(("POST /v1/sessions/%ZZ/turns HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 16\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Thread.sleep(300); // the body comes in a read of its own, after the answer is written
            out.write("{\"message\": \"x\"}".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(answer).startsWith("HTTP/1.1 400").contains("\"code\":\"invalid_uri\"");
        }
    }

    @Test
    void nulInAnyStoredStringShouldBe400NamingTheFieldBeforeAnyWork() {
        assertError(post("/v1/sessions", "{\"system_prompt\":\"be\\u0000nice\"}"), 400, "system_prompt");
        String id = session();
        assertError(post("/v1/sessions/" + id + "/context", "{\"text\":\"a\\u0000b\"}"), 400, "text");
        assertError(post("/v1/sessions/" + id + "/context", "{\"name\":\"m\\u0000\",\"text\":\"ab\"}"), 400, "name");
        Reply streamed = post("/v1/sessions/" + id + "/turns", "{\"message\":\"what\\u0000\",\"max_tokens\":4}");
        assertError(streamed, 400, "message");
        assertError(post("/v1/chat/completions", "{\"model\":\"headroom-passkey\",\"headroom_session\":\"" + id
                + "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\\u0000\"}],\"max_tokens\":2}"), 400,
                "messages[0].content");
        assertThat(get("/v1/sessions/" + id).json().get("token_count").asInt()).isZero();
        assertThat(get("/v1/sessions/" + id + "/messages").json().get("data").size()).isZero();
    }

    @Test
    void malformedBodiesShouldBeToldInTheClientsTermsNeverInJavaTypes() {
        String id = session();
        String turns = "/v1/sessions/" + id + "/turns";
        assertThat(assertError(post(turns, "[]"), 400, null).at("/error/message").asString())
                .isEqualTo("the request body must be a JSON object");
        assertError(post(turns, ""), 400, null);
        assertError(post(turns, "null"), 400, null);
        assertError(post(turns, "{\"message\": "), 400, null);
        assertError(post(turns, "{\"message\":\"x\"} trailing"), 400, null);
        assertError(post(turns, "{\"message\":{\"nested\":1}}"), 400, "message");
        assertError(send("POST", turns, "text/plain", "{\"message\":\"x\"}"), 415, null);
        assertError(send("POST", "/v1/chat/completions", "text/plain", "{}"), 415, null);
        assertError(send("POST", turns, null, "{\"message\":\"x\"}"), 415, null);
        assertError(post("/v1/sessions", ""), 400, null);
        assertError(post("/v1/sessions", "null"), 400, null);
        assertError(post("/v1/sessions", "{\"sparsity\":\"half\"}"), 400, "sparsity");
        assertError(post("/v1/sessions", "{\"sparsity\":1.5}"), 400, "sparsity");
        assertError(send("PUT", "/v1/sessions", "application/json", "{}"), 405, null);
        assertError(send("DELETE", "/v1/models", null, null), 405, null);
        String deep = "[".repeat(5000) + "]".repeat(5000);
        assertError(post("/v1/chat/completions", "{" + BASE + ",\"stop\":" + deep + "}"), 400, null);
    }

    @Test
    void everyErrorUnderV1ShouldCarryTheEnvelope() {
        assertError(get("/v1/sessions/%ZZ"), 400, null);
        assertError(get("/v1/sessions/" + "a".repeat(5000)), 414, null);
        assertError(get("/v1"), 404, null);
        assertError(get("/v1/"), 404, null);
        assertError(get("/v1/no-such-endpoint"), 404, null);
        assertError(get("/v1/sessions/not-a-uuid"), 404, null);
        assertError(get("/v1/sessions/3fa85f64-5717-4562-b3fc-2c963f66afa6"), 404, null);
        assertError(get("/v1/models/gpt-4"), 404, "model");
    }

    @Test
    void queryParameterErrorsShouldNameTheParameter() {
        JsonNode abc = assertError(get("/v1/sessions?page=abc"), 400, "page");
        assertThat(abc.at("/error/code").asString()).isEqualTo("invalid_type");
        assertThat(abc.at("/error/message").asString()).doesNotContain("body");
        assertError(get("/v1/sessions?page=-1"), 400, "page");
        assertError(get("/v1/sessions?size=0"), 400, "size");
        assertError(get("/v1/sessions?size=201"), 400, "size");
        assertError(get("/v1/sessions?size=99999999999"), 400, "size");
    }

    @Test
    void chatCompletionsShouldMoveTheGenerationMetrics() {
        double before = metric("headroom_tokens_generated_total{api=\"chat_completions\"}");
        Reply r = post("/v1/chat/completions", "{" + BASE + ",\"max_tokens\":3,\"temperature\":0}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        int tokens = r.json().at("/usage/completion_tokens").asInt();
        assertThat(metric("headroom_tokens_generated_total{api=\"chat_completions\"}")).isEqualTo(before + tokens);
        assertThat(metric("headroom_time_to_first_token_seconds_count{api=\"chat_completions\"}")).isPositive();
    }

    double metric(String series) {
        String text = get("/actuator/prometheus").body();
        return text.lines().filter(l -> l.startsWith(series + " ")).findFirst()
                .map(l -> Double.parseDouble(l.substring(series.length() + 1).strip())).orElse(0.0);
    }

    @Test
    void streamsShouldBeFramedWithASpaceAfterTheColonAsOpenAiDoes() {
        Reply chat = post("/v1/chat/completions", "{" + BASE + ",\"max_tokens\":3,\"stream\":true}");
        assertThat(chat.status()).isEqualTo(200);
        assertThat(chat.header("content-type")).startsWith("text/event-stream");
        assertThat(chat.body()).startsWith("data: {").endsWith("data: [DONE]\n\n").doesNotContain("data:{");
        String id = session();
        Reply turn = post("/v1/sessions/" + id + "/turns", "{\"message\":\"x\",\"max_tokens\":3}");
        assertThat(turn.body()).startsWith("event: token\ndata: {\"text\":").contains("\nevent: done\ndata: {")
                .doesNotContain("event:token").doesNotContain("data:{");
    }

    @Test
    void aSecondOperationOnABusySessionShouldBe409AndTheFirstShouldFinish() throws Exception {
        String id = session();
        post("/v1/sessions/" + id + "/context", "{\"text\":\"" + DOCUMENT + "\"}");
        HttpResponse<java.util.stream.Stream<String>> first = http.send(HttpRequest.newBuilder(URI.create(
                "http://localhost:" + port + "/v1/sessions/" + id + "/turns")).header("Content-Type",
                "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"message\":\"linko\","
                        + "\"max_tokens\":400,\"temperature\":1.0,\"seed\":3}")).build(),
                HttpResponse.BodyHandlers.ofLines());
        var lines = first.body().iterator();
        while (lines.hasNext() && !lines.next().equals("event: token")) {
            // until the first turn is generating
        }
        assertError(post("/v1/sessions/" + id + "/turns", "{\"message\":\"" + QUESTION + "\",\"stream\":false}"),
                409, "session_id");
        assertError(post("/v1/sessions/" + id + "/context", "{\"text\":\"more\"}"), 409, "session_id");
        while (lines.hasNext()) {
            lines.next(); // the first turn streams to its end
        }
        JsonNode messages = get("/v1/sessions/" + id + "/messages").json().get("data");
        assertThat(messages.size()).isEqualTo(2); // the first turn only
        assertThat(post("/v1/sessions/" + id + "/turns", "{\"message\":\"x\",\"max_tokens\":2,\"stream\":false}")
                .status()).isEqualTo(200);
    }

    @Test
    void aFullQueueShouldAnswer429BeforeAStreamedChatCompletionSendsAnything() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<Object> running;
        CompletableFuture<Object> waiting;
        try {
            running = queue.submit(() -> {
                started.countDown();
                return await(release);
            });
            assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
            waiting = queue.submit(() -> await(release));
            Reply r = post("/v1/chat/completions", "{" + BASE + ",\"max_tokens\":3,\"stream\":true}");
            assertError(r, 429, null);
            assertThat(Long.parseLong(r.header("Retry-After"))).isPositive();
            String id = session();
            Reply turn = post("/v1/sessions/" + id + "/turns", "{\"message\":\"x\",\"max_tokens\":3}");
            assertError(turn, 429, null);
            // the refused turn left nothing behind: not in the history, not pending
            assertThat(get("/v1/sessions/" + id + "/messages").json().get("data").size()).isZero();
        } finally {
            release.countDown();
        }
        running.get(10, TimeUnit.SECONDS);
        waiting.get(10, TimeUnit.SECONDS);
    }

    private static Object await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return null;
    }

    @Test
    void presenceAndFrequencyPenaltiesShouldBeHonoured() {
        String plain = "{" + BASE.replace("hi", "linko linko linko") + ",\"max_tokens\":24,\"temperature\":0}";
        String penalised = plain.replace("\"temperature\":0", "\"temperature\":0,\"frequency_penalty\":2");
        String a = post("/v1/chat/completions", plain).json().at("/choices/0/message/content").asString();
        String b = post("/v1/chat/completions", penalised).json().at("/choices/0/message/content").asString();
        String c = post("/v1/chat/completions", plain).json().at("/choices/0/message/content").asString();
        assertThat(a).isEqualTo(c); // greedy is deterministic
        assertThat(b).isNotEqualTo(a);
    }
}
