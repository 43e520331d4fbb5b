package io.headroom.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.sched.EngineQueue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.reactive.function.client.WebClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Many users at once through the real HTTP stack: {@value #SESSIONS} sessions, each with its own
 * document and questions, run concurrently must give every answer exactly as when run alone, lose
 * no message, and see no error other than the documented 429 (retried after its Retry-After). Then
 * {@value #ABANDONED} streams are abandoned after their first token: the service must then answer
 * a fresh request within 5 s with an empty queue, and keep every abandoned turn as a cancelled
 * answer. Counts are bounded for the CI machine (2 cores); latencies are printed.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class LoadIntegrationTests {

    static final int SESSIONS = Integer.getInteger("headroom.test.load-sessions", 64);
    static final int ABANDONED = Integer.getInteger("headroom.test.abandoned-streams", 100);

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
    }

    @LocalServerPort
    int port;

    @Autowired
    EngineQueue queue;

    static final JsonMapper JSON = JsonMapper.builder().build();
    final AtomicInteger refused = new AtomicInteger();
    final List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
    /** Model time of each turn (prefill + decode, from the answer's timing), for the overhead figure. */
    final List<Long> modelTimes = Collections.synchronizedList(new ArrayList<>());

    WebClient client() {
        return WebClient.builder().baseUrl("http://localhost:" + port)
                .codecs(c -> c.defaultCodecs().maxInMemorySize(1 << 20)).build();
    }

    /** Posts, retrying 429s after their Retry-After; anything else but 2xx fails the test. */
    JsonNode post(WebClient client, String path, String body) {
        for (int attempt = 0; attempt < 200; attempt++) {
            long t0 = System.nanoTime();
            ResponseEntity<String> r = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                    .exchangeToMono(resp -> resp.toEntity(String.class)).block(Duration.ofSeconds(120));
            HttpStatusCode status = r.getStatusCode();
            if (status.value() == 429) {
                refused.incrementAndGet();
                long after = Long.parseLong(r.getHeaders().getFirst("Retry-After"));
                assertThat(after).isBetween(1L, 60L);
                sleep(after * 1000);
                continue;
            }
            assertThat(status.is2xxSuccessful()).as(path + " " + body + " -> " + status + " " + r.getBody()).isTrue();
            JsonNode json = JSON.readTree(r.getBody());
            if (path.endsWith("/turns")) {
                latencies.add(System.nanoTime() - t0);
                modelTimes.add((long) ((json.at("/timing/prefill_ms").asDouble() + json.at("/timing/decode_ms")
                        .asDouble()) * 1e6));
            }
            return json;
        }
        throw new AssertionError("still refused after 200 attempts: " + path);
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** One user's conversation: their own document and two questions; returns the two answers. */
    List<String> conversation(WebClient client, int user) {
        int code = 10000 + user * 7919 % 89999;
        String doc = "lindor muzo a pawimu wipako. the secret code of blue is " + code + ". sazofu vomolin elko "
                + "dormuba hemtenpa wigarzo wifu the lumo mupa salinne furiel user " + user + ".";
        String id = post(client, "/v1/sessions", user % 2 == 0 ? "{\"sparsity\":0.5}" : "{}").get("id").asString();
        post(client, "/v1/sessions/" + id + "/context", "{\"text\":\"" + doc + "\"}");
        List<String> answers = new ArrayList<>();
        answers.add(post(client, "/v1/sessions/" + id + "/turns", "{\"message\":\"what is the secret code of blue? "
                + "the secret code of blue is\",\"max_tokens\":8,\"stream\":false}").at("/message/content").asString());
        answers.add(post(client, "/v1/sessions/" + id + "/turns", "{\"message\":\"and again: the secret code of blue "
                + "is\",\"max_tokens\":8,\"stream\":false}").at("/message/content").asString());
        JsonNode messages = JSON.readTree(client.get().uri("/v1/sessions/" + id + "/messages").retrieve()
                .bodyToMono(String.class).block(Duration.ofSeconds(30))).get("data");
        assertThat(messages.size()).as("messages of user " + user).isEqualTo(4);
        assertThat(messages.get(3).get("content").asString()).isEqualTo(answers.get(1));
        answers.add(Integer.toString(code));
        return answers;
    }

    @Test
    void concurrentSessionsShouldEachAnswerAsTheyDoAloneWithNoErrorButDocumented429s() throws Exception {
        WebClient client = client();
        Map<Integer, List<String>> solo = new ConcurrentHashMap<>();
        long soloStart = System.nanoTime();
        for (int u = 0; u < SESSIONS; u++) {
            solo.put(u, conversation(client, u));
        }
        double soloSeconds = (System.nanoTime() - soloStart) / 1e9;
        List<Long> soloLatencies = new ArrayList<>(latencies);
        List<Long> soloModel = new ArrayList<>(modelTimes);
        latencies.clear();
        int correct = 0;
        for (List<String> a : solo.values()) {
            correct += a.get(0).strip().startsWith(a.get(2)) ? 1 : 0;
        }

        Map<Integer, List<String>> together = new ConcurrentHashMap<>();
        long start = System.nanoTime();
        try (ExecutorService users = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int u = 0; u < SESSIONS; u++) {
                int user = u;
                all.add(users.submit(() -> together.put(user, conversation(client, user))));
            }
            for (Future<?> f : all) {
                f.get(10, TimeUnit.MINUTES);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("[load] %d sessions: alone %.1f s (turn p50 %.0f ms, p95 %.0f ms, model p50 %.0f ms), "
                + "together %.1f s (turn p50 %.0f ms, p95 %.0f ms incl. retries), %d documented 429s retried, "
                + "passkey correct %d/%d%n", SESSIONS, soloSeconds, pct(soloLatencies, 50), pct(soloLatencies, 95),
                pct(soloModel, 50), seconds, pct(latencies, 50), pct(latencies, 95), refused.get(), correct, SESSIONS);
        for (int u = 0; u < SESSIONS; u++) {
            assertThat(together.get(u)).as("user " + u + "'s answers together vs alone").isEqualTo(solo.get(u));
        }
        assertThat(correct).as("passkey answers").isGreaterThanOrEqualTo(SESSIONS * 3 / 4);
    }

    static double pct(List<Long> nanos, int p) {
        if (nanos.isEmpty()) {
            return 0;
        }
        List<Long> s = new ArrayList<>(nanos);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, s.size() * p / 100)) / 1e6;
    }

    @Test
    void abandonedStreamsShouldLeaveTheServiceFreeAndBeKeptAsCancelledAnswers() throws Exception {
        WebClient client = client();
        List<String> sessions = Collections.synchronizedList(new ArrayList<>());
        Semaphore inFlight = new Semaphore(8);
        try (ExecutorService users = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int i = 0; i < ABANDONED; i++) {
                int n = i;
                all.add(users.submit(() -> {
                    inFlight.acquireUninterruptibly();
                    try {
                        abandonOne(client, n, sessions);
                    } finally {
                        inFlight.release();
                    }
                }));
            }
            for (Future<?> f : all) {
                f.get(5, TimeUnit.MINUTES);
            }
        }
        long t0 = System.nanoTime();
        JsonNode fresh = post(client, "/v1/chat/completions", "{\"model\":\"headroom-passkey\",\"temperature\":0,"
                + "\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"the secret code of red is 11111. "
                + "what is the secret code of red? the secret code of red is\"}]}");
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        System.out.printf("[cancel] %d streams abandoned after their first token; then a fresh request answered in "
                + "%d ms, queue depth %d%n", ABANDONED, took.toMillis(), queue.depth());
        assertThat(took).isLessThan(Duration.ofSeconds(5));
        assertThat(fresh.at("/choices/0/message/content").asString().strip()).startsWith("11111");
        assertThat(queue.depth()).isZero();
        for (String id : sessions) {
            JsonNode messages = null;
            for (int i = 0; i < 100; i++) {
                messages = JSON.readTree(client.get().uri("/v1/sessions/" + id + "/messages").retrieve()
                        .bodyToMono(String.class).block(Duration.ofSeconds(30))).get("data");
                if (messages.size() == 2) {
                    break;
                }
                sleep(50);
            }
            assertThat(messages.size()).as("history of " + id).isEqualTo(2);
            JsonNode answer = messages.get(1);
            assertThat(answer.get("finish_reason").asString()).isIn("cancelled", "stop");
            assertThat(answer.get("token_count").asInt()).isLessThan(1500);
        }
    }

    /** Opens a long stream (a session turn or a chat completion), reads its first token, goes away. */
    void abandonOne(WebClient client, int n, List<String> sessions) {
        String path;
        String body;
        if (n % 2 == 0) {
            String id = post(client, "/v1/sessions", "{}").get("id").asString();
            sessions.add(id);
            path = "/v1/sessions/" + id + "/turns";
            body = "{\"message\":\"linko\",\"max_tokens\":1500,\"temperature\":1.0,\"seed\":" + n + "}";
        } else {
            path = "/v1/chat/completions";
            body = "{\"model\":\"headroom-passkey\",\"stream\":true,\"max_tokens\":1500,\"temperature\":1.0,"
                    + "\"seed\":" + n + ",\"messages\":[{\"role\":\"user\",\"content\":\"linko\"}]}";
        }
        for (int attempt = 0; attempt < 200; attempt++) {
            ResponseEntity<reactor.core.publisher.Flux<String>> r = client.post().uri(path)
                    .contentType(MediaType.APPLICATION_JSON).accept(MediaType.TEXT_EVENT_STREAM).bodyValue(body)
                    .retrieve().onStatus(s -> s.value() == 429, resp -> resp.createException())
                    .toEntityFlux(String.class)
                    .onErrorResume(org.springframework.web.reactive.function.client.WebClientResponseException
                            .TooManyRequests.class, e -> reactor.core.publisher.Mono.empty())
                    .block(Duration.ofSeconds(60));
            if (r == null) {
                refused.incrementAndGet();
                sleep(500);
                continue;
            }
            List<String> first = r.getBody().take(n % 2 == 0 ? 1 : 2).collectList().block(Duration.ofSeconds(60));
            assertThat(first).isNotEmpty();
            return;
        }
        throw new AssertionError("stream " + n + " never admitted");
    }
}
