package io.headroom.migrations;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Statement;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.migration.Context;
import org.flywaydb.core.api.migration.JavaMigration;

/**
 * Version 5: the tables of Spring Batch's JDBC job repository (the ingestion jobs' state), created
 * from the schema script Spring Batch ships for PostgreSQL, so the schema is the one the library
 * version on the classpath expects and Flyway still records it like every other migration.
 */
public class SpringBatchSchemaMigration implements JavaMigration {

    static final String SCRIPT = "org/springframework/batch/core/schema-postgresql.sql";

    @Override
    public MigrationVersion getVersion() {
        return MigrationVersion.fromVersion("5");
    }

    @Override
    public String getDescription() {
        return "spring batch job repository";
    }

    @Override
    public Integer getChecksum() {
        return null;
    }

    @Override
    public boolean canExecuteInTransaction() {
        return true;
    }

    @Override
    public void migrate(Context context) throws Exception {
        String script;
        try (InputStream in = Thread.currentThread().getContextClassLoader().getResourceAsStream(SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException(SCRIPT + " is not on the classpath: Spring Batch is missing");
            }
            script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (Statement st = context.getConnection().createStatement()) {
            for (String statement : script.replaceAll("(?m)^--.*$", "").split(";")) {
                if (!statement.isBlank()) {
                    st.execute(statement);
                }
            }
        }
    }
}
