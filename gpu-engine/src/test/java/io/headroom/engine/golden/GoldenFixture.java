package io.headroom.engine.golden;

import io.headroom.engine.safetensors.SafetensorsFile;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One golden fixture made by {@code src/reference/make_golden_fixtures.py}: a tiny bf16 checkpoint
 * and what transformers computed from it (expected.json, reference.safetensors).
 */
public record GoldenFixture(String name, Path dir, JsonNode expected) {

    public static final List<String> CASES = List.of("llama3-gqa", "llama-mha", "qwen2-tied", "mistral");

    public static GoldenFixture load(String name) {
        try {
            Path dir = Path.of(GoldenFixture.class.getResource("/golden/" + name).toURI());
            JsonNode expected = JsonMapper.builder().build().readTree(Files.readString(dir.resolve("expected.json")));
            return new GoldenFixture(name, dir, expected);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("golden fixture " + name + " is missing from the test resources", e);
        }
    }

    public int[] prompt(int i) {
        return ints(expected.get("prompts").get(i));
    }

    public int promptCount() {
        return expected.get("prompts").size();
    }

    /** transformers' greedy continuation of prompt i. */
    public int[] greedy(int i) {
        for (JsonNode g : expected.get("greedy")) {
            if (g.get("prompt").asInt() == i) {
                return ints(g.get("tokens"));
            }
        }
        throw new IllegalArgumentException("no greedy continuation for prompt " + i);
    }

    /** Reference logits of prompt i, {@code (positions, vocab)}. */
    public float[][] logits(int i, Arena arena) {
        SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"), arena);
        var info = ref.tensors().get("logits." + i);
        int rows = (int) info.shape()[0];
        int cols = (int) info.shape()[1];
        WeightTensor t = ref.tensor("logits." + i, rows, cols);
        float[][] out = new float[rows][cols];
        for (int r = 0; r < rows; r++) {
            t.rowToFloat(r, out[r], 0);
        }
        return out;
    }

    /** ‖ours − ref‖ / ‖ref‖, accumulated in double. */
    public static double relativeError(float[] ours, float[] ref) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (ours[i] - (double) ref[i]) * (ours[i] - (double) ref[i]);
            norm += ref[i] * (double) ref[i];
        }
        return Math.sqrt(diff / norm);
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

}
