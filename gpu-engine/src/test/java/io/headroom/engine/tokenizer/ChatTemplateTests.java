package io.headroom.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Template features real models use, beyond what the golden fixtures cover. */
class ChatTemplateTests {

    @Test
    void modelWithoutTemplateShouldGetThePlainLayout() {
        ChatTemplate t = new ChatTemplate(null, null, null);
        assertThat(t.isModelTemplate()).isFalse();
        assertThat(t.render(List.of(new ChatMessage("system", "be brief"), ChatMessage.user("hi")), true))
                .isEqualTo("system: be brief\nuser: hi\nassistant: ");
    }

    @Test
    void raiseExceptionShouldRejectTheConversationWithTheTemplatesMessage() {
        ChatTemplate t = new ChatTemplate("{% if messages[0]['role'] != 'user' %}"
                + "{{ raise_exception('Conversation must start with user') }}{% endif %}ok", "<s>", "</s>");
        assertThat(t.render(List.of(ChatMessage.user("x")), false)).isEqualTo("ok");
        assertThatThrownBy(() -> t.render(List.of(new ChatMessage("assistant", "x")), false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Conversation must start with user");
    }

    @Test
    void bosAndEosTokensShouldBeAvailableAndBlocksTrimmed() {
        ChatTemplate t = new ChatTemplate("{{ bos_token }}\n{% for m in messages %}\n"
                + "[{{ m.role }}] {{ m.content }}{{ eos_token }}\n{% endfor %}", "<s>", "</s>");
        assertThat(t.render(List.of(ChatMessage.user("a"), new ChatMessage("assistant", "b")), false))
                .isEqualTo("<s>\n[user] a</s>\n[assistant] b</s>\n");
    }
}
