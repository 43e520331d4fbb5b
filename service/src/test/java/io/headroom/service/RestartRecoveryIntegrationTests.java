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

    /** The spill file of a session: named by its id and a digest of its owner ({@code SessionKey}). */
    static Path spillFileOf(Path spill, String session) throws java.io.IOException {
        try (var files = Files.list(spill)) {
            List<Path> found = files.filter(f -> f.getFileName().toString().startsWith(session + "-")
                    && f.getFileName().toString().endsWith(".kv")).toList();
            assertThat(found).as("the spill file of session %s", session).hasSize(1);
            return found.getFirst();
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
        Path corruptFile = spillFileOf(spill, corrupted);
        assertThat(spillFileOf(spill, spilled)).exists();
        assertThat(corruptFile).exists();
        first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hooks, no flushing
        // the embedded PostgreSQL does not outlive its service: its watchdog stops it
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (postgresRunningOn(data) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertThat(postgresRunningOn(data)).as("embedded PostgreSQL still running after kill -9").isFalse();
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

    /**
     * kill -9 while an answer streams: after restart the turn is in the history as what a client
     * that went away leaves, the user message and the answer so far marked {@code cancelled}, and
     * the next turn answers exactly as an uninterrupted session with that history.
     */
    @Test
    void aTurnCutOffByKillNineShouldBeKeptAsACancelledAnswerAndTheSessionContinueExactly() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-crash-turn-pg");
        Path spill = ServiceTestSupport.tempDir("hr-crash-turn-kv");
        int port = freePort();
        int firstPg = freePort();
        Process first = start(port, data, spill, "512MB", firstPg);
        String id = null;
        int tokens = 0;
        // kill -9 while the answer is being generated and part of it is saved. The client reads behind the
        // engine, so that is decided with the service frozen (SIGSTOP): its turn is still pending in
        // PostgreSQL with a saved partial answer. A sampled answer may end on its own stop token first: then
        // a fresh session tries the next seed.
        for (int seed = 3; id == null; seed++) {
            assertThat(seed).as("seeds tried for an answer still running after a partial save").isLessThan(43);
            String candidate = JSON.readTree(send(port, "/v1/sessions", "{}")).get("id").asString();
            send(port, "/v1/sessions/" + candidate + "/context", "{\"text\": \"" + DOCUMENT + "\"}");
            HttpResponse<java.util.stream.Stream<String>> stream = http.send(HttpRequest.newBuilder(URI.create(
                    "http://localhost:" + port + "/v1/sessions/" + candidate + "/turns")).header("content-type",
                    "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"message\": \"linko\", "
                            + "\"max_tokens\": 1500, \"temperature\": 1.0, \"seed\": " + seed + "}")).build(),
                    HttpResponse.BodyHandlers.ofLines());
            long t0 = System.nanoTime();
            long checkAt = 700_000_000L; // past the first partial save (every 500 ms)
            var lines = stream.body().iterator();
            tokens = 0;
            boolean done = false;
            while (!done && id == null && lines.hasNext()) {
                String line = lines.next();
                tokens += line.equals("event: token") ? 1 : 0;
                done = line.equals("event: done") || line.equals("event: error");
                if (!done && tokens >= 10 && System.nanoTime() - t0 >= checkAt) {
                    signal(first, "STOP");
                    if (savedPartialBytes(firstPg, candidate) > 0) {
                        first.destroyForcibly().waitFor();
                        id = candidate;
                    } else {
                        signal(first, "CONT");
                        checkAt += 300_000_000L;
                    }
                }
            }
            if (id == null) {
                System.out.printf("[crash] turn: seed %d answered in full (%d tokens) before a partial save; trying "
                        + "the next%n", seed, tokens);
                stream.body().close();
            }
        }
        assertThat(tokens).as("tokens streamed before the kill").isPositive();

        int pg = freePort();
        port = freePort();
        start(port, data, spill, "512MB", pg);
        JsonNode messages = JSON.readTree(get(port, "/v1/sessions/" + id + "/messages")).get("data");
        assertThat(messages.size()).isEqualTo(2);
        assertThat(messages.get(0).get("content").asString()).isEqualTo("linko");
        JsonNode partial = messages.get(1);
        assertThat(partial.get("finish_reason").asString()).isEqualTo("cancelled");
        assertThat(partial.get("token_count").asInt()).as("answer saved before the kill").isBetween(1, tokens);
        System.out.printf("[crash] turn: %d tokens streamed, %d kept as the cancelled answer%n", tokens,
                partial.get("token_count").asInt());
        assertConsistent(pg, id);
        JsonNode next = turn(port, id, 12);
        assertThat(next.at("/timing/kv_source").asString()).isEqualTo("recomputed");
        assertThat(next.at("/message/content").asString()).isEqualTo(reference(pg, id, QUESTION, 12, next));
    }

    /** kill -9 while a document is prefilled: it is in the session whole or not at all. */
    @Test
    void aDocumentAppendCutOffByKillNineShouldLeaveTheSessionWholeAndContinueExactly() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-crash-doc-pg");
        Path spill = ServiceTestSupport.tempDir("hr-crash-doc-kv");
        int port = freePort();
        Process first = start(port, data, spill, "512MB", 0);
        String id = JSON.readTree(send(port, "/v1/sessions", "{}")).get("id").asString();
        String longDocument = (DOCUMENT + " ").repeat(14);
        int p = port;
        var append = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                send(p, "/v1/sessions/" + id + "/context", "{\"text\": \"" + longDocument + "\"}");
            } catch (Throwable e) {
                // the kill ends it
            }
        });
        Thread.sleep(Long.getLong("headroom.test.append-kill-ms", 150));
        first.destroyForcibly().waitFor();
        append.join();

        int pg = freePort();
        port = freePort();
        start(port, data, spill, "512MB", pg);
        int stored = JSON.readTree(get(port, "/v1/sessions/" + id)).get("token_count").asInt();
        System.out.println("[crash] append: the document " + (stored == 0 ? "was not committed" : "was committed ("
                + stored + " tokens)") + " when the service was killed");
        assertConsistent(pg, id);
        JsonNode next = turn(port, id, 12);
        assertThat(next.at("/message/content").asString()).isEqualTo(reference(pg, id, QUESTION, 12, next));
    }

    /**
     * kill -9 while sessions' KV is being spilled (budgets of one byte: every turn ends with a
     * spill): no half-written spill file survives the restart, and every session continues exactly.
     */
    @Test
    void spillsCutOffByKillNineShouldLeaveNoTornFileAndSessionsContinueExactly() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-crash-spill-pg");
        Path spill = ServiceTestSupport.tempDir("hr-crash-spill-kv");
        int port = freePort();
        Process first = start(port, data, spill, "1B", 0);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = JSON.readTree(send(port, "/v1/sessions", i % 2 == 0 ? "{\"sparsity\": 0.5}" : "{}"))
                    .get("id").asString();
            send(port, "/v1/sessions/" + id + "/context", "{\"text\": \"" + DOCUMENT + "\"}");
            ids.add(id);
        }
        long seed = Long.getLong("headroom.test.seed", 20261206L);
        long killAfter = 400 + new java.util.SplittableRandom(seed).nextInt(600);
        System.out.println("[crash] spill: kill after " + killAfter + " ms of turns (seed " + seed + ")");
        int p = port;
        var turns = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                for (int round = 0; round < 1000; round++) {
                    turn(p, ids.get(round % ids.size()), 2);
                }
            } catch (Throwable e) {
                // the kill ends it
            }
        });
        Thread.sleep(killAfter);
        first.destroyForcibly().waitFor();
        turns.join();

        int pg = freePort();
        port = freePort();
        start(port, data, spill, "512MB", pg);
        try (var files = Files.list(spill)) {
            assertThat(files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList())
                    .as("torn spill files").isEmpty();
        }
        for (String id : ids) {
            assertConsistent(pg, id);
            JsonNode next = turn(port, id, 12);
            assertThat(next.at("/message/content").asString()).as("session " + id)
                    .isEqualTo(reference(pg, id, QUESTION, 12, next));
        }
    }

    @Test
    void anUploadCutOffByKillNineShouldLeaveNothingBehind() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-upload-pg");
        Path spill = ServiceTestSupport.tempDir("hr-upload-kv");
        Path corpora = ServiceTestSupport.tempDir("hr-upload-corpora");
        String where = "--headroom.jobs.data-directory=" + corpora;
        int port = freePort();
        Process first = start(port, data, spill, "512MB", 0, where);
        String corpus = JSON.readTree(send(port, "/v1/corpora", "{\"name\": \"room\"}")).get("id").asString();
        // a multipart upload that stops halfway: the service has part of it in incoming/ when it dies
        String boundary = "cut-off";
        byte[] head = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; "
                + "filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n")
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] text = "lindor muzo a pawimu wipako. ".repeat(10_000)
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        try (java.net.Socket socket = new java.net.Socket("localhost", port)) {
            var out = socket.getOutputStream();
            out.write(("POST /v1/corpora/" + corpus + "/files HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                    + "multipart/form-data; boundary=" + boundary + "\r\nContent-Length: "
                    + (head.length + 10L * text.length) + "\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.write(head);
            out.write(text);
            out.flush();
            Path incoming = corpora.resolve("incoming");
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (System.nanoTime() < deadline && incomingFiles(incoming) == 0) {
                Thread.sleep(50);
            }
            assertThat(incomingFiles(incoming)).as("the upload is on its way to disk").isPositive();
            first.destroyForcibly().waitFor();
        }
        port = freePort();
        start(port, data, spill, "512MB", 0, where);
        assertThat(incomingFiles(corpora.resolve("incoming"))).as("the cut-off upload is removed at start").isZero();
        JsonNode view = JSON.readTree(get(port, "/v1/corpora/" + corpus));
        assertThat(view.get("file_count").asInt()).isZero();
        assertThat(Files.walk(corpora.resolve("blobs")).filter(Files::isRegularFile).count()).isZero();

        // the packaged service reads text in its extractor process (started from inside its own jar)
        String part = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; "
                + "filename=\"memo.txt\"\r\nContent-Type: text/plain\r\n\r\n" + DOCUMENT + "\r\n--" + boundary
                + "--\r\n";
        HttpResponse<String> added = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                + "/v1/corpora/" + corpus + "/files")).header("content-type", "multipart/form-data; boundary="
                + boundary).POST(HttpRequest.BodyPublishers.ofString(part)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
        String file = JSON.readTree(added.body()).get("data").get(0).get("id").asString();
        JsonNode read = JSON.readTree(get(port, "/v1/corpora/" + corpus + "/files/" + file + "/text"));
        assertThat(read.get("extracted").asBoolean()).as(read.toString()).isTrue();
        assertThat(read.get("text").asString()).contains("the secret code of blue is 48213");
    }

    @Test
    void anIngestionCutOffByKillNineShouldGoOnAfterRestartReadingNoFileTwice() throws Exception {
        Path data = ServiceTestSupport.tempDir("hr-ingest-pg");
        Path spill = ServiceTestSupport.tempDir("hr-ingest-kv");
        Path corpora = ServiceTestSupport.tempDir("hr-ingest-corpora");
        String where = "--headroom.jobs.data-directory=" + corpora;
        int port = freePort();
        Process first = start(port, data, spill, "512MB", 0, where);
        String corpus = JSON.readTree(send(port, "/v1/corpora", "{\"name\": \"many\"}")).get("id").asString();
        int files = 150; // short notes: together well inside the passkey model's 2048-token context
        java.io.ByteArrayOutputStream zip = new java.io.ByteArrayOutputStream();
        try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(zip)) {
            for (int i = 0; i < files; i++) {
                z.putNextEntry(new java.util.zip.ZipEntry(String.format("notes/%03d.txt", i)));
                z.write(("note " + i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                z.closeEntry();
            }
        }
        String boundary = "many-files";
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; "
                + "filename=\"notes.zip\"\r\nContent-Type: application/zip\r\n\r\n")
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        body.writeBytes(zip.toByteArray());
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        HttpResponse<String> added = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                + "/v1/corpora/" + corpus + "/files")).header("content-type", "multipart/form-data; boundary="
                + boundary).POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
        send(port, "/v1/corpora/" + corpus + "/ingestion", "{}");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        int read = 0;
        while (System.nanoTime() < deadline && read < 20) {
            read = JSON.readTree(get(port, "/v1/corpora/" + corpus + "/ingestion")).get("documents_read").asInt();
            Thread.sleep(20);
        }
        first.destroyForcibly().waitFor(); // SIGKILL mid-job
        assertThat(read).as("killed mid-job").isBetween(20, files - 1);

        port = freePort();
        start(port, data, spill, "512MB", 0, where);
        JsonNode done = null;
        deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            done = JSON.readTree(get(port, "/v1/corpora/" + corpus + "/ingestion"));
            if (done.get("status").asString().equals("completed")) {
                break;
            }
            Thread.sleep(200);
        }
        assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("completed");
        assertThat(done.get("documents_total").asInt()).isEqualTo(files);
        assertThat(done.get("documents_read").asInt()).as("every file read once, none twice").isEqualTo(files);
        assertThat(done.get("documents_skipped").asInt()).isZero();
    }

    private static long incomingFiles(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.count();
        }
    }

    private static boolean postgresRunningOn(Path data) {
        return ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine()
                .map(c -> c.contains("postgres") && c.contains(data.toString())).orElse(false));
    }

    /** The session's stored token count is the sum of its documents' and messages'. */
    private void assertConsistent(int pg, String id) throws Exception {
        String sql = "select s.token_count,"
                + " (select coalesce(sum(token_count), 0) from documents where session_id = s.id)"
                + " + (select coalesce(sum(token_count), 0) from messages where session_id = s.id),"
                + " (select count(*) from pending_turns) from sessions s where s.id = ?";
        try (java.sql.Connection c = database(pg); var st = c.prepareStatement(sql)) {
            st.setObject(1, java.util.UUID.fromString(id));
            try (var rs = st.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).as("token count of " + id).isEqualTo(rs.getInt(2));
                assertThat(rs.getInt(3)).as("pending turns after recovery").isZero();
            }
        }
    }

    /** Bytes of the partial answer saved for the session's turn in flight (0 when none is pending). */
    private static int savedPartialBytes(int pg, String session) throws java.sql.SQLException {
        try (java.sql.Connection c = database(pg); var st = c.prepareStatement(
                "select octet_length(partial_token_ids) from pending_turns where session_id = ?")) {
            st.setObject(1, java.util.UUID.fromString(session));
            try (var rs = st.executeQuery()) {
                return rs.next() ? rs.getInt(1) : 0;
            }
        }
    }

    /** Sends {@code signal} (STOP, CONT) to the service process. */
    private static void signal(Process p, String signal) throws Exception {
        assertThat(new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor()).isZero();
    }

    private static java.sql.Connection database(int pg) throws java.sql.SQLException {
        return java.sql.DriverManager.getConnection("jdbc:postgresql://localhost:" + pg + "/postgres", "postgres",
                "postgres");
    }

    /**
     * What an uninterrupted session with the stored history answers: its whole token sequence (read
     * from PostgreSQL, as stored before the turn {@code after} added to it) prefilled at once in this
     * JVM, then the question, greedily.
     */
    private String reference(int pg, String id, String question, int maxTokens, JsonNode after) throws Exception {
        List<int[]> segments = new ArrayList<>();
        Double sparsity;
        try (java.sql.Connection c = database(pg)) {
            try (var st = c.prepareStatement("select sparsity from sessions where id = ?")) {
                st.setObject(1, java.util.UUID.fromString(id));
                try (var rs = st.executeQuery()) {
                    rs.next();
                    sparsity = (Double) rs.getObject(1);
                }
            }
            try (var st = c.prepareStatement("select seq, token_ids from documents where session_id = ? union all "
                    + "select seq, token_ids from messages where session_id = ? order by 1")) {
                st.setObject(1, java.util.UUID.fromString(id));
                st.setObject(2, java.util.UUID.fromString(id));
                try (var rs = st.executeQuery()) {
                    while (rs.next()) {
                        byte[] b = rs.getBytes(2);
                        int[] ids = new int[b.length / 4];
                        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(ids);
                        segments.add(ids);
                    }
                }
            }
        }
        // the last two segments are the turn just answered: the reference stops before them
        int context = after.at("/usage/context_tokens").asInt();
        int[] all = segments.stream().flatMapToInt(java.util.Arrays::stream).limit(context).toArray();
        try (io.headroom.engine.LoadedModel model = io.headroom.engine.LoadedModel.load(ServiceTestSupport.MODEL,
                new io.headroom.engine.EngineOptions("cpu", 2, 128, 64, "bf16", 4, 0))) {
            int[] prompt = model.tokenizer().encode(all.length > 0 ? " " + question : question, all.length == 0);
            int[] input = java.util.Arrays.copyOf(all, all.length + prompt.length);
            System.arraycopy(prompt, 0, input, all.length, prompt.length);
            var layout = sparsity == null ? io.headroom.engine.duo.DuoLayout.full(model.config().numLayers(),
                    model.config().numKvHeads()) : duo(sparsity);
            return model.generator(layout).generate(io.headroom.engine.generate.GenerationRequest.greedy(input,
                    maxTokens, java.util.Set.copyOf(model.config().eosTokenIds()))).text();
        }
    }

    private static io.headroom.engine.duo.DuoLayout duo(double sparsity) {
        var pattern = io.headroom.engine.duo.AttentionPattern.load(ServiceTestSupport.PATTERN);
        return new io.headroom.engine.duo.DuoLayout(pattern.retrievalBySparsity(sparsity), pattern.sinkSize(),
                pattern.recentSize());
    }

    private String get(int port, String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return r.body();
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
        return start(port, data, spill, budget, 0);
    }

    /** Starts the packaged service; {@code pgPort} above 0 fixes its embedded PostgreSQL's port. */
    private Process start(int port, Path data, Path spill, String budget, int pgPort, String... more)
            throws Exception {
        assertThat(JAR).as("the packaged service jar (failsafe runs after package)").exists();
        Path log = Files.createTempFile("hr-service", ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xmx2g", "-jar", JAR.toString(),
                "--server.port=" + port,
                "--headroom.engine.model=" + ServiceTestSupport.MODEL,
                "--headroom.engine.pattern=" + ServiceTestSupport.PATTERN,
                "--headroom.engine.threads=2",
                "--headroom.sessions.database.data-directory=" + data,
                "--headroom.sessions.tiers.spill-directory=" + spill,
                "--headroom.sessions.tiers.device-budget=" + budget,
                "--headroom.sessions.tiers.host-budget=" + budget,
                "--headroom.sessions.database.port=" + pgPort));
        command.addAll(List.of(more));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
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
