package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.sessions.store.SessionStore;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Tier movement: with a device budget of one byte every session leaves the engine after its turn,
 * and with a host budget of one byte it goes on to a spill file. Its next turn pages the KV back
 * from disk and must continue exactly as a session that never left: the same greedy tokens as the
 * engine produces from the session's whole token sequence in one go.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class KvTiersIntegrationTests {

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
        r.add("headroom.sessions.tiers.device-budget", () -> "1B");
        r.add("headroom.sessions.tiers.host-budget", () -> "1B");
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    @Autowired
    LoadedModel model;

    @Autowired
    SessionStore store;

    JsonNode post(WebTestClient client, String path, String body) {
        return json.readTree(client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().is2xxSuccessful().expectBody().returnResult().getResponseBody());
    }

    @Test
    void sessionSpilledToDiskShouldContinueExactlyAsOneThatStayedResident() {
        WebTestClient client = WebTestClient.bindToServer().baseUrl("http://localhost:" + port)
                .responseTimeout(Duration.ofSeconds(60)).build();
        String id = post(client, "/v1/sessions", "{\"sparsity\": 0.5}").get("id").asString();
        post(client, "/v1/sessions/" + id + "/context", "{\"text\": \"" + DOCUMENT + "\"}");
        post(client, "/v1/sessions/" + id + "/turns", "{\"message\": \"" + QUESTION
                + "\", \"max_tokens\": 8, \"stream\": false}");

        JsonNode session = json.readTree(client.get().uri("/v1/sessions/" + id).exchange().expectBody()
                .returnResult().getResponseBody());
        assertThat(session.get("state").asString()).isEqualTo("cold");
        assertThat(session.at("/kv_bytes/device").asLong()).isZero();
        assertThat(session.at("/kv_bytes/disk").asLong()).isPositive();

        int[] before = store.segments(UUID.fromString(id)).stream().flatMapToInt(s -> Arrays.stream(s.tokens()))
                .toArray();
        JsonNode second = post(client, "/v1/sessions/" + id + "/turns", "{\"message\": \"" + QUESTION
                + "\", \"max_tokens\": 12, \"stream\": false}");
        assertThat(second.at("/timing/kv_source").asString()).isEqualTo("disk");

        // the reference: the whole sequence prefilled at once, then the same question, greedily
        AttentionPattern pattern = AttentionPattern.load(ServiceTestSupport.PATTERN);
        DuoLayout layout = new DuoLayout(pattern.retrievalBySparsity(0.5), pattern.sinkSize(), pattern.recentSize());
        int[] question = model.tokenizer().encode(" " + QUESTION, false);
        int[] all = Arrays.copyOf(before, before.length + question.length);
        System.arraycopy(question, 0, all, before.length, question.length);
        GenerationResult expected = model.generator(layout).generate(GenerationRequest.greedy(all, 12,
                Set.copyOf(model.config().eosTokenIds())));
        assertThat(second.at("/message/content").asString()).isEqualTo(expected.text());
        assertThat(second.at("/message/token_count").asInt()).isEqualTo(expected.tokens().length);
    }
}
