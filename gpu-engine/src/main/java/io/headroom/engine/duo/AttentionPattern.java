package io.headroom.engine.duo;

import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A DuoAttention pattern (Xiao et al., "DuoAttention: Efficient Long-Context LLM Inference with
 * Retrieval and Streaming Heads", arXiv 2410.10819): one gate α ∈ [0, 1] per (layer, KV head),
 * high for retrieval heads, low for streaming heads. Stored in the reference implementation's
 * directory format, so its published patterns load unchanged: {@code full_attention_heads.tsv}
 * (one row per layer, one tab-separated column per KV head; values are clipped to [0, 1] on load,
 * as published files hold small negatives) and {@code config.json} (the settings that produced it,
 * among them {@code sink_size} and {@code recent_size}).
 *
 * @param gates {@code (layers, kvHeads)}
 * @param config the pattern's config.json, kept as written (empty when absent)
 */
public record AttentionPattern(float[][] gates, Map<String, Object> config) {

    public static final String GATES_FILE = "full_attention_heads.tsv";
    public static final String CONFIG_FILE = "config.json";

    public AttentionPattern {
        if (gates.length == 0 || gates[0].length == 0) {
            throw new IllegalArgumentException("a pattern needs at least one layer and one head");
        }
        gates = Arrays.stream(gates).map(float[]::clone).toArray(float[][]::new);
        config = Map.copyOf(config);
    }

    public int layers() {
        return gates.length;
    }

    public int kvHeads() {
        return gates[0].length;
    }

    public float gate(int layer, int head) {
        return gates[layer][head];
    }

    /** The pattern's {@code sink_size}, when its config.json has one. */
    public Integer sinkSize() {
        return intSetting("sink_size");
    }

    /** The pattern's {@code recent_size}, when its config.json has one. */
    public Integer recentSize() {
        return intSetting("recent_size");
    }

    private Integer intSetting(String key) {
        return config.get(key) instanceof Number n ? n.intValue() : null;
    }

    /** Reads a pattern directory; a malformed one fails with the file, line and column. */
    public static AttentionPattern load(Path dir) {
        Path tsv = dir.resolve(GATES_FILE);
        List<String> lines;
        try {
            lines = Files.readAllLines(tsv);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException("no " + GATES_FILE + " in pattern directory " + dir, e);
        } catch (IOException e) {
            throw new ModelFormatException("cannot read " + tsv + ": " + e.getMessage(), e);
        }
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] cells = line.split("\t");
            float[] row = new float[cells.length];
            for (int c = 0; c < cells.length; c++) {
                float v;
                try {
                    v = Float.parseFloat(cells[c].strip());
                } catch (NumberFormatException e) {
                    throw new ModelFormatException(tsv + " line " + (i + 1) + " column " + (c + 1) + ": '"
                            + cells[c] + "' is not a number", e);
                }
                if (!Float.isFinite(v)) {
                    throw new ModelFormatException(tsv + " line " + (i + 1) + " column " + (c + 1) + ": '"
                            + cells[c] + "' is not a finite number");
                }
                row[c] = Math.min(1f, Math.max(0f, v));
            }
            if (!rows.isEmpty() && row.length != rows.getFirst().length) {
                throw new ModelFormatException(tsv + " line " + (i + 1) + " has " + row.length
                        + " columns but line 1 has " + rows.getFirst().length + " (a ragged row)");
            }
            rows.add(row);
        }
        if (rows.isEmpty()) {
            throw new ModelFormatException(tsv + " holds no gates");
        }
        return new AttentionPattern(rows.toArray(float[][]::new), readConfig(dir.resolve(CONFIG_FILE)));
    }

    private static Map<String, Object> readConfig(Path file) {
        if (!Files.isRegularFile(file)) {
            return Map.of();
        }
        try {
            JsonNode node = JsonMapper.builder().build().readTree(Files.readString(file));
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(file + " is not a JSON object");
            }
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                JsonNode v = e.getValue();
                if (v.isNull()) {
                    continue; // Map.copyOf refuses nulls; an absent key means the same
                }
                out.put(e.getKey(), v.isIntegralNumber() ? (Object) v.asLong() : v.isNumber() ? v.asDouble()
                        : v.isBoolean() ? v.asBoolean() : v.isString() ? v.asString() : v.toString());
            }
            return out;
        } catch (IOException | JacksonException e) {
            throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes the pattern directory (files replaced atomically). */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder tsv = new StringBuilder();
        for (float[] row : gates) {
            for (int c = 0; c < row.length; c++) {
                tsv.append(c == 0 ? "" : "\t").append(String.format(Locale.ROOT, "%.18e", (double) row[c]));
            }
            tsv.append('\n');
        }
        writeAtomically(dir.resolve(GATES_FILE), tsv.toString());
        writeAtomically(dir.resolve(CONFIG_FILE),
                JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Checks that the pattern has one row per layer and one column per KV head of the model. */
    public void checkFits(int modelLayers, int modelKvHeads) {
        if (layers() != modelLayers || kvHeads() != modelKvHeads) {
            throw new ModelFormatException("attention pattern has shape (" + layers() + " layers, " + kvHeads()
                    + " KV heads) but the model has (" + modelLayers + ", " + modelKvHeads + ")");
        }
    }

    /**
     * Retrieval heads chosen by one global ranking: the {@code round(sparsity · heads)} heads with the
     * lowest gates become streaming. Ties are broken deterministically: among equal gates the head
     * that comes first in (layer, head) order becomes streaming first.
     */
    public boolean[][] retrievalBySparsity(double sparsity) {
        if (!(sparsity >= 0 && sparsity <= 1)) {
            throw new IllegalArgumentException("sparsity must be in [0, 1], got " + sparsity);
        }
        int heads = kvHeads();
        int total = layers() * heads;
        int streaming = (int) Math.round(sparsity * total);
        Integer[] order = IntStream.range(0, total).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> gates[i / heads][i % heads])
                .thenComparingInt(i -> i));
        boolean[][] retrieval = new boolean[layers()][heads];
        for (boolean[] r : retrieval) {
            Arrays.fill(r, true);
        }
        for (int k = 0; k < streaming; k++) {
            retrieval[order[k] / heads][order[k] % heads] = false;
        }
        return retrieval;
    }

    /** Retrieval heads are those with a gate {@code >= threshold}. */
    public boolean[][] retrievalByThreshold(double threshold) {
        if (!Double.isFinite(threshold)) {
            throw new IllegalArgumentException("threshold must be a number, got " + threshold);
        }
        boolean[][] retrieval = new boolean[layers()][kvHeads()];
        for (int l = 0; l < layers(); l++) {
            for (int h = 0; h < kvHeads(); h++) {
                retrieval[l][h] = gates[l][h] >= threshold;
            }
        }
        return retrieval;
    }
}
