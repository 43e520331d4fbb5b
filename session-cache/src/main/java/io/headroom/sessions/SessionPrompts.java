package io.headroom.sessions;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.tokenizer.ChatMessage;
import io.headroom.sessions.store.SessionStore;
import java.util.ArrayList;
import java.util.List;

/**
 * The tokens each operation adds to a session. A model with a chat template gets each new message
 * rendered by the template (the difference between the conversation rendered with and without it,
 * when the template renders prefixes stably; else the message rendered alone). A model without one
 * is treated as a completion model: text is appended as is (a document after a newline, a message
 * after a space).
 *
 * <p>A corpus session's corpus is stood in for, in the history the template renders, by one short
 * document: what the template adds for the next message depends on the messages before it, not on
 * their length. So a corpus document's tokens here are what {@link #document} would add after the
 * corpus's earlier documents, and a session started from a corpus snapshot is the same as one that
 * appended its documents one by one.
 */
public final class SessionPrompts {

    /** Stands in for a corpus in the history a chat template renders. */
    private static final ChatMessage CORPUS_STAND_IN = new ChatMessage("user", documentText("corpus", "..."));

    private final LoadedModel model;

    public SessionPrompts(LoadedModel model) {
        this.model = model;
    }

    private boolean templated() {
        return model.chatTemplate().isModelTemplate();
    }

    /** A system prompt, first in a session or right after its corpus ({@code start} tokens). */
    public int[] system(String prompt, boolean afterCorpus, int start) {
        return delta(afterCorpus ? List.of(CORPUS_STAND_IN) : List.of(), List.of(new ChatMessage("system", prompt)),
                false, start);
    }

    /** A document appended after {@code history} ({@code start} tokens). */
    public int[] document(List<ChatMessage> history, String name, String text, int start) {
        return templated() ? delta(history, List.of(new ChatMessage("user", documentText(name, text))), false, start)
                : model.tokenizer().encode(start > 0 ? "\n" + text : text, start == 0);
    }

    /** A user message after {@code history} ({@code start} tokens), with the prompt for the answer. */
    public int[] turn(List<ChatMessage> history, String message, int start) {
        return templated() ? delta(history, List.of(ChatMessage.user(message)), true, start)
                : model.tokenizer().encode(start > 0 ? " " + message : message, start == 0);
    }

    /** A corpus document as a session reads it: {@link #document} after the corpus's earlier documents. */
    public int[] corpusDocument(boolean first, String name, String text) {
        return document(first ? List.of() : List.of(CORPUS_STAND_IN), name, text, first ? 0 : 1);
    }

    /** A whole conversation without a session (a stateless completion). */
    public int[] completion(List<ChatMessage> messages) {
        return templated() ? model.tokenizer().encode(model.chatTemplate().render(messages, true), false)
                : model.tokenizer().encode(joined(messages), true);
    }

    /** A whole conversation after a corpus. */
    public int[] completionAfterCorpus(List<ChatMessage> messages) {
        return templated() ? delta(List.of(CORPUS_STAND_IN), messages, true, 1)
                : model.tokenizer().encode(" " + joined(messages), false);
    }

    /** The conversation the template renders the next message after. */
    public List<ChatMessage> history(boolean corpus, List<SessionStore.Segment> segments) {
        List<ChatMessage> out = new ArrayList<>();
        if (corpus) {
            out.add(CORPUS_STAND_IN);
        }
        for (SessionStore.Segment seg : segments) {
            out.add(new ChatMessage(seg.role(), seg.kind().equals("document")
                    ? documentText(seg.name(), seg.content()) : seg.content()));
        }
        return out;
    }

    /** Tokens that rendering {@code next} after {@code history} adds. */
    private int[] delta(List<ChatMessage> history, List<ChatMessage> next, boolean generationPrompt, int start) {
        if (!templated()) {
            return model.tokenizer().encode(joined(next), start == 0);
        }
        List<ChatMessage> all = new ArrayList<>(history);
        all.addAll(next);
        String before = history.isEmpty() ? "" : model.chatTemplate().render(history, false);
        String after = model.chatTemplate().render(all, generationPrompt);
        String delta = after.startsWith(before) ? after.substring(before.length())
                : model.chatTemplate().render(next, generationPrompt);
        return model.tokenizer().encode(delta, false);
    }

    private static String joined(List<ChatMessage> messages) {
        return String.join(" ", messages.stream().map(ChatMessage::content).toList());
    }

    private static String documentText(String name, String text) {
        return name == null ? text : "Document: " + name + "\n\n" + text;
    }
}
