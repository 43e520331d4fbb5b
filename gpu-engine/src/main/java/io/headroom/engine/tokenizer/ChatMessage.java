package io.headroom.engine.tokenizer;

import java.util.Objects;

/** One message of a conversation, as chat templates see it. */
public record ChatMessage(String role, String content) {

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }
}
