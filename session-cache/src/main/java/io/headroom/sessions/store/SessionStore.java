package io.headroom.sessions.store;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.stereotype.Component;
import org.springframework.transaction.annotation.Transactional;

/**
 * Sessions in PostgreSQL: short transactions, called off the event loop. Each commit checks that
 * the session still has the token count the engine worked from, so two writers can never
 * interleave segments (the row's version column backs this up).
 */
@Component
public class SessionStore {

    /** One document or message, in the session's order. */
    public record Segment(int seq, String kind, String role, String name, String content, int[] tokens) {
    }

    private final SessionRepository sessions;
    private final DocumentRepository documents;
    private final MessageRepository messages;
    private final StreamingStateRepository streamingStates;
    private final Clock clock;

    public SessionStore(SessionRepository sessions, DocumentRepository documents, MessageRepository messages,
            StreamingStateRepository streamingStates) {
        this.sessions = sessions;
        this.documents = documents;
        this.messages = messages;
        this.streamingStates = streamingStates;
        this.clock = Clock.systemUTC();
    }

    @Transactional
    public SessionRecord create(String owner, String model, Double sparsity, String systemPrompt, int[] systemTokens) {
        SessionRecord s = new SessionRecord(UUID.randomUUID(), owner, model, sparsity, systemPrompt, clock.instant());
        sessions.save(s);
        if (systemPrompt != null) {
            messages.save(new MessageRecord(s.getId(), owner, s.takeSeq(), "system", systemPrompt, systemTokens,
                    clock.instant()));
            s.grow(systemTokens.length, clock.instant());
        }
        return s;
    }

    @Transactional(readOnly = true)
    public Optional<SessionRecord> find(String owner, UUID id) {
        return sessions.findByIdAndOwner(id, owner);
    }

    @Transactional(readOnly = true)
    public Page<SessionRecord> list(String owner, Pageable pageable) {
        return sessions.findByOwner(owner, pageable);
    }

    @Transactional
    public boolean delete(String owner, UUID id) {
        Optional<SessionRecord> s = sessions.findByIdAndOwner(id, owner);
        s.ifPresent(sessions::delete);
        return s.isPresent();
    }

    /** Documents and messages of a session in order (the session's whole token sequence). */
    @Transactional(readOnly = true)
    public List<Segment> segments(UUID sessionId) {
        List<Segment> out = new ArrayList<>();
        for (DocumentRecord d : documents.findBySessionIdOrderBySeq(sessionId)) {
            out.add(new Segment(d.getSeq(), "document", "user", d.getName(), d.getContent(), d.tokens()));
        }
        for (MessageRecord m : messages.findBySessionIdOrderBySeq(sessionId)) {
            out.add(new Segment(m.getSeq(), "message", m.getRole(), null, m.getContent(), m.tokens()));
        }
        out.sort(Comparator.comparingInt(Segment::seq));
        return out;
    }

    @Transactional(readOnly = true)
    public List<MessageRecord> messages(UUID sessionId) {
        return messages.findBySessionIdOrderBySeq(sessionId);
    }

    @Transactional(readOnly = true)
    public Optional<StreamingStateRecord> streamingState(UUID sessionId) {
        return streamingStates.findById(sessionId);
    }

    /** Adds a document the engine has prefilled; {@code expectedTokens} is the count it started from. */
    @Transactional
    public void commitDocument(String owner, UUID id, int expectedTokens, String name, String content, int[] tokens,
            byte[] streamingState) {
        SessionRecord s = locked(owner, id, expectedTokens);
        documents.save(new DocumentRecord(id, owner, s.takeSeq(), name, content, tokens, clock.instant()));
        s.grow(tokens.length, clock.instant());
        saveStreaming(id, s.getTokenCount(), streamingState);
    }

    /** Adds a user message and the assistant's answer, both already in the engine's KV. */
    @Transactional
    public void commitTurn(String owner, UUID id, int expectedTokens, String userContent, int[] userTokens,
            String assistantContent, int[] assistantTokens, byte[] streamingState) {
        SessionRecord s = locked(owner, id, expectedTokens);
        messages.save(new MessageRecord(id, owner, s.takeSeq(), "user", userContent, userTokens, clock.instant()));
        messages.save(new MessageRecord(id, owner, s.takeSeq(), "assistant", assistantContent, assistantTokens,
                clock.instant()));
        s.grow(userTokens.length + assistantTokens.length, clock.instant());
        saveStreaming(id, s.getTokenCount(), streamingState);
    }

    private SessionRecord locked(String owner, UUID id, int expectedTokens) {
        SessionRecord s = sessions.findByIdAndOwner(id, owner)
                .orElseThrow(() -> new SessionNotFoundException(id));
        if (s.getTokenCount() != expectedTokens) {
            throw new IllegalStateException("session " + id + " changed while the engine worked on it: "
                    + s.getTokenCount() + " tokens stored, " + expectedTokens + " expected");
        }
        return s;
    }

    private void saveStreaming(UUID id, int tokenCount, byte[] state) {
        StreamingStateRecord r = streamingStates.findById(id).orElseGet(() -> new StreamingStateRecord(id));
        r.update(tokenCount, state, clock.instant());
        streamingStates.save(r);
    }
}
