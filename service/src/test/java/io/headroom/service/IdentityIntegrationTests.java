package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jwt.JWTClaimsSet;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import io.headroom.service.security.SecurityConfiguration;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Identity end to end, against a real OpenID Connect provider started by the test: the browser's
 * sign-in (authorization code with PKCE, tokens kept on the server, the session cookie honoured by a
 * second replica on the same PostgreSQL), RP-initiated and back-channel logout, the API with the
 * provider's JWTs and with API keys (through LangChain4j's OpenAI client), every kind of bad
 * credential, the ownership of every route of the OpenAPI document, quotas, security headers, the
 * login's return URL, and secrets kept out of the logs.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    // the log test reads everything the service writes about requests and security
    "logging.level.org.springframework.security=DEBUG", "logging.level.io.headroom=DEBUG"})
@ExtendWith({ThreadDumpOnTimeout.class, OutputCaptureExtension.class})
class IdentityIntegrationTests {

    static final OidcTestProvider PROVIDER = new OidcTestProvider();
    static final JsonMapper JSON = JsonMapper.builder().build();

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
        oidc(r::add);
    }

    interface Setter {
        void add(String key, java.util.function.Supplier<Object> value);
    }

    static void oidc(Setter r) {
        r.add("headroom.security.issuer-uri", PROVIDER::issuer);
        r.add("headroom.security.audience", () -> OidcTestProvider.AUDIENCE);
        r.add("headroom.security.client-id", () -> OidcTestProvider.CLIENT_ID);
        r.add("headroom.security.client-secret", () -> OidcTestProvider.CLIENT_SECRET);
    }

    @AfterAll
    static void stopProvider() {
        PROVIDER.close();
    }

    @LocalServerPort
    int port;
    @Autowired
    DataSource dataSource;
    @Autowired
    JdbcClient jdbc;
    @Autowired
    org.springframework.core.env.Environment environment;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    String base() {
        return "http://localhost:" + port;
    }

    record Answer(int status, java.net.http.HttpHeaders headers, String body) {
        JsonNode json() {
            return JSON.readTree(body);
        }

        String code() {
            return json().path("error").path("code").asString(null);
        }
    }

    Answer call(String method, String path, String authorization, String body) {
        return call(method, path, authorization, body, "application/json");
    }

    /** A multipart/form-data body with one file part named {@code file}. */
    static final String BOUNDARY = "headroom-test-boundary";

    static String multipart(String filename, String content) {
        return "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename
                + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + "\r\n--" + BOUNDARY + "--\r\n";
    }

    Answer upload(String path, String authorization, String filename, String content) {
        return call("POST", path, authorization, multipart(filename, content),
                "multipart/form-data; boundary=" + BOUNDARY);
    }

    Answer call(String method, String path, String authorization, String body, String contentType) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("content-type", contentType);
        }
        if (authorization != null) {
            b.header("authorization", authorization);
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r.headers(), r.body());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String bearer(String token) {
        return "Bearer " + token;
    }

    /** Signs {@code user} in through the provider; returns the browser holding the session cookie. */
    Browser signIn(String user, boolean admin, String returnTo) {
        PROVIDER.nextSignIn(user, admin);
        Browser browser = new Browser();
        List<Browser.Hop> hops = browser.follow(browser.get(base() + "/auth/login"
                + (returnTo == null ? "" : "?return_to=" + URLEncoder.encode(returnTo, StandardCharsets.UTF_8))));
        Browser.Hop last = hops.getLast();
        assertThat(last.status()).as("sign-in ends on the page asked for: %s", hops.stream()
                .map(h -> h.status() + " " + h.uri().getPath()).toList()).isEqualTo(200);
        return browser;
    }

    String serviceHost() {
        return "localhost:" + port;
    }

    @Test
    void browserSignInShouldUseTheCodeFlowWithPkceAndKeepTokensOnTheServer() throws Exception {
        PROVIDER.nextSignIn("alice", false);
        Browser browser = new Browser();
        List<Browser.Hop> hops = browser.follow(browser.get(base() + "/auth/login?return_to=/auth/me"));

        Browser.Hop authorize = hops.stream().filter(h -> h.uri().toString().startsWith(PROVIDER.issuer()))
                .findFirst().orElseThrow();
        assertThat(authorize.uri().getQuery()).contains("response_type=code", "code_challenge=",
                "code_challenge_method=S256", "client_id=" + OidcTestProvider.CLIENT_ID, "state=", "nonce=");
        Browser.Hop me = hops.getLast();
        assertThat(me.uri().getPath()).isEqualTo("/auth/me");
        assertThat(me.status()).isEqualTo(200);
        assertThat(JSON.readTree(me.body()).path("user").asString()).isEqualTo("alice");
        assertThat(JSON.readTree(me.body()).path("via").asString()).isEqualTo("browser");

        // the browser holds an HttpOnly, Secure, SameSite cookie and never sees a token
        assertThat(browser.setCookies).anySatisfy(c -> assertThat(c).startsWith("HEADROOM_SESSION=")
                .containsIgnoringCase("HttpOnly").containsIgnoringCase("Secure").containsIgnoringCase("SameSite=Lax"));
        for (Browser.Hop h : browser.seen) {
            if (h.uri().getPort() == port) {
                assertThat(h.body()).doesNotContain("eyJ");
                assertThat(h.headers().map().toString()).doesNotContain("eyJ");
            }
        }
        String cookie = browser.cookie(serviceHost(), "HEADROOM_SESSION");
        assertThat(jdbc.sql("SELECT count(*) FROM web_sessions WHERE principal = 'alice'").query(Long.class).single())
                .isEqualTo(1);

        // the API with the session cookie: reads need nothing more, writes need the CSRF token
        assertThat(browser.get(base() + "/v1/sessions").status()).isEqualTo(200);
        Browser.Hop refused = browser.post(base() + "/v1/sessions", "application/json", "{}");
        assertThat(refused.status()).isEqualTo(403);
        assertThat(JSON.readTree(refused.body()).path("error").path("code").asString()).isEqualTo("csrf_token_invalid");
        JsonNode csrf = JSON.readTree(me.body());
        Browser.Hop created = browser.post(base() + "/v1/sessions", "application/json", "{}",
                csrf.path("csrf_header").asString(), csrf.path("csrf_token").asString());
        assertThat(created.status()).isEqualTo(201);
        assertThat(JSON.readTree(created.body()).path("owner").asString()).isEqualTo("alice");
        Browser.Hop logoutWithoutToken = browser.post(base() + "/logout", "application/x-www-form-urlencoded", "");
        assertThat(logoutWithoutToken.status()).isEqualTo(403);

        // a second replica on the same PostgreSQL honours the cookie (sessions are rows, not memory)
        try (ConfigurableApplicationContext replica = replica()) {
            int port2 = ((WebServerApplicationContext) replica).getWebServer().getPort();
            browser.setCookie("localhost:" + port2, "HEADROOM_SESSION", cookie);
            Browser.Hop there = browser.get("http://localhost:" + port2 + "/auth/me");
            assertThat(there.status()).isEqualTo(200);
            assertThat(JSON.readTree(there.body()).path("user").asString()).isEqualTo("alice");

            // RP-initiated logout: the session ends here and on the replica, then the provider's end-session
            Browser.Hop out = browser.post(base() + "/logout", "application/x-www-form-urlencoded",
                    "_csrf=" + URLEncoder.encode(csrf.path("csrf_token").asString(), StandardCharsets.UTF_8));
            assertThat(out.status()).isEqualTo(302);
            assertThat(out.location()).startsWith(PROVIDER.issuer()).contains("id_token_hint=",
                    "post_logout_redirect_uri=");
            Browser stale = new Browser();
            stale.setCookie("localhost:" + port2, "HEADROOM_SESSION", cookie);
            assertThat(stale.get("http://localhost:" + port2 + "/auth/me").status()).isEqualTo(401);

            // back-channel logout reaching the replica ends the user's sessions on this instance too
            Browser bob = signIn("bob", false, "/auth/me");
            String bobCookie = bob.cookie(serviceHost(), "HEADROOM_SESSION");
            assertThat(bob.get(base() + "/auth/me").status()).isEqualTo(200);
            Browser provider = new Browser();
            Browser.Hop backChannel = provider.post("http://localhost:" + port2
                    + "/logout/connect/back-channel/headroom", "application/x-www-form-urlencoded",
                    "logout_token=" + PROVIDER.logoutToken("bob"));
            assertThat(backChannel.status()).as(backChannel.body()).isEqualTo(200);
            Browser after = new Browser();
            after.setCookie(serviceHost(), "HEADROOM_SESSION", bobCookie);
            assertThat(after.get(base() + "/auth/me").status()).isEqualTo(401);
            Browser.Hop forged = provider.post("http://localhost:" + port2 + "/logout/connect/back-channel/headroom",
                    "application/x-www-form-urlencoded", "logout_token=" + OidcTestProvider.sign(new JWTClaimsSet
                            .Builder().issuer(PROVIDER.issuer()).subject("alice").audience(OidcTestProvider.CLIENT_ID)
                            .issueTime(new java.util.Date()).jwtID("x").claim("events", Map.of(
                                    "http://schemas.openid.net/event/backchannel-logout", Map.of())),
                            PROVIDER.strangerKey()));
            assertThat(forged.status()).isEqualTo(400);
        }
    }

    @Test
    void aProviderThatDoesNotAnswerShouldMake503sNot401sOr500s() throws Exception {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        try (ConfigurableApplicationContext down = replica(Map.of("headroom.security.issuer-uri",
                "http://localhost:" + closed + "/gone"))) {
            int port2 = ((WebServerApplicationContext) down).getWebServer().getPort();
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port2
                    + "/v1/sessions")).header("authorization", bearer(PROVIDER.accessToken("pat", false))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(r.headers().firstValue("retry-after")).isPresent();
            assertThat(JSON.readTree(r.body()).path("error").path("code").asString())
                    .isEqualTo("identity_provider_unavailable");
            HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port2
                    + "/actuator/health/liveness")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).as("the service itself is up").isEqualTo(200);
        }
    }

    /** Another instance of the service on the same database, in oidc mode with the same provider. */
    ConfigurableApplicationContext replica() throws java.sql.SQLException {
        return replica(Map.of());
    }

    /** The same, with some settings changed. */
    ConfigurableApplicationContext replica(Map<String, String> overrides) throws java.sql.SQLException {
        Map<String, Object> p = new LinkedHashMap<>();
        try (var c = dataSource.getConnection()) {
            p.put("spring.datasource.url", c.getMetaData().getURL());
            p.put("spring.datasource.username", c.getMetaData().getUserName());
        }
        p.put("spring.datasource.password", environment.getProperty("spring.datasource.password", ""));
        p.put("server.port", "0");
        p.put("headroom.engine.model", ServiceTestSupport.MODEL.toString());
        p.put("headroom.engine.pattern", ServiceTestSupport.PATTERN.toString());
        p.put("headroom.engine.threads", "1");
        p.put("headroom.sessions.tiers.spill-directory", ServiceTestSupport.tempDir("hr-kv2").toString());
        oidc((k, v) -> p.put(k, v.get()));
        // the logging system is the JVM's: a second application must not turn the log test's levels down
        p.put("logging.level.org.springframework.security", "DEBUG");
        p.put("logging.level.io.headroom", "DEBUG");
        p.putAll(overrides);
        // as arguments: they must win over application.yml, as a deployment's settings do
        return new SpringApplicationBuilder(io.headroom.service.HeadroomApplication.class)
                .run(p.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new));
    }

    @Test
    void everyBadCredentialShouldBe401WithAChallengeAndTheEnvelope() {
        String issuer = PROVIDER.issuer();
        Instant now = Instant.now();
        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("missing", null);
        bad.put("empty bearer", "Bearer ");
        bad.put("not a JWT", "Bearer not-a-token");
        bad.put("basic", "Basic dXNlcjpwYXNz");
        bad.put("expired", bearer(OidcTestProvider.sign(PROVIDER.claims("mallory", issuer,
                OidcTestProvider.AUDIENCE, now.minus(Duration.ofHours(2)), Duration.ofHours(1), false),
                PROVIDER.signingKey())));
        bad.put("not yet valid", bearer(OidcTestProvider.sign(PROVIDER.claims("mallory", issuer,
                OidcTestProvider.AUDIENCE, now.plus(Duration.ofMinutes(10)), Duration.ofHours(1), false),
                PROVIDER.signingKey())));
        bad.put("wrong issuer", bearer(OidcTestProvider.sign(PROVIDER.claims("mallory", issuer + "-other",
                OidcTestProvider.AUDIENCE, now, Duration.ofHours(1), false), PROVIDER.signingKey())));
        bad.put("wrong audience", bearer(OidcTestProvider.sign(PROVIDER.claims("mallory", issuer, "another-service",
                now, Duration.ofHours(1), false), PROVIDER.signingKey())));
        bad.put("alg none", bearer(OidcTestProvider.unsigned(PROVIDER.claims("mallory", issuer,
                OidcTestProvider.AUDIENCE, now, Duration.ofHours(1), true))));
        bad.put("wrongly signed", bearer(OidcTestProvider.sign(PROVIDER.claims("mallory", issuer,
                OidcTestProvider.AUDIENCE, now, Duration.ofHours(1), true), PROVIDER.strangerKey())));
        bad.put("no user claim", bearer(OidcTestProvider.sign(new JWTClaimsSet.Builder().issuer(issuer)
                .audience(OidcTestProvider.AUDIENCE).issueTime(new java.util.Date())
                .expirationTime(java.util.Date.from(now.plusSeconds(3600))), PROVIDER.signingKey())));
        bad.put("unknown API key", "Bearer hr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        for (var e : bad.entrySet()) {
            for (String path : List.of("/v1/sessions", "/v1/admin/audit")) {
                Answer a = call("GET", path, e.getValue(), null);
                assertThat(a.status()).as(e.getKey() + " on " + path + ": " + a.body()).isEqualTo(401);
                assertThat(a.headers().firstValue("www-authenticate")).as(e.getKey()).hasValueSatisfying(
                        h -> assertThat(h).startsWith("Bearer"));
                assertThat(a.code()).as(e.getKey()).isNotBlank();
                if (e.getValue() != null && e.getValue().length() > 12) {
                    assertThat(a.body()).doesNotContain(e.getValue().substring(7));
                }
            }
        }
        // the same token, valid, works: the refusals above are about the credential, not the route
        assertThat(call("GET", "/v1/sessions", bearer(PROVIDER.accessToken("mallory", false)), null).status())
                .isEqualTo(200);
    }

    @Test
    void tokensSignedWithTheProvidersNextKeyShouldWorkWithoutARestart() {
        assertThat(call("GET", "/v1/sessions", bearer(PROVIDER.accessToken("oscar", false)), null).status())
                .isEqualTo(200);
        PROVIDER.rotateKeys(); // a new key id the service has not seen: it fetches the JWKS again
        try {
            assertThat(call("GET", "/v1/sessions", bearer(PROVIDER.accessToken("oscar", false)), null).status())
                    .isEqualTo(200);
            assertThat(call("GET", "/v1/sessions", bearer(OidcTestProvider.sign(PROVIDER.claims("oscar",
                    PROVIDER.issuer(), OidcTestProvider.AUDIENCE, Instant.now(), Duration.ofHours(1), false),
                    PROVIDER.strangerKey())), null).status()).as("a stranger's key under the new key id")
                    .isEqualTo(401);
        } finally {
            PROVIDER.restoreKeys();
        }
        assertThat(call("GET", "/v1/sessions", bearer(PROVIDER.accessToken("oscar", false)), null).status())
                .as("and back to the first key").isEqualTo(200);
    }

    @Test
    void apiKeysShouldWorkInOpenAiClientsAndStopWhenRevokedOrExpired() throws Exception {
        String carol = bearer(PROVIDER.accessToken("carol", false));
        Answer created = call("POST", "/v1/api-keys", carol, "{\"name\": \"ci robot\"}");
        assertThat(created.status()).isEqualTo(201);
        String key = created.json().path("key").asString();
        String keyId = created.json().path("id").asString();
        assertThat(key).startsWith("hr_").hasSizeGreaterThan(40);
        Answer listed = call("GET", "/v1/api-keys", carol, null);
        assertThat(listed.body()).contains(keyId).doesNotContain(key);
        assertThat(jdbc.sql("SELECT count(*) FROM api_keys WHERE position(? in encode(secret_hash, 'escape')) > 0")
                .param(key).query(Long.class).single()).as("only the hash is stored").isZero();

        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl(base() + "/v1").apiKey(key)
                .modelName("headroom-passkey").temperature(0.0).maxTokens(8).maxRetries(0).build();
        ChatResponse answer = model.chat(dev.langchain4j.data.message.UserMessage.from(DOCUMENT + " " + QUESTION));
        assertThat(answer.aiMessage().text().strip()).startsWith("48213");
        OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl(base() + "/v1").apiKey(key)
                .modelName("headroom-passkey").temperature(0.0).maxTokens(8).build();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat(DOCUMENT + " " + QUESTION, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        assertThat(done.get(60, TimeUnit.SECONDS).aiMessage().text().strip()).startsWith("48213");
        Answer session = call("POST", "/v1/sessions", bearer(key), "{}");
        assertThat(session.json().path("owner").asString()).as("a key acts as its owner").isEqualTo("carol");
        assertThat(call("GET", "/v1/api-keys/" + keyId, carol, null).json().path("last_used_at").isNull()).isFalse();
        assertThat(jdbc.sql("SELECT count(*) FROM audit_events WHERE action = 'api_key.use' AND object_id = ?")
                .param(keyId).query(Long.class).single()).isEqualTo(1);

        Answer keyMakesKey = call("POST", "/v1/api-keys", bearer(key), "{\"name\": \"child\"}");
        assertThat(keyMakesKey.status()).isEqualTo(403);
        assertThat(call("GET", "/v1/admin/audit", bearer(key), null).status()).as("keys are never admin")
                .isEqualTo(403);

        assertThat(call("DELETE", "/v1/api-keys/" + keyId, carol, null).status()).isEqualTo(204);
        Answer revoked = call("GET", "/v1/sessions", bearer(key), null);
        assertThat(revoked.status()).isEqualTo(401);
        assertThat(revoked.code()).isEqualTo("invalid_api_key");
        assertThat(revoked.json().path("error").path("message").asString()).contains("revoked");

        Answer second = call("POST", "/v1/api-keys", carol, "{\"name\": \"short-lived\", \"expires_at\": \""
                + Instant.now().plus(Duration.ofDays(1)) + "\"}");
        assertThat(second.status()).isEqualTo(201);
        String secondKey = second.json().path("key").asString();
        assertThat(call("GET", "/v1/sessions", bearer(secondKey), null).status()).isEqualTo(200);
        jdbc.sql("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ?::uuid")
                .param(second.json().path("id").asString()).update();
        Answer expired = call("GET", "/v1/sessions", bearer(secondKey), null);
        assertThat(expired.status()).isEqualTo(401);
        assertThat(expired.json().path("error").path("message").asString()).contains("expired");
        assertThat(call("POST", "/v1/api-keys", carol, "{\"name\": \"past\", \"expires_at\": \"2020-01-01T00:00:00Z\"}")
                .status()).isEqualTo(400);
    }

    /** Path parameters of routes whose objects have no owner (the served model, an admin's user name). */
    static final List<String> UNOWNED = List.of("/v1/models/{id}", "/v1/admin/quotas/{user}");

    @Test
    void everyRouteShouldHideAnotherUsersObjectsAndLetAdminsReadThem() {
        String dave = bearer(PROVIDER.accessToken("dave", false));
        String erin = bearer(PROVIDER.accessToken("erin", false));
        String root = bearer(PROVIDER.accessToken("root", true));
        String session = call("POST", "/v1/sessions", dave, "{\"sparsity\": 0.5}").json().path("id").asString();
        assertThat(call("POST", "/v1/sessions/" + session + "/context", dave,
                "{\"name\": \"memo\", \"text\": \"" + DOCUMENT + "\"}").status()).isEqualTo(200);
        assertThat(call("POST", "/v1/sessions/" + session + "/turns", dave, "{\"message\": \"" + QUESTION
                + "\", \"max_tokens\": 4, \"stream\": false}").status()).isEqualTo(200);
        String key = call("POST", "/v1/api-keys", dave, "{\"name\": \"daves\"}").json().path("id").asString();
        String corpus = call("POST", "/v1/corpora", dave, "{\"name\": \"data room\"}").json().path("id").asString();
        Answer uploaded = upload("/v1/corpora/" + corpus + "/files", dave, "memo.txt", DOCUMENT);
        assertThat(uploaded.status()).as(uploaded.body()).isEqualTo(201);
        String file = uploaded.json().path("data").get(0).path("id").asString();
        Answer jsonl = call("POST", "/v1/files", dave, "--" + BOUNDARY + "\r\nContent-Disposition: form-data; "
                + "name=\"purpose\"\r\n\r\nbatch\r\n" + multipart("questions.jsonl", "{}"),
                "multipart/form-data; boundary=" + BOUNDARY);
        assertThat(jsonl.status()).as(jsonl.body()).isEqualTo(200);
        String openAiFile = jsonl.json().path("id").asString();
        Answer batch = call("POST", "/v1/batches", dave, "{\"input_file_id\": \"" + openAiFile + "\", \"endpoint\": "
                + "\"/v1/chat/completions\", \"completion_window\": \"24h\"}");
        assertThat(batch.status()).as(batch.body()).isEqualTo(200);
        Map<String, String> owned = Map.of("session", session, "api-key", key, "corpus", corpus, "file", file,
                "openai-file", openAiFile, "batch", batch.json().path("id").asString());
        String before = call("GET", "/v1/sessions/" + session + "/messages", dave, null).body();

        OpenApiDocument doc = new OpenApiDocument(JSON.readTree(call("GET", "/v3/api-docs", null, null).body()));
        List<String> uncovered = new ArrayList<>();
        int checked = 0;
        for (OpenApiDocument.Operation op : doc.operations()) {
            if (!op.path().contains("{") || UNOWNED.contains(op.path())) {
                continue;
            }
            String path;
            if (op.path().startsWith("/v1/sessions/{id}")) {
                path = op.path().replace("{id}", owned.get("session"));
            } else if (op.path().startsWith("/v1/api-keys/{id}")) {
                path = op.path().replace("{id}", owned.get("api-key"));
            } else if (op.path().startsWith("/v1/corpora/{id}")) {
                path = op.path().replace("{id}", owned.get("corpus")).replace("{file_id}", owned.get("file"));
            } else if (op.path().startsWith("/v1/files/{id}")) {
                path = op.path().replace("{id}", owned.get("openai-file"));
            } else if (op.path().startsWith("/v1/batches/{id}")) {
                path = op.path().replace("{id}", owned.get("batch"));
            } else {
                uncovered.add(op.method() + " " + op.path());
                continue;
            }
            JsonNode schema = op.bodySchema();
            boolean multipart = op.node().at("/requestBody/content").has("multipart/form-data");
            String body = multipart ? multipart("x.txt", "erin's text") : schema == null ? null
                    : doc.sample(schema).toString();
            String type = multipart ? "multipart/form-data; boundary=" + BOUNDARY : "application/json";
            Answer a = call(op.method(), path, erin, body, type);
            assertThat(a.status()).as("erin: %s %s -> %s", op.method(), path, a.body()).isEqualTo(404);
            assertThat(a.code()).as(op.id()).endsWith("not_found");
            Answer admin = call(op.method(), path, root, body, type);
            if (op.method().equals("GET")) {
                assertThat(admin.status()).as("admin reads %s", path).isEqualTo(200);
            } else {
                assertThat(admin.status()).as("admin may not change %s %s", op.method(), path).isEqualTo(404);
            }
            checked++;
        }
        assertThat(uncovered).as("routes with an object id but no ownership check in this test").isEmpty();
        assertThat(checked).isGreaterThanOrEqualTo(7);
        assertThat(call("GET", "/v1/sessions/" + session + "/messages", dave, null).body()).isEqualTo(before);
        assertThat(call("GET", "/v1/corpora/" + corpus + "/files", dave, null).json().path("data").size())
                .as("dave's corpus still holds his one file").isEqualTo(1);
        assertThat(call("GET", "/v1/sessions", erin, null).body()).doesNotContain(session);
        assertThat(call("GET", "/v1/api-keys", erin, null).body()).doesNotContain(key);
        assertThat(call("POST", "/v1/chat/completions", erin, "{\"model\": \"headroom-passkey\", \"max_tokens\": 2, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"headroom_session\": \"" + session
                + "\"}").status()).isEqualTo(404);

        // admin routes: 403 for users, the whole picture for admins
        for (String path : List.of("/v1/admin/sessions", "/v1/admin/audit", "/v1/admin/engine",
                "/v1/admin/quotas/dave")) {
            Answer refused = call("GET", path, erin, null);
            assertThat(refused.status()).as(path).isEqualTo(403);
            assertThat(refused.code()).isEqualTo("permission_denied");
            assertThat(call("GET", path, root, null).status()).as(path).isEqualTo(200);
        }
        assertThat(call("GET", "/v1/admin/sessions?owner=dave", root, null).body()).contains(session);
        JsonNode audit = call("GET", "/v1/admin/audit?owner=dave&limit=200", root, null).json();
        List<String> actions = new ArrayList<>();
        audit.path("data").forEach(e -> actions.add(e.path("actor").asString() + " " + e.path("action").asString()));
        assertThat(actions).contains("dave session.create", "dave session.context.append", "dave session.turn",
                "dave api_key.create", "root session.read", "root session.messages.read");
    }

    @Test
    void quotasShouldAnswer429NamingTheQuotaAndWriteNothing() {
        String root = bearer(PROVIDER.accessToken("root", true));
        String frank = bearer(PROVIDER.accessToken("frank", false));
        assertThat(call("PUT", "/v1/admin/quotas/frank", root, "{\"sessions\": 1}").status()).isEqualTo(200);
        String session = call("POST", "/v1/sessions", frank, "{}").json().path("id").asString();
        Answer second = call("POST", "/v1/sessions", frank, "{}");
        assertQuota(second, "sessions");
        assertThat(call("GET", "/v1/sessions", frank, null).json().path("total").asLong()).isEqualTo(1);

        assertThat(call("PUT", "/v1/admin/quotas/frank", root, "{\"stored_tokens\": 20}").status()).isEqualTo(200);
        String append = "{\"name\": \"memo\", \"text\": \"" + DOCUMENT + "\"}";
        assertQuota(call("POST", "/v1/sessions/" + session + "/context", frank, append), "stored_tokens");
        assertThat(call("GET", "/v1/sessions/" + session, frank, null).json().path("token_count").asInt()).isZero();

        assertThat(call("PUT", "/v1/admin/quotas/frank", root, "{\"kv_bytes\": 1}").status()).isEqualTo(200);
        assertThat(call("POST", "/v1/sessions/" + session + "/context", frank, append).status()).isEqualTo(200);
        int tokens = call("GET", "/v1/sessions/" + session, frank, null).json().path("token_count").asInt();
        assertQuota(call("POST", "/v1/sessions/" + session + "/turns", frank,
                "{\"message\": \"" + QUESTION + "\", \"stream\": false, \"max_tokens\": 4}"), "kv_bytes");
        assertThat(call("GET", "/v1/sessions/" + session, frank, null).json().path("token_count").asInt())
                .isEqualTo(tokens);
        assertThat(call("GET", "/v1/sessions/" + session + "/messages", frank, null).json().path("data").size())
                .isZero();

        assertThat(call("PUT", "/v1/admin/quotas/frank", root, "{\"tokens_per_minute\": 5}").status()).isEqualTo(200);
        assertQuota(call("POST", "/v1/chat/completions", frank, "{\"model\": \"headroom-passkey\", \"max_tokens\": 2, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"" + QUESTION + "\"}]}"), "tokens_per_minute");

        assertThat(call("PUT", "/v1/admin/quotas/grace", root, "{\"requests_per_minute\": 3}").status())
                .isEqualTo(200);
        String grace = bearer(PROVIDER.accessToken("grace", false));
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Answer a = call("GET", "/v1/sessions", grace, null);
            statuses.add(a.status());
            if (a.status() == 429) {
                assertQuota(a, "requests_per_minute");
            }
        }
        // a minute boundary may fall between the requests and reset the count once, never twice
        assertThat(statuses).as("%s", statuses).contains(429);
        assertThat(statuses.subList(0, 3)).containsOnly(200);
        JsonNode q = call("GET", "/v1/admin/quotas/frank", root, null).json();
        assertThat(q.path("limits").path("tokens_per_minute").asLong()).isEqualTo(5);
        assertThat(q.path("usage").path("sessions").asInt()).isEqualTo(1);
    }

    static void assertQuota(Answer a, String quota) {
        assertThat(a.status()).as(a.body()).isEqualTo(429);
        assertThat(a.code()).isEqualTo("quota_exceeded");
        assertThat(a.json().path("error").path("param").asString()).isEqualTo(quota);
        assertThat(a.headers().firstValue("retry-after")).isPresent();
    }

    @Test
    void everyResponseShouldCarryTheSecurityHeadersAndNoCors() {
        String token = bearer(PROVIDER.accessToken("heidi", false));
        for (Answer a : List.of(call("GET", "/", null, null), call("GET", "/v1/models", token, null),
                call("GET", "/v1/sessions", null, null))) {
            String csp = a.headers().firstValue("content-security-policy").orElse("");
            assertThat(csp).isEqualTo(SecurityConfiguration.CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'")
                    .doesNotContain("unsafe-inline");
            assertThat(a.headers().firstValue("x-content-type-options")).hasValue("nosniff");
            assertThat(a.headers().firstValue("referrer-policy")).hasValue("no-referrer");
            assertThat(a.headers().firstValue("x-frame-options")).hasValue("DENY");
        }
        HttpRequest preflight = HttpRequest.newBuilder(URI.create(base() + "/v1/sessions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("origin", "https://evil.example")
                .header("access-control-request-method", "POST").build();
        try {
            HttpResponse<String> r = http.send(preflight, HttpResponse.BodyHandlers.ofString());
            assertThat(r.headers().firstValue("access-control-allow-origin")).isEmpty();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void signInShouldRefuseToReturnAnywhereButThisSite() {
        for (String target : List.of("https://evil.example/", "//evil.example", "/\\evil.example",
                "javascript:alert(1)",
                "/\r\nSet-Cookie:x=y")) {
            Browser b = new Browser();
            Browser.Hop h = b.get(base() + "/auth/login?return_to="
                    + URLEncoder.encode(target, StandardCharsets.UTF_8));
            assertThat(h.status()).as(target).isEqualTo(400);
        }
        Browser ok = signIn("ivan", false, "/v1/models");
        assertThat(ok.seen.getLast().uri().getPath()).isEqualTo("/v1/models");
    }

    @Test
    void secretsShouldNeverReachTheLogs(CapturedOutput output) {
        Browser browser = signIn("judy", false, "/auth/me");
        String token = PROVIDER.accessToken("judy", false);
        String key = call("POST", "/v1/api-keys", bearer(token), "{\"name\": \"log test\"}").json().path("key")
                .asString();
        call("GET", "/v1/sessions", bearer(key), null);
        call("GET", "/v1/sessions", bearer(key + "x"), null);
        String expired = OidcTestProvider.sign(PROVIDER.claims("judy", PROVIDER.issuer(), OidcTestProvider.AUDIENCE,
                Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1), false), PROVIDER.signingKey());
        call("GET", "/v1/sessions", bearer(expired), null);
        String cookie = browser.cookie(serviceHost(), "HEADROOM_SESSION");
        String logs = output.getAll();
        assertThat(logs).contains("judy");
        Answer metrics = call("GET", "/actuator/prometheus", null, null);
        assertThat(metrics.status()).isEqualTo(200);
        assertThat(metrics.body()).contains("http_server_requests");
        for (String secret : List.of(OidcTestProvider.CLIENT_SECRET, token, token.split("\\.")[2], key,
                key.substring(3), expired.split("\\.")[2], cookie)) {
            assertThat(logs).as("a secret in the logs").doesNotContain(secret);
            assertThat(metrics.body()).as("a secret in the metrics").doesNotContain(secret);
        }
    }
}
