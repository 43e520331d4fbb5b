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
            return builder.start();
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

    @Bean
    DataSource dataSource(EmbeddedPostgres postgres) {
        return postgres.getPostgresDatabase();
    }
}
