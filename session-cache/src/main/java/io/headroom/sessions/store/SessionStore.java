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
    private final PendingTurnRepository pendingTurns;
    private final Clock clock;

    public SessionStore(SessionRepository sessions, DocumentRepository documents, MessageRepository messages,
            StreamingStateRepository streamingStates, PendingTurnRepository pendingTurns) {
        this.sessions = sessions;
        this.documents = documents;
        this.messages = messages;
        this.streamingStates = streamingStates;
        this.pendingTurns = pendingTurns;
        this.clock = Clock.systemUTC();
    }

    /**
     * Creates a session, or throws {@link io.headroom.sessions.QuotaExceededException} when the
     * owner holds {@code maxSessions} already (counted under a per-owner lock, so concurrent creates
     * cannot pass the limit together).
     */
    @Transactional
    public SessionRecord create(String owner, String model, Double sparsity, String systemPrompt, int[] systemTokens,
            int maxSessions) {
        return create(owner, model, sparsity, null, 0, systemPrompt, systemTokens, maxSessions);
    }

    /**
     * Creates a session whose first {@code corpusTokens} tokens are the corpus snapshot
     * {@code snapshotId} (none when null), followed by the system prompt if there is one.
     */
    @Transactional
    public SessionRecord create(String owner, String model, Double sparsity, UUID snapshotId, int corpusTokens,
            String systemPrompt, int[] systemTokens, int maxSessions) {
        sessions.lockOwner(owner);
        if (sessions.countByOwner(owner) >= maxSessions) {
            throw new io.headroom.sessions.QuotaExceededException("sessions", "you hold " + maxSessions
                    + " sessions, the most your quota allows; delete one first", java.time.Duration.ofMinutes(1));
        }
        SessionRecord s = new SessionRecord(UUID.randomUUID(), owner, model, sparsity, systemPrompt, clock.instant());
        if (snapshotId != null) {
            s.startFromCorpus(snapshotId, corpusTokens);
        }
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

    /** A session whoever owns it: for an admin's reads only. */
    @Transactional(readOnly = true)
    public Optional<SessionRecord> findAnyOwner(UUID id) {
        return sessions.findById(id);
    }

    /** Every user's sessions, or one user's when {@code owner} is given: for an admin's reads only. */
    @Transactional(readOnly = true)
    public Page<SessionRecord> listAnyOwner(String owner, Pageable pageable) {
        return owner == null ? sessions.findAll(pageable) : sessions.findByOwner(owner, pageable);
    }

    /** Tokens stored across the owner's sessions. */
    @Transactional(readOnly = true)
    public long storedTokens(String owner) {
        return sessions.sumTokensByOwner(owner);
    }

    /** The ids of the owner's sessions. */
    @Transactional(readOnly = true)
    public List<UUID> sessionIds(String owner) {
        return sessions.idsByOwner(owner);
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

    /**
     * Records that a turn has been accepted, before the engine starts it: if the service dies before
     * {@link #commitTurn}, {@link #recoverInterruptedTurns} commits it as a cancelled answer.
     */
    @Transactional
    public void beginTurn(String owner, UUID id, int expectedTokens, String userContent, int[] userTokens) {
        // the caller holds the session's lock and read expectedTokens under it; commitTurn checks it again
        pendingTurns.begin(id, owner, expectedTokens, userContent, TokenIds.toBytes(userTokens), clock.instant());
    }

    /** Forgets a turn that failed before it had an answer (the client got the error). */
    @Transactional
    public void abandonTurn(UUID id) {
        pendingTurns.end(id);
    }

    /** Saves a running turn's answer so far; a no-op once the turn is committed. */
    @Transactional
    public void savePartialAnswer(UUID id, int expectedTokens, String content, int[] tokens) {
        pendingTurns.savePartial(id, expectedTokens, content, TokenIds.toBytes(tokens), clock.instant());
    }

    /**
     * Adds a user message and the assistant's answer, both already in the engine's KV, and ends the
     * pending turn; {@code finishReason} is {@code stop}, {@code length} or {@code cancelled}.
     */
    @Transactional
    public void commitTurn(String owner, UUID id, int expectedTokens, String userContent, int[] userTokens,
            String assistantContent, int[] assistantTokens, String finishReason, byte[] streamingState) {
        SessionRecord s = locked(owner, id, expectedTokens);
        appendTurn(s, userContent, userTokens, assistantContent, assistantTokens, finishReason);
        saveStreaming(id, s.getTokenCount(), streamingState);
        pendingTurns.end(id);
    }

    /**
     * Commits every turn a crash cut off as what a cancelled turn leaves: the user message and the
     * answer as last saved, {@code finish_reason = 'cancelled'}. The stored streaming state then
     * lags the token count, so the session's KV is recomputed from its tokens on its next use.
     * Returns how many turns were recovered. Run at start-up, before requests are served.
     */
    @Transactional
    public int recoverInterruptedTurns() {
        int recovered = 0;
        for (PendingTurnRecord p : pendingTurns.findAll()) {
            Optional<SessionRecord> s = sessions.findById(p.getSessionId());
            if (s.isPresent() && s.get().getTokenCount() == p.getExpectedTokens()) {
                appendTurn(s.get(), p.getUserContent(), p.userTokens(), p.getPartialContent(), p.partialTokens(),
                        "cancelled");
                recovered++;
            }
            pendingTurns.delete(p);
        }
        return recovered;
    }

    private void appendTurn(SessionRecord s, String userContent, int[] userTokens, String assistantContent,
            int[] assistantTokens, String finishReason) {
        UUID id = s.getId();
        messages.save(new MessageRecord(id, s.getOwner(), s.takeSeq(), "user", userContent, userTokens,
                clock.instant()));
        messages.save(new MessageRecord(id, s.getOwner(), s.takeSeq(), "assistant", assistantContent,
                assistantTokens, finishReason, clock.instant()));
        s.grow(userTokens.length + assistantTokens.length, clock.instant());
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
