package io.headroom.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The run command with {@code --headroom.security.mode=dev-oidc}: a person signs in through the
 * provider inside the service, on its sign-in page, as a browser does (the form, the redirects,
 * the cookie), and can then use the API from that session and make an API key.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "headroom.security.mode=dev-oidc")
@ExtendWith(ThreadDumpOnTimeout.class)
class DevOidcIntegrationTests {

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
    }

    @LocalServerPort
    int port;

    @Test
    void aPersonShouldSignInOnTheBuiltInProvidersPageAndUseTheApi() {
        Browser browser = new Browser();
        String base = "http://localhost:" + port;
        List<Browser.Hop> hops = browser.follow(browser.get(base + "/"));
        assertThat(hops.getLast().body()).contains("href=\"/auth/login\"");

        hops = browser.follow(browser.get(base + "/auth/login"));
        Browser.Hop page = hops.getLast();
        assertThat(page.status()).isEqualTo(200);
        assertThat(page.body()).contains("name=\"username\"", "name=\"claims\"");

        Browser.Hop submitted = browser.post(page.uri().toString(), "application/x-www-form-urlencoded",
                "username=ann&claims=" + URLEncoder.encode("{\"groups\": [\"admin\"]}", StandardCharsets.UTF_8));
        List<Browser.Hop> back = browser.follow(submitted);
        Browser.Hop home = back.getLast();
        assertThat(home.uri().getPath()).isEqualTo("/");
        assertThat(home.body()).contains("Signed in as <strong>ann</strong> (admin)", "Sign out");

        JsonNode me = JsonMapper.builder().build().readTree(browser.get(base + "/auth/me").body());
        assertThat(me.path("user").asString()).isEqualTo("ann");
        Browser.Hop key = browser.post(base + "/v1/api-keys", "application/json", "{\"name\": \"laptop\"}",
                me.path("csrf_header").asString(), me.path("csrf_token").asString());
        assertThat(key.status()).as(key.body()).isEqualTo(201);
        assertThat(browser.get(base + "/v1/admin/engine").status()).isEqualTo(200);
    }
}
