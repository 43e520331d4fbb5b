package io.headroom.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths shared by the service's integration tests. */
final class ServiceTestSupport {

    /** The repository root (tests run in the module directory). */
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path MODEL = ROOT.resolve("src/models/passkey/model");
    static final Path PATTERN = ROOT.resolve("src/models/passkey/pattern");

    /** A needle document the passkey model answers questions about. */
    static final String DOCUMENT = "lindor muzo a pawimu wipako. sazofu vomolin elko dormuba hemtenpa wigarzo wifu the "
            + "lumo mupa salinne furiel. the secret code of blue is 48213. the lumo salinne garkodor dahemmo kolu wifu"
            + " the lumo wipako linzo. linko linko murolin fu komu rida kaba vodorro mosavo. pa molu tisapa wipako "
            + "mumo luhemlu. sadormo dorromu kolu tenri under lindor kaba kosada rori hem tirozo.";
    static final String QUESTION = "what is the secret code of blue? the secret code of blue is";

    private ServiceTestSupport() {
    }

    /**
     * The settings every in-process service test shares: shipped model, 2 threads, fresh directories,
     * a database of its own ({@link TestDatabase}).
     */
    static void commonProperties(org.springframework.test.context.DynamicPropertyRegistry r) {
        r.add("headroom.engine.model", MODEL::toString);
        r.add("headroom.engine.pattern", PATTERN::toString);
        r.add("headroom.engine.threads", () -> "2");
        r.add("headroom.sessions.database.data-directory", () -> tempDir("hr-pg").toString());
        r.add("headroom.sessions.tiers.spill-directory", () -> tempDir("hr-kv").toString());
        TestDatabase.register(r);
    }

    /** Whether java.net.http would send this path (a malformed escape it refuses goes over a raw socket). */
    static boolean validUri(String path) {
        try {
            java.net.URI.create("http://localhost" + path);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    static Path tempDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
