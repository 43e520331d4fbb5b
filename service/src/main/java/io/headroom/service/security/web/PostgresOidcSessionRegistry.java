package io.headroom.service.security.web;

import java.sql.Timestamp;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.security.oauth2.client.oidc.authentication.logout.OidcLogoutToken;
import org.springframework.security.oauth2.client.oidc.server.session.ReactiveOidcSessionRegistry;
import org.springframework.security.oauth2.client.oidc.session.OidcSessionInformation;
import org.springframework.security.oauth2.core.oidc.user.OidcUser;
import org.springframework.transaction.support.TransactionTemplate;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Links each browser session to the identity provider's session that signed it in ({@code
 * oidc_sessions}: issuer, {@code sid}, subject), in PostgreSQL so that a back-channel logout
 * reaching any replica ends the user's sessions on all of them. Ending one removes the link and the
 * web session itself ({@link #removeSessionInformation(OidcLogoutToken)}); the returned
 * information names each ended session by the hex SHA-256 of its id, as that is all that is kept.
 */
public final class PostgresOidcSessionRegistry implements ReactiveOidcSessionRegistry {

    private final JdbcClient jdbc;
    private final TransactionTemplate tx;

    public PostgresOidcSessionRegistry(JdbcClient jdbc, TransactionTemplate tx) {
        this.jdbc = jdbc;
        this.tx = tx;
    }

    @Override
    public Mono<Void> saveSessionInformation(OidcSessionInformation info) {
        return Mono.fromRunnable(() -> {
            OidcUser user = info.getPrincipal();
            jdbc.sql("INSERT INTO oidc_sessions (session_id_hash, issuer, sid, subject, principal, created_at) "
                    + "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id_hash) DO UPDATE SET issuer = EXCLUDED.issuer, "
                    + "sid = EXCLUDED.sid, subject = EXCLUDED.subject, principal = EXCLUDED.principal")
                    .params(PostgresWebSessionStore.hash(info.getSessionId()), String.valueOf(user.getIssuer()),
                            user.getClaimAsString("sid"), user.getSubject(),
                            SessionSerializer.write((java.io.Serializable) user),
                            Timestamp.from(Instant.now()))
                    .update();
        }).subscribeOn(Schedulers.boundedElastic()).then();
    }

    @Override
    public Mono<OidcSessionInformation> removeSessionInformation(String clientSessionId) {
        return Mono.fromCallable(() -> jdbc.sql("DELETE FROM oidc_sessions WHERE session_id_hash = ? "
                + "RETURNING principal")
                .param(PostgresWebSessionStore.hash(clientSessionId))
                .query((rs, n) -> SessionSerializer.read(rs.getBytes("principal"))).optional()
                .filter(OidcUser.class::isInstance)
                .map(u -> new OidcSessionInformation(clientSessionId, Map.of(), (OidcUser) u))
                .orElse(null))
                .subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * Ends the sessions the logout token names: the one provider session ({@code sid}) when the token
     * has it, else every session of the subject at that issuer.
     */
    @Override
    public Flux<OidcSessionInformation> removeSessionInformation(OidcLogoutToken token) {
        return Mono.fromCallable(() -> tx.execute(status -> {
            String issuer = String.valueOf(token.getIssuer());
            List<Ended> ended = (token.getSessionId() != null
                    ? jdbc.sql("DELETE FROM oidc_sessions WHERE issuer = ? AND sid = ? "
                            + "RETURNING session_id_hash, principal").params(issuer, token.getSessionId())
                    : jdbc.sql("DELETE FROM oidc_sessions WHERE issuer = ? AND subject = ? "
                            + "RETURNING session_id_hash, principal").params(issuer, token.getSubject()))
                    .query((rs, n) -> new Ended(rs.getBytes("session_id_hash"),
                            SessionSerializer.read(rs.getBytes("principal")))).list();
            for (Ended e : ended) {
                jdbc.sql("DELETE FROM web_sessions WHERE id_hash = ?").param(e.hash()).update();
            }
            return ended;
        })).subscribeOn(Schedulers.boundedElastic())
                .flatMapMany(Flux::fromIterable)
                .filter(e -> e.principal() instanceof OidcUser)
                .map(e -> new OidcSessionInformation(HexFormat.of().formatHex(e.hash()), Map.of(),
                        (OidcUser) e.principal()));
    }

    private record Ended(byte[] hash, Object principal) {
    }
}
