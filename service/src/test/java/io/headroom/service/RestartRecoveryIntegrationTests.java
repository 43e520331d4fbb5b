package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Sessions survive a crash: the packaged service is started as its own process, killed with
 * SIGKILL (kill -9) mid-life, and started again on the same PostgreSQL data and spill directories.
 * Each surviving session must continue with exactly the greedy answer of a session that was never
 * interrupted — whether its retrieval KV comes back from its spill file or, when that file is
 * corrupt, is recomputed from the tokens stored in PostgreSQL.
 */
@ExtendWith(ThreadDumpOnTimeout.class)
class RestartRecoveryIntegrationTests {

    static final Path JAR = Path.of("target", "headroom-service.jar").toAbsolutePath();
    static final JsonMapper JSON = JsonMapper.builder().build();
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final List<Process> processes = new ArrayList<>();

    @AfterEach
    void stop() throws InterruptedException {
        for (Process p : processes) {
            p.destroy(); // a graceful stop also stops its embedded PostgreSQL
            if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void sessionsShouldContinueIdenticallyAfterKillNineAndRestart() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-restart-pg");
        Path spill = ServiceTestSupport.tempDir("hr-restart-kv");

        // first life: tiny budgets, so every session is on disk after its turn
        int port = freePort();
        Process first = start(port, data, spill, "1B");
        String spilled = newSessionWithOneTurn(port);
        String corrupted = newSessionWithOneTurn(port);
        Path corruptFile = spill.resolve(corrupted + ".kv");
        assertThat(spill.resolve(spilled + ".kv")).exists();
        assertThat(corruptFile).exists();
        first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hooks, no flushing
        byte[] bytes = Files.readAllBytes(corruptFile);
        bytes[bytes.length / 2] ^= 0x5A;
        Files.write(corruptFile, bytes);

        // second life: default budgets
        port = freePort();
        start(port, data, spill, "512MB");
        JsonNode fromDisk = turn(port, spilled, 12);
        JsonNode recomputed = turn(port, corrupted, 12);
        assertThat(fromDisk.at("/timing/kv_source").asString()).isEqualTo("disk");
        assertThat(recomputed.at("/timing/kv_source").asString()).isEqualTo("recomputed");

        // the uninterrupted reference, in the same process
        String reference = newSessionWithOneTurn(port);
        JsonNode expected = turn(port, reference, 12);
        assertThat(expected.at("/timing/kv_source").asString()).isEqualTo("device");
        assertThat(fromDisk.at("/message/content").asString()).isEqualTo(expected.at("/message/content").asString());
        assertThat(recomputed.at("/message/content").asString())
                .isEqualTo(expected.at("/message/content").asString());
        assertThat(fromDisk.at("/usage/context_tokens").asInt())
                .isEqualTo(expected.at("/usage/context_tokens").asInt());
    }

    private String newSessionWithOneTurn(int port) throws Exception {
        String id = JSON.readTree(send(port, "/v1/sessions", "{\"sparsity\": 0.5}")).get("id").asString();
        send(port, "/v1/sessions/" + id + "/context", "{\"text\": \"" + DOCUMENT + "\"}");
        JsonNode first = turn(port, id, 8);
        assertThat(first.at("/message/content").asString().strip()).startsWith("48213");
        return id;
    }

    private JsonNode turn(int port, String id, int maxTokens) throws Exception {
        return JSON.readTree(send(port, "/v1/sessions/" + id + "/turns", "{\"message\": \"" + QUESTION
                + "\", \"max_tokens\": " + maxTokens + ", \"stream\": false}"));
    }

    private String send(int port, String path, String body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .header("content-type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isBetween(200, 299);
        return r.body();
    }

    private Process start(int port, Path data, Path spill, String budget) throws Exception {
        assertThat(JAR).as("the packaged service jar (failsafe runs after package)").exists();
        Path log = Files.createTempFile("hr-service", ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xmx2g", "-jar", JAR.toString(),
                "--server.port=" + port,
                "--headroom.engine.model=" + ServiceTestSupport.MODEL,
                "--headroom.engine.pattern=" + ServiceTestSupport.PATTERN,
                "--headroom.engine.threads=2",
                "--headroom.sessions.database.data-directory=" + data,
                "--headroom.sessions.tiers.spill-directory=" + spill,
                "--headroom.sessions.tiers.device-budget=" + budget,
                "--headroom.sessions.tiers.host-budget=" + budget)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new AssertionError("service exited: " + Files.readString(log));
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                        + "/actuator/health/readiness")).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return p;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new AssertionError("service did not become ready: " + Files.readString(log));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
