package io.headroom.engine.duo;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the passkey model the project ships under {@code src/models/passkey}. */
final class PassKeyModel {

    private PassKeyModel() {
    }

    static Path root() {
        // tests run with the module directory as working directory
        Path p = Path.of("..", "src", "models", "passkey").toAbsolutePath().normalize();
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("the shipped passkey model is missing at " + p);
        }
        return p;
    }

    static Path model() {
        return root().resolve("model");
    }

    static Path pattern() {
        return root().resolve("pattern");
    }

    static Path heldOut() {
        return root().resolve("eval").resolve("passkey-heldout.jsonl");
    }
}
