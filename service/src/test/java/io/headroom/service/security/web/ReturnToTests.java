package io.headroom.service.security.web;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReturnToTests {

    @Test
    void onlyPathsOnThisSiteShouldBeAccepted() {
        assertThat(ReturnTo.valid("/")).isTrue();
        assertThat(ReturnTo.valid("/portal/sessions?x=1#top")).isTrue();
        String[] bad = {null, "", "portal", "https://evil.example", "//evil.example", "/\\evil.example",
            "/ok\\..\\x", "javascript:alert(1)", "/a\r\nSet-Cookie:x", "/a b", "/\u0000",
            "/" + "a".repeat(ReturnTo.MAX_LENGTH)};
        for (String b : bad) {
            assertThat(ReturnTo.valid(b)).as(String.valueOf(b)).isFalse();
        }
    }
}
