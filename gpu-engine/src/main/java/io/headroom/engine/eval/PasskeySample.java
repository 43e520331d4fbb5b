package io.headroom.engine.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One passkey sample: a prompt and the answer its greedy continuation must start with. NIAH grid
 * samples also carry the context length and needle depth they were made for.
 */
public record PasskeySample(String prompt, String answer, Integer length, Double depth) {

    /** Reads one JSON object per non-blank line; a bad line fails with its number. */
    public static List<PasskeySample> readJsonl(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("sample file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        var json = JsonMapper.builder().build();
        List<PasskeySample> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = json.readTree(lines.get(i));
            } catch (JacksonException e) {
                throw new IllegalArgumentException(file + " line " + (i + 1) + ": not valid JSON", e);
            }
            if (n == null || !n.path("prompt").isString() || !n.path("answer").isString()
                    || n.get("answer").asString().isBlank()) {
                throw new IllegalArgumentException(file + " line " + (i + 1)
                        + ": needs string fields \"prompt\" and a non-empty \"answer\"");
            }
            out.add(new PasskeySample(n.get("prompt").asString(), n.get("answer").asString(),
                    n.path("length").isIntegralNumber() ? n.get("length").asInt() : null,
                    n.path("depth").isNumber() ? n.get("depth").asDouble() : null));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no samples");
        }
        return out;
    }
}
