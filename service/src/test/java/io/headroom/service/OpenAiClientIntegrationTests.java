package io.headroom.service;

import static io.headroom.service.ServiceTestSupport.DOCUMENT;
import static io.headroom.service.ServiceTestSupport.QUESTION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A real OpenAI client library (LangChain4j's OpenAI chat models) pointed at the running service:
 * non-streaming and streaming completions work unchanged.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ExtendWith(ThreadDumpOnTimeout.class)
class OpenAiClientIntegrationTests {

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry r) {
        ServiceTestSupport.commonProperties(r);
    }

    @LocalServerPort
    int port;

    String prompt() {
        return DOCUMENT + " " + QUESTION;
    }

    @Test
    void blockingChatModelShouldGetTheAnswer() {
        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl("http://localhost:" + port + "/v1")
                .apiKey("not-needed").modelName("headroom-passkey").temperature(0.0).maxTokens(8).build();
        ChatResponse response = model.chat(dev.langchain4j.data.message.UserMessage.from(prompt()));
        assertThat(response.aiMessage().text().strip()).startsWith("48213");
        assertThat(response.tokenUsage().outputTokenCount()).isBetween(1, 8);
        assertThat(response.tokenUsage().inputTokenCount()).isPositive();
    }

    @Test
    void streamingChatModelShouldStreamTheAnswer() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder()
                .baseUrl("http://localhost:" + port + "/v1").apiKey("not-needed").modelName("headroom-passkey")
                .temperature(0.0).maxTokens(8).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(prompt(), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                partial.append(text);
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
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        assertThat(partial.toString().strip()).startsWith("48213");
        assertThat(response.aiMessage().text()).isEqualTo(partial.toString());
    }

    @Test
    void unknownModelShouldBeReportedThroughTheClient() {
        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl("http://localhost:" + port + "/v1")
                .apiKey("not-needed").modelName("gpt-4o").maxTokens(4).maxRetries(0).build();
        assertThatThrownBy(() -> model.chat("hello")).hasMessageContaining("does not exist");
    }
}
