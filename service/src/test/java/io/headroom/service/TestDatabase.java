package io.headroom.service;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * Where the integration tests' PostgreSQL comes from, chosen once per test JVM and printed: a
 * Testcontainers PostgreSQL where a Docker engine answers (a developer's laptop, most CI services),
 * otherwise the service's own embedded PostgreSQL (a real server binary, started by the service as
 * in its embedded default). Either way every Spring context gets a database of its own. Set
 * {@code -Dheadroom.test.database=embedded|testcontainers} to force one.
 */
final class TestDatabase {

    private static final String CHOICE = System.getProperty("headroom.test.database", "auto");
    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static PostgreSQLContainer container;
    private static Boolean useContainer;

    private TestDatabase() {
    }

    /** Adds the datasource of a fresh database to {@code r}, or nothing for the embedded one. */
    static synchronized void register(DynamicPropertyRegistry r) {
        if (useContainer == null) {
            useContainer = switch (CHOICE) {
                case "testcontainers" -> true;
                case "embedded" -> false;
                default -> dockerAvailable();
            };
            System.out.println("[test-database] PostgreSQL from " + (useContainer
                    ? "Testcontainers (Docker answered)" : "the embedded binary (no Docker engine here)"));
        }
        if (!useContainer) {
            return;
        }
        if (container == null) {
            container = new PostgreSQLContainer("postgres:17-alpine");
            container.start();
        }
        String name = "headroom_" + DATABASES.incrementAndGet();
        try (Connection c = DriverManager.getConnection(container.getJdbcUrl(), container.getUsername(),
                container.getPassword()); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create the test database " + name, e);
        }
        String url = container.getJdbcUrl().replaceFirst("/[^/?]+(\\?|$)", "/" + name + "$1");
        r.add("spring.datasource.url", () -> url);
        r.add("spring.datasource.username", container::getUsername);
        r.add("spring.datasource.password", container::getPassword);
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }
}
