package io.headroom.engine.golden;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.tokenizer.ChatMessage;
import io.headroom.engine.tokenizer.ChatTemplate;
import io.headroom.engine.tokenizer.StreamingDetokenizer;
import io.headroom.engine.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import tools.jackson.databind.JsonNode;

/**
 * Tokenisation, decoding and chat templates against transformers' outputs recorded by
 * {@code src/reference/make_golden_fixtures.py}.
 */
class TokenizerParityTests {

    static final List<String> CASES = GoldenFixture.CASES;

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void encodingWithSpecialTokensShouldMatchTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        try (TextTokenizer tok = TextTokenizer.load(f.dir())) {
            for (JsonNode e : f.expected().get("encodings")) {
                String text = e.get("text").asString();
                assertThat(tok.encode(text, true)).as("%s: %s", name, text)
                        .containsExactly(GoldenFixture.ints(e.get("ids")));
                assertThat(tok.decode(GoldenFixture.ints(e.get("ids")), true)).as("%s decode: %s", name, text)
                        .isEqualTo(e.get("decoded").asString());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void chatTemplateShouldRenderLikeTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ChatTemplate template = ChatTemplate.load(f.dir());
        JsonNode chats = f.expected().get("chat");
        assertThat(template.isModelTemplate()).isEqualTo(!chats.isEmpty());
        for (JsonNode chat : chats) {
            List<ChatMessage> messages = new ArrayList<>();
            chat.get("messages").forEach(m -> messages.add(new ChatMessage(m.get("role").asString(),
                    m.get("content").asString())));
            assertThat(template.render(messages, chat.get("add_generation_prompt").asBoolean()))
                    .isEqualTo(chat.get("text").asString());
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void streamingDecodeShouldConcatenateToTheFullTextWithoutBrokenCharacters(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        try (TextTokenizer tok = TextTokenizer.load(f.dir())) {
            for (JsonNode e : f.expected().get("encodings")) {
                int[] ids = tok.encode(e.get("text").asString(), false);
                StreamingDetokenizer stream = tok.streamingDecoder();
                StringBuilder joined = new StringBuilder();
                for (int id : ids) {
                    String piece = stream.push(id);
                    assertThat(piece).as("piece of %s", e.get("text")).doesNotContain("\uFFFD");
                    joined.append(piece);
                }
                joined.append(stream.flush());
                assertThat(joined.toString()).isEqualTo(tok.decode(ids, true));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void longInputsShouldNotBeTruncated(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        try (TextTokenizer tok = TextTokenizer.load(f.dir())) {
            String text = "the contract shall terminate on notice 12345. ".repeat(400);
            int[] ids = tok.encode(text, false);
            assertThat(ids.length).isGreaterThan(4000);
            assertThat(tok.decode(ids, true)).isEqualTo(text);
        }
    }
}
