package io.headroom.service.config;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The embedded default: when no {@code spring.datasource.url} is configured, a real PostgreSQL
 * server (zonky's embedded binaries) is started with a data directory that survives restarts.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnExpression("'${spring.datasource.url:}'.isEmpty()")
public class EmbeddedDatabaseConfiguration {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedDatabaseConfiguration.class);

    /** Stops the server if this JVM dies without closing it (kill -9); null where it could not start. */
    private Process watchdog;

    @Bean(destroyMethod = "close")
    EmbeddedPostgres embeddedPostgres(SessionProperties properties) {
        var db = properties.database();
        try {
            Files.createDirectories(db.dataDirectoryOrDefault());
            stopOrphanedServer(db.dataDirectoryOrDefault());
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    .setDataDirectory(db.dataDirectoryOrDefault())
                    .setCleanDataDirectory(false)
                    // the library's defaults trade durability for test speed; sessions are user data
                    .setServerConfig("fsync", "on")
                    .setServerConfig("synchronous_commit", "on");
            if (db.port() > 0) {
                builder.setPort(db.port());
            }
            EmbeddedPostgres postgres = builder.start();
            watchdog = ParentWatchdog.start(db.dataDirectoryOrDefault());
            return postgres;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the embedded PostgreSQL in " + db.dataDirectoryOrDefault(), e);
        }
    }

    /**
     * The PostgreSQL server is a child process: when the service is killed (kill -9) it keeps
     * running, holding the data directory. It belongs to a service instance that is gone, so it is
     * shut down (fast shutdown, which is crash-safe) before a new server starts on the directory.
     */
    static void stopOrphanedServer(Path dataDirectory) throws IOException {
        Path pidFile = dataDirectory.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) {
            return;
        }
        List<String> lines = Files.readAllLines(pidFile);
        if (lines.isEmpty()) {
            return;
        }
        long pid;
        try {
            pid = Long.parseLong(lines.getFirst().strip());
        } catch (NumberFormatException e) {
            return; // not ours to interpret; PostgreSQL itself will complain clearly
        }
        Optional<ProcessHandle> process = ProcessHandle.of(pid)
                .filter(p -> p.info().command().map(c -> c.contains("postgres")).orElse(false));
        if (process.isEmpty()) {
            return; // a stale pid file: PostgreSQL recovers from it by itself
        }
        LOG.warn("stopping orphaned embedded PostgreSQL (pid {}) left in {} by a previous instance", pid,
                dataDirectory);
        ProcessHandle p = process.get();
        p.destroy();
        try {
            p.onExit().get(15, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            p.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            throw new IOException("could not stop the orphaned PostgreSQL server " + pid, e);
        }
    }

    /** Ends the watchdog once the server has been stopped the ordinary way. */
    @jakarta.annotation.PreDestroy
    void stopWatchdog() {
        if (watchdog != null) {
            watchdog.destroy();
        }
    }

    /**
     * A small shell process that waits for this JVM to exit and then asks the PostgreSQL server to
     * stop (SIGINT: fast shutdown, crash-safe), so the server does not outlive a kill -9 of the
     * service. It acts only while the data directory's postmaster.pid still names the server it was
     * started for (no stray signal to a reused pid). Should it die with the service (a kill of the
     * whole process group), the next start reclaims the directory ({@link #stopOrphanedServer}).
     */
    static final class ParentWatchdog {

        private ParentWatchdog() {
        }

        static Process start(Path dataDirectory) {
            Path pidFile = dataDirectory.resolve("postmaster.pid");
            try {
                List<String> lines = Files.readAllLines(pidFile);
                long server = Long.parseLong(lines.getFirst().strip());
                long self = ProcessHandle.current().pid();
                String script = "while kill -0 " + self + " 2>/dev/null; do sleep 1; done; "
                        + "if [ \"$(head -n 1 \"$1\" 2>/dev/null)\" = \"" + server + "\" ]; then kill -INT "
                        + server + "; fi";
                Process p = new ProcessBuilder("/bin/sh", "-c", script, "headroom-pg-watchdog", pidFile.toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                LOG.info("embedded PostgreSQL (pid {}) stops with this service (watchdog pid {})", server, p.pid());
                return p;
            } catch (IOException | RuntimeException e) {
                LOG.warn("no watchdog for the embedded PostgreSQL ({}): after a kill -9 of the service it keeps "
                        + "running until the next start reclaims its data directory", e.toString());
                return null;
            }
        }
    }

    @Bean
    DataSource dataSource(EmbeddedPostgres postgres) {
        return postgres.getPostgresDatabase();
    }
}
