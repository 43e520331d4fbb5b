package io.headroom.service.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.http.codec.ServerSentEvent;

/** Event framing as OpenAI writes it: a space after each field's colon, a line per value line. */
class ServerSentEventWriterTests {

    @Test
    void fieldsShouldBeWrittenWithASpaceAfterTheColon() {
        assertThat(ServerSentEventWriter.frame(ServerSentEvent.builder("{\"a\":1}").event("token").build()))
                .isEqualTo("event: token\ndata: {\"a\":1}\n\n");
        assertThat(ServerSentEventWriter.frame(ServerSentEvent.builder("[DONE]").build()))
                .isEqualTo("data: [DONE]\n\n");
    }

    @Test
    void aValueWithLineBreaksShouldBecomeOneFieldPerLineNotEndTheEvent() {
        assertThat(ServerSentEventWriter.frame(ServerSentEvent.builder("one\ntwo\r\nthree").id("7")
                .retry(Duration.ofSeconds(2)).comment("c").build()))
                .isEqualTo(": c\nid: 7\nretry: 2000\ndata: one\ndata: two\ndata: three\n\n");
    }
}
