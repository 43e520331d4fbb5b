package io.headroom.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Corpus uploads through the real HTTP stack: multipart files streamed to disk, types sniffed from
 * the bytes, archives opened, re-uploads stored once, and every limit a 4xx naming it with nothing
 * left behind (no row, no stored bytes, no incoming file).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class CorporaIntegrationTests {

    static final Path DATA = ServiceTestSupport.tempDir("hr-corpora");
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String BOUNDARY = "corpus-test-boundary";
    static final byte[] PDF = ("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
            .getBytes(StandardCharsets.US_ASCII);

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
        r.add("headroom.jobs.data-directory", DATA::toString);
        r.add("headroom.jobs.uploads.max-file-size", () -> "200KB");
        r.add("headroom.jobs.uploads.max-corpus-size", () -> "600KB");
        r.add("headroom.jobs.uploads.max-expansion-ratio", () -> "20");
    }

    @LocalServerPort
    int port;
    @Autowired
    JdbcClient jdbc;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    record Answer(int status, JsonNode json) {
        String code() {
            return json.path("error").path("code").asString(null);
        }

        String param() {
            return json.path("error").path("param").asString(null);
        }
    }

    Answer send(String method, String path, String contentType, byte[] body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofSeconds(60)).method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        if (contentType != null) {
            b.header("content-type", contentType);
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body()));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    String corpus(String name) {
        return send("POST", "/v1/corpora", "application/json", ("{\"name\": \"" + name + "\"}").getBytes())
                .json().path("id").asString();
    }

    Answer upload(String corpus, Map<String, byte[]> files) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (var f : files.entrySet()) {
            out.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                    + f.getKey() + "\"\r\nContent-Type: application/pdf\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            out.writeBytes(f.getValue());
            out.writeBytes("\r\n".getBytes());
        }
        out.writeBytes(("--" + BOUNDARY + "--\r\n").getBytes());
        return send("POST", "/v1/corpora/" + corpus + "/files", "multipart/form-data; boundary=" + BOUNDARY,
                out.toByteArray());
    }

    static byte[] zip(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            for (var e : entries.entrySet()) {
                z.putNextEntry(new ZipEntry(e.getKey()));
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    static Map<String, byte[]> files(Object... nameAndBytes) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < nameAndBytes.length; i += 2) {
            m.put((String) nameAndBytes[i], (byte[]) nameAndBytes[i + 1]);
        }
        return m;
    }

    long storedFiles() throws IOException {
        try (Stream<Path> s = Files.walk(DATA.resolve("blobs"))) {
            return s.filter(Files::isRegularFile).count();
        }
    }

    long incomingFiles() throws IOException {
        try (Stream<Path> s = Files.list(DATA.resolve("incoming"))) {
            return s.count();
        }
    }

    @Test
    void uploadsShouldBeSniffedOpenedAndStoredOnce() throws IOException {
        long before = storedFiles();
        String room = corpus("data room");
        // bytes of this test alone: the tests share one user, whose identical bytes are stored once
        byte[] memo = (ServiceTestSupport.DOCUMENT + " (upload test)").getBytes(StandardCharsets.UTF_8);
        byte[] mark = "% upload test\n".getBytes(StandardCharsets.US_ASCII);
        byte[] pdf = java.util.Arrays.copyOf(PDF, PDF.length + mark.length);
        System.arraycopy(mark, 0, pdf, PDF.length, mark.length);
        Answer first = upload(room, files("contract.txt", pdf, "memo.md", memo,
                "bundle.zip", zip(files("notes/readme.txt", "hello".getBytes(), "again.pdf", pdf))));
        assertThat(first.status()).as(first.json().toString()).isEqualTo(201);
        Map<String, String> types = new LinkedHashMap<>();
        first.json().path("data").forEach(f -> types.put(f.path("path").asString(), f.path("media_type").asString()));
        assertThat(types).containsEntry("contract.txt", "application/pdf").containsEntry("bundle.zip/again.pdf",
                "application/pdf").containsKeys("memo.md", "bundle.zip/notes/readme.txt");
        assertThat(types.get("memo.md")).startsWith("text/");
        assertThat(storedFiles() - before).as("the PDF twice in one upload is stored once").isEqualTo(3);

        String other = corpus("second room");
        Answer again = upload(other, files("copy.pdf", pdf));
        assertThat(again.json().path("data").get(0).path("deduplicated").asBoolean()).isTrue();
        assertThat(storedFiles() - before).isEqualTo(3);
        assertThat(send("GET", "/v1/corpora/" + room, null, null).json().path("file_count").asInt()).isEqualTo(4);

        // the text Headroom reads from each file, extracted in the isolated process
        Map<String, String> ids = new LinkedHashMap<>();
        first.json().path("data").forEach(f -> ids.put(f.path("path").asString(), f.path("id").asString()));
        JsonNode text = send("GET", "/v1/corpora/" + room + "/files/" + ids.get("memo.md") + "/text", null, null)
                .json();
        assertThat(text.path("extracted").asBoolean()).isTrue();
        assertThat(text.path("text").asString()).contains("the secret code of blue is 48213");
        JsonNode cut = send("GET", "/v1/corpora/" + room + "/files/" + ids.get("memo.md") + "/text?max_chars=10",
                null, null).json();
        assertThat(cut.path("text").asString()).hasSize(10);
        assertThat(cut.path("truncated").asBoolean()).isTrue();
        JsonNode none = send("GET", "/v1/corpora/" + room + "/files/" + ids.get("contract.txt") + "/text", null, null)
                .json();
        assertThat(none.path("extracted").asBoolean()).as(none.toString()).isFalse();
        // the test's PDF is only a header and a catalog: PDFBox finds no page tree, so it is a damaged document
        assertThat(none.path("skip_reason").asString()).startsWith("damaged or unreadable");

        Answer same = upload(room, files("contract.txt", memo));
        assertThat(same.status()).isEqualTo(409);
        assertThat(same.code()).isEqualTo("file_exists");

        assertThat(send("DELETE", "/v1/corpora/" + room, null, null).status()).isEqualTo(204);
        assertThat(storedFiles() - before).as("only the bytes the second corpus keeps").isEqualTo(1);
        assertThat(send("GET", "/v1/corpora/" + room, null, null).status()).isEqualTo(404);
    }

    @Test
    void everyLimitShouldBeA4xxNamingItWithNothingLeftBehind() throws IOException {
        String room = corpus("limits");
        long rows = jdbc.sql("SELECT count(*) FROM corpus_files").query(Long.class).single();
        long stored = storedFiles();
        byte[] big = "lindor muzo a pawimu wipako. ".repeat(8_000).getBytes(StandardCharsets.US_ASCII); // 232 KB
        byte[] exe = new byte[] {'M', 'Z', (byte) 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, (byte) 0xff, (byte) 0xff, 0, 0};
        Map<String, Answer> refused = new LinkedHashMap<>();
        refused.put("max_file_size", upload(room, files("ok.pdf", PDF, "big.txt", big)));
        refused.put("max_expansion_ratio", upload(room, files("bomb.zip", zip(files("zeros.txt",
                new byte[150_000])))));
        refused.put("file_type", upload(room, files("report.pdf", exe)));
        refused.put("entry_name", upload(room, files("evil.zip", zip(files("../../escape.txt", PDF)))));
        refused.put("max_corpus_size", upload(room, files("a.txt", big(190_000, 'a'), "b.txt", big(190_000, 'b'),
                "c.txt", big(190_000, 'c'), "d.txt", big(190_000, 'd'))));
        refused.put("filename", upload(room, files("", PDF)));
        Map<String, Integer> statuses = Map.of("max_file_size", 413, "max_expansion_ratio", 413, "file_type", 415,
                "entry_name", 400, "max_corpus_size", 413, "filename", 400);
        for (var e : refused.entrySet()) {
            assertThat(e.getValue().status()).as(e.getKey() + ": " + e.getValue().json()).isEqualTo(
                    statuses.get(e.getKey()));
            assertThat(e.getValue().param()).as(e.getKey()).isEqualTo(e.getKey());
        }
        assertThat(jdbc.sql("SELECT count(*) FROM corpus_files").query(Long.class).single()).isEqualTo(rows);
        assertThat(storedFiles()).isEqualTo(stored);
        assertThat(incomingFiles()).isZero();
        assertThat(send("POST", "/v1/corpora/" + room + "/files", "application/json", "{}".getBytes()).status())
                .isEqualTo(415);
        Answer empty = send("POST", "/v1/corpora/" + room + "/files", "multipart/form-data; boundary=" + BOUNDARY,
                ("--" + BOUNDARY + "--\r\n").getBytes());
        assertThat(empty.status()).isEqualTo(400);
        assertThat(List.of(upload(room, files("fine.pdf", PDF)).status())).containsExactly(201);
    }

    JsonNode ingested(String corpus) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        JsonNode s = null;
        while (System.nanoTime() < deadline) {
            s = send("GET", "/v1/corpora/" + corpus + "/ingestion", null, null).json();
            String status = s.path("status").asString();
            if (status.equals("completed") || status.equals("failed")) {
                return s;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("ingestion did not finish: " + s);
    }

    @Test
    void ingestionShouldReadEveryFileInOrderRecordSkipsAndCheckTheContext() throws Exception {
        String room = corpus("ingest me");
        assertThat(upload(room, files("a-memo.md", ServiceTestSupport.DOCUMENT.getBytes(StandardCharsets.UTF_8),
                "b-broken.pdf", PDF, "c-blank.txt", "  \n\n  ".getBytes())).status()).isEqualTo(201);
        assertThat(send("GET", "/v1/corpora/" + room + "/ingestion", null, null).json().path("status").asString())
                .isEqualTo("not_started");
        Answer started = send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        assertThat(started.status()).as(started.json().toString()).isEqualTo(202);
        JsonNode done = ingested(room);
        assertThat(done.path("status").asString()).as(done.toString()).isEqualTo("completed");
        assertThat(done.path("documents_total").asInt()).isEqualTo(3);
        assertThat(done.path("documents_read").asInt()).isEqualTo(1);
        assertThat(done.path("documents_skipped").asInt()).isEqualTo(2);
        assertThat(done.path("tokens").asLong()).isPositive();
        Map<String, String> reasons = new LinkedHashMap<>();
        done.path("skipped").forEach(k -> reasons.put(k.path("path").asString(), k.path("reason").asString()));
        assertThat(reasons.get("b-broken.pdf")).startsWith("damaged or unreadable");
        assertThat(reasons.get("c-blank.txt")).isEqualTo("no text");
        long rows = jdbc.sql("SELECT count(*) FROM corpus_documents WHERE corpus_id = ?::uuid").param(room)
                .query(Long.class).single();
        Answer again = send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        assertThat(again.json().path("status").asString()).as("the same files find the same run")
                .isEqualTo("completed");
        assertThat(jdbc.sql("SELECT count(*) FROM corpus_documents WHERE corpus_id = ?::uuid").param(room)
                .query(Long.class).single()).isEqualTo(rows);

        // the progress stream of a finished run ends with its last state
        HttpResponse<String> events = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                + "/v1/corpora/" + room + "/ingestion/events")).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(events.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
        assertThat(events.body()).startsWith("event: done\ndata: {").contains("\"status\":\"completed\"",
                "\"files_per_second\"");
        assertThat(send("POST", "/v1/corpora/" + room + "/ingestion/stop", null, null).code())
                .isEqualTo("no_ingestion_running");

        // more text than the model's context: the job reads it all, then fails saying by how much
        String huge = corpus("too big");
        byte[] text = ServiceTestSupport.DOCUMENT.repeat(60).getBytes(StandardCharsets.UTF_8);
        assertThat(upload(huge, files("long.txt", text)).status()).isEqualTo(201);
        send("POST", "/v1/corpora/" + huge + "/ingestion", null, null);
        JsonNode failed = ingested(huge);
        assertThat(failed.path("status").asString()).isEqualTo("failed");
        assertThat(failed.path("error").asString()).contains("too many");
        assertThat(send("POST", "/v1/corpora/" + corpus("empty") + "/ingestion", null, null).status()).isEqualTo(400);
    }

    @Test
    void aStoppedIngestionShouldGoOnFromWhereItStoppedWhenStartedAgain() throws Exception {
        String room = corpus("stop me");
        int n = 200; // short notes: together inside the passkey model's 2048-token context
        Map<String, byte[]> notes = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            notes.put(String.format("n/%03d.txt", i), ("note " + i).getBytes(StandardCharsets.UTF_8));
        }
        assertThat(upload(room, files("notes.zip", zip(notes))).status()).isEqualTo(201);
        send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        // stop as soon as the run is there to stop (it starts on its own thread)
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        Answer stopping = send("POST", "/v1/corpora/" + room + "/ingestion/stop", null, null);
        while (stopping.status() == 409 && System.nanoTime() < deadline) {
            assertThat(send("GET", "/v1/corpora/" + room + "/ingestion", null, null).json().path("status")
                    .asString()).as("the run ended before it could be stopped").isNotEqualTo("completed");
            Thread.sleep(10);
            stopping = send("POST", "/v1/corpora/" + room + "/ingestion/stop", null, null);
        }
        assertThat(stopping.status()).as(stopping.json().toString()).isEqualTo(202);
        JsonNode stopped = ingested(room, "stopped");
        assertThat(stopped.path("documents_read").asInt()).as(stopped.toString()).isLessThan(n);

        send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        JsonNode done = ingested(room, "completed");
        assertThat(done.path("documents_read").asInt()).as(done.toString()).isEqualTo(n);
        assertThat(jdbc.sql("SELECT count(*) FROM corpus_documents WHERE corpus_id = ?::uuid").param(room)
                .query(Long.class).single()).isEqualTo(n);
    }

    /**
     * The corpus is prefilled once into a DuoAttention snapshot; a session started from it answers
     * exactly as a session that read the same documents one by one, without prefilling the corpus.
     */
    @Test
    void aCorpusSessionShouldStartFromTheSnapshotAndAnswerAsASessionThatReadTheDocuments() throws Exception {
        String room = corpus("data room");
        String notes = "the secret code of red is 77120. the lumo wipako linzo under dorromu kaba.";
        assertThat(upload(room, files("a-needle.md", ServiceTestSupport.DOCUMENT.getBytes(StandardCharsets.UTF_8),
                "b-broken.pdf", PDF, "c-notes.txt", notes.getBytes(StandardCharsets.UTF_8))).status()).isEqualTo(201);
        Answer early = send("POST", "/v1/sessions", "application/json", ("{\"corpus\": \"" + room + "\"}")
                .getBytes());
        assertThat(early.status()).isEqualTo(409);
        assertThat(early.code()).isEqualTo("corpus_not_ready");
        send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        JsonNode done = ingested(room, "completed");
        JsonNode snapshot = done.path("snapshot");
        assertThat(snapshot.path("state").asString()).as(done.toString()).isEqualTo("ready");
        assertThat(snapshot.path("documents").asInt()).isEqualTo(2);
        int corpusTokens = snapshot.path("tokens_prefilled").asInt();
        assertThat(corpusTokens).isPositive();
        UUID snapshotId = UUID.fromString(snapshot.path("id").asString());
        assertThat(jdbc.sql("SELECT count(*) FROM corpus_snapshot_documents WHERE snapshot_id = ? AND "
                + "octet_length(streaming_state) > 0").param(snapshotId).query(Long.class).single())
                .as("a streaming state at every document boundary").isEqualTo(2);

        Answer created = send("POST", "/v1/sessions", "application/json", ("{\"corpus\": \"" + room + "\", "
                + "\"sparsity\": 0.5}").getBytes());
        assertThat(created.status()).as(created.json().toString()).isEqualTo(201);
        assertThat(created.json().path("token_count").asInt()).isEqualTo(corpusTokens);
        assertThat(created.json().path("corpus_snapshot_id").asString()).isEqualTo(snapshotId.toString());
        String overCorpus = created.json().path("id").asString();
        Answer wrongSparsity = send("POST", "/v1/sessions", "application/json", ("{\"corpus\": \"" + room
                + "\", \"sparsity\": 0.25}").getBytes());
        assertThat(wrongSparsity.status()).isEqualTo(400);
        assertThat(send("POST", "/v1/sessions", "application/json", ("{\"corpus\": \"" + UUID.randomUUID()
                + "\"}").getBytes()).status()).as("an unknown corpus").isEqualTo(404);

        // the reference: a session at the same sparsity that reads the documents' texts one by one, in order
        String reading = send("POST", "/v1/sessions", "application/json", "{\"sparsity\": 0.5}".getBytes()).json()
                .path("id").asString();
        List<String> texts = new java.util.ArrayList<>();
        for (JsonNode f : send("GET", "/v1/corpora/" + room + "/files", null, null).json().path("data")) {
            JsonNode t = send("GET", "/v1/corpora/" + room + "/files/" + f.path("id").asString() + "/text", null, null)
                    .json();
            if (t.path("extracted").asBoolean()) {
                texts.add(t.path("text").asString());
            }
        }
        assertThat(texts).hasSize(2);
        for (String text : texts) {
            Answer appended = send("POST", "/v1/sessions/" + reading + "/context", "application/json",
                    JSON.writeValueAsBytes(Map.of("text", text)));
            assertThat(appended.status()).as(appended.json().toString()).isEqualTo(200);
        }
        String question = "{\"message\": \"" + ServiceTestSupport.QUESTION + "\", \"max_tokens\": 8, "
                + "\"temperature\": 0, \"stream\": false}";
        Answer fromCorpus = send("POST", "/v1/sessions/" + overCorpus + "/turns", "application/json",
                question.getBytes());
        Answer fromReading = send("POST", "/v1/sessions/" + reading + "/turns", "application/json",
                question.getBytes());
        assertThat(fromCorpus.status()).as(fromCorpus.json().toString()).isEqualTo(200);
        assertThat(fromCorpus.json().at("/timing/kv_source").asString()).isEqualTo("corpus");
        assertThat(fromCorpus.json().at("/message/content").asString()).contains("48213")
                .isEqualTo(fromReading.json().at("/message/content").asString());
        assertThat(send("GET", "/v1/sessions/" + overCorpus, null, null).json().path("token_count").asInt())
                .isEqualTo(send("GET", "/v1/sessions/" + reading, null, null).json().path("token_count").asInt());
        Answer followUp = send("POST", "/v1/sessions/" + overCorpus + "/turns", "application/json",
                question.replace("blue", "red").getBytes());
        assertThat(followUp.json().at("/timing/kv_source").asString()).as("its own KV from now on")
                .isEqualTo("device");

        // the OpenAI API names the corpus with an extension field: the same answer, no prefill of the corpus
        Answer openAi = send("POST", "/v1/chat/completions", "application/json", JSON.writeValueAsBytes(Map.of(
                "model", "headroom-passkey", "messages", List.of(Map.of("role", "user", "content",
                        ServiceTestSupport.QUESTION)), "max_tokens", 8, "temperature", 0, "headroom_corpus", room)));
        assertThat(openAi.status()).as(openAi.json().toString()).isEqualTo(200);
        assertThat(openAi.json().at("/choices/0/message/content").asString())
                .isEqualTo(fromCorpus.json().at("/message/content").asString());
        assertThat(openAi.json().at("/usage/prompt_tokens").asInt()).isGreaterThan(corpusTokens);

        // a corpus that sessions started from is kept until they are gone
        Path snapshotFile = DATA.resolve("snapshots").resolve(snapshotId + ".kv");
        assertThat(snapshotFile).as("the snapshot's spill file").isRegularFile();
        Answer refused = send("DELETE", "/v1/corpora/" + room, null, null);
        assertThat(refused.status()).isEqualTo(409);
        assertThat(refused.code()).isEqualTo("corpus_in_use");
        assertThat(send("DELETE", "/v1/sessions/" + overCorpus, null, null).status()).isEqualTo(204);
        assertThat(send("DELETE", "/v1/corpora/" + room, null, null).status()).isEqualTo(204);
        assertThat(snapshotFile).doesNotExist();
    }

    /**
     * The OpenAI Batch API through the official OpenAI Java SDK: a JSONL file of questions over a
     * corpus, with a malformed line, a duplicate custom_id and a request over the context; the good
     * requests answer, each bad line is an error line, and a file that is not JSONL fails the batch.
     */
    @Test
    void aBatchOfQuestionsOverACorpusShouldRunThroughTheOfficialOpenAiClient() throws Exception {
        String room = corpus("batch room");
        assertThat(upload(room, files("needle.md", ServiceTestSupport.DOCUMENT.getBytes(StandardCharsets.UTF_8)))
                .status()).isEqualTo(201);
        send("POST", "/v1/corpora/" + room + "/ingestion", null, null);
        ingested(room, "completed");
        com.openai.client.OpenAIClient client = com.openai.client.okhttp.OpenAIOkHttpClient.builder()
                .baseUrl("http://localhost:" + port + "/v1").apiKey("not-needed").maxRetries(0).build();
        String ask = "{\"custom_id\": \"%s\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
                + "\"body\": {\"model\": \"headroom-passkey\", \"max_tokens\": %d, \"temperature\": 0, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}]}}";
        String jsonl = String.join("\n", String.format(ask, "q1", 8, ServiceTestSupport.QUESTION),
                String.format(ask, "q2", 4, "the lumo"), "{not json", String.format(ask, "q1", 4, "again"),
                String.format(ask, "q3", 4, "linko linko"), String.format(ask, "too-long", 100_000, "hello")) + "\n";
        com.openai.models.files.FileObject input = client.files().create(com.openai.models.files.FileCreateParams
                .builder().file(jsonl.getBytes(StandardCharsets.UTF_8)).purpose(com.openai.models.files.FilePurpose
                        .BATCH).build());
        assertThat(input.bytes()).isEqualTo(jsonl.getBytes(StandardCharsets.UTF_8).length);
        com.openai.models.batches.Batch batch = client.batches().create(com.openai.models.batches.BatchCreateParams
                .builder().inputFileId(input.id()).endpoint(com.openai.models.batches.BatchCreateParams.Endpoint
                        .V1_CHAT_COMPLETIONS).completionWindow(com.openai.models.batches.BatchCreateParams
                        .CompletionWindow._24H).metadata(com.openai.models.batches.BatchCreateParams.Metadata.builder()
                        .putAdditionalProperty("team", com.openai.core.JsonValue.from("legal")).build())
                .putAdditionalBodyProperty("headroom_corpus", com.openai.core.JsonValue.from(room)).build());
        com.openai.models.batches.Batch done = awaitBatch(client, batch.id());
        assertThat(done.status()).as(done.toString()).isEqualTo(com.openai.models.batches.Batch.Status.COMPLETED);
        var counts = done.requestCounts().orElseThrow();
        assertThat(List.of(counts.total(), counts.completed(), counts.failed())).isEqualTo(List.of(6L, 3L, 3L));

        List<JsonNode> output = lines(client, done.outputFileId().orElseThrow());
        assertThat(output.stream().map(l -> l.path("custom_id").asString()).toList()).containsExactly("q1", "q2",
                "q3");
        assertThat(output.getFirst().at("/response/status_code").asInt()).isEqualTo(200);
        assertThat(output.getFirst().at("/response/body/choices/0/message/content").asString())
                .as("answered over the corpus").contains("48213");
        assertThat(output.getFirst().at("/response/body/usage/prompt_tokens").asInt()).isGreaterThan(20);
        List<JsonNode> errors = lines(client, done.errorFileId().orElseThrow());
        assertThat(errors).hasSize(3);
        assertThat(errors.get(0).at("/error/code").asString()).isEqualTo("invalid_json");
        assertThat(errors.get(1).at("/error/code").asString()).isEqualTo("duplicate_custom_id");
        assertThat(errors.get(2).path("custom_id").asString()).isEqualTo("too-long");
        assertThat(errors.get(2).at("/response/status_code").asInt()).isEqualTo(400);
        assertThat(client.batches().list().data().stream().map(com.openai.models.batches.Batch::id))
                .contains(batch.id());

        // a file that is not JSONL fails the batch in validation, with its errors
        com.openai.models.files.FileObject prose = client.files().create(com.openai.models.files.FileCreateParams
                .builder().file("dear team,\nplease read this.\n".getBytes(StandardCharsets.UTF_8))
                .purpose(com.openai.models.files.FilePurpose.BATCH).build());
        com.openai.models.batches.Batch failed = awaitBatch(client, client.batches().create(
                com.openai.models.batches.BatchCreateParams.builder().inputFileId(prose.id())
                        .endpoint(com.openai.models.batches.BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS)
                        .completionWindow(com.openai.models.batches.BatchCreateParams.CompletionWindow._24H).build())
                .id());
        assertThat(failed.status()).isEqualTo(com.openai.models.batches.Batch.Status.FAILED);
        assertThat(failed.errors().orElseThrow().data().orElseThrow().getFirst().code()).hasValue("invalid_file");
        assertThat(send("GET", "/v1/batches/batch_" + "0".repeat(32), null, null).status()).isEqualTo(404);
        assertThat(send("GET", "/v1/files/" + input.id() + "x", null, null).status()).isEqualTo(404);
    }

    static com.openai.models.batches.Batch awaitBatch(com.openai.client.OpenAIClient client, String id)
            throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        com.openai.models.batches.Batch b = client.batches().retrieve(id);
        while (System.nanoTime() < deadline && List.of("validating", "in_progress", "finalizing", "cancelling")
                .contains(b.status().asString())) {
            Thread.sleep(200);
            b = client.batches().retrieve(id);
        }
        return b;
    }

    static List<JsonNode> lines(com.openai.client.OpenAIClient client, String fileId) throws IOException {
        try (com.openai.core.http.HttpResponse r = client.files().content(fileId)) {
            String body = new String(r.body().readAllBytes(), StandardCharsets.UTF_8);
            return body.lines().map(JSON::readTree).toList();
        }
    }

    JsonNode ingested(String corpus, String status) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        JsonNode s = null;
        while (System.nanoTime() < deadline) {
            s = send("GET", "/v1/corpora/" + corpus + "/ingestion", null, null).json();
            if (s.path("status").asString().equals(status)) {
                return s;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("ingestion never reached " + status + ": " + s);
    }

    static byte[] big(int n, char c) {
        return String.valueOf(c).repeat(n).getBytes(StandardCharsets.US_ASCII);
    }
}
