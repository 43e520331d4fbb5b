package io.headroom.engine.model;

import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Maps a Hugging Face {@code config.json} (and {@code generation_config.json} when present) onto
 * {@link ModelConfig}. Accepts both the legacy keys ({@code rope_theta} + {@code rope_scaling}, as
 * published checkpoints have them) and transformers 5's {@code rope_parameters}. Anything Headroom
 * would compute differently from transformers is refused with a message naming the key.
 */
public final class ModelConfigReader {

    public static final String CONFIG_FILE = "config.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";

    private ModelConfigReader() {
    }

    public static ModelConfig read(Path modelDir) {
        Path configPath = modelDir.resolve(CONFIG_FILE);
        JsonNode root = readJson(configPath, true);
        JsonNode generation = readJson(modelDir.resolve(GENERATION_CONFIG_FILE), false);
        try {
            return parse(root, generation);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(configPath + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode readJson(Path path, boolean required) {
        try {
            JsonNode node = JsonMapper.builder().build().readTree(Files.readString(path));
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(path + " is not a JSON object");
            }
            return node;
        } catch (NoSuchFileException e) {
            if (required) {
                throw new ModelFormatException("no " + path.getFileName() + " in " + path.getParent()
                        + " (is this a Hugging Face model directory?)", e);
            }
            return null;
        } catch (IOException e) {
            throw new ModelFormatException("cannot read " + path + ": " + e.getMessage(), e);
        } catch (JacksonException e) {
            throw new ModelFormatException(path + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    static ModelConfig parse(JsonNode c, JsonNode generation) {
        JsonNode archs = c.path("architectures");
        String archName = archs.isArray() && !archs.isEmpty() ? archs.get(0).asString() : null;
        if (archName == null) {
            throw new IllegalArgumentException("no \"architectures\" entry (supported: "
                    + Architecture.supportedNames() + ")");
        }
        Architecture arch = Architecture.fromHfClass(archName).orElseThrow(() -> new IllegalArgumentException(
                "unsupported architecture " + archName + " (supported: " + Architecture.supportedNames() + ")"));

        String act = c.path("hidden_act").asString("silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException("hidden_act \"" + act + "\" is not supported (only silu)");
        }
        if (c.path("mlp_bias").asBoolean(false)) {
            throw new IllegalArgumentException("mlp_bias=true is not supported");
        }
        int hidden = intKey(c, "hidden_size");
        int heads = intKey(c, "num_attention_heads");
        int kvHeads = c.has("num_key_value_heads") && !c.get("num_key_value_heads").isNull()
                ? intKey(c, "num_key_value_heads") : heads;
        int headDim = c.has("head_dim") && !c.get("head_dim").isNull() ? intKey(c, "head_dim") : hidden / heads;
        int maxPositions = intKey(c, "max_position_embeddings");
        checkSlidingWindow(arch, c, maxPositions);

        JsonNode ropeParams = c.path("rope_parameters");
        JsonNode scaling;
        double theta;
        if (ropeParams.isObject()) {
            scaling = ropeParams;
            theta = ropeParams.path("rope_theta").asDouble(c.path("rope_theta").asDouble(10000.0));
        } else {
            scaling = c.path("rope_scaling");
            theta = c.path("rope_theta").asDouble(10000.0);
        }

        boolean attentionBias = c.path("attention_bias").asBoolean(false);
        boolean qkvBias = arch == Architecture.QWEN2 || (arch == Architecture.LLAMA && attentionBias);
        boolean outputBias = arch == Architecture.LLAMA && attentionBias;

        Integer bos = firstId(generation != null && generation.has("bos_token_id")
                ? generation.get("bos_token_id") : c.path("bos_token_id"));
        Set<Integer> eos = new LinkedHashSet<>(ids(c.path("eos_token_id")));
        if (generation != null) {
            eos.addAll(ids(generation.path("eos_token_id")));
        }
        return new ModelConfig(arch, intKey(c, "vocab_size"), hidden, intKey(c, "intermediate_size"),
                intKey(c, "num_hidden_layers"), heads, kvHeads, headDim, maxPositions,
                (float) c.path("rms_norm_eps").asDouble(1e-6), theta, ropeScaling(scaling),
                qkvBias, outputBias, c.path("tie_word_embeddings").asBoolean(false),
                bos, new ArrayList<>(eos));
    }

    private static void checkSlidingWindow(Architecture arch, JsonNode c, int maxPositions) {
        JsonNode window = c.path("sliding_window");
        boolean enabled = switch (arch) {
            case MISTRAL -> window.isIntegralNumber() && window.asInt() < maxPositions;
            case QWEN2 -> c.path("use_sliding_window").asBoolean(false);
            default -> false;
        };
        if (enabled) {
            throw new IllegalArgumentException("sliding-window attention (sliding_window=" + window
                    + ") is not implemented");
        }
    }

    static RopeScaling ropeScaling(JsonNode s) {
        if (s == null || s.isNull() || s.isMissingNode()) {
            return new RopeScaling.None();
        }
        if (!s.isObject()) {
            throw new IllegalArgumentException("rope_scaling must be an object, got " + s);
        }
        String type = s.has("rope_type") ? s.get("rope_type").asString() : s.path("type").asString("default");
        return switch (type) {
            case "default" -> new RopeScaling.None();
            case "linear" -> new RopeScaling.Linear(positiveDouble(s, "factor"));
            case "llama3" -> {
                double low = positiveDouble(s, "low_freq_factor");
                double high = positiveDouble(s, "high_freq_factor");
                if (high <= low) {
                    throw new IllegalArgumentException("rope_scaling: high_freq_factor (" + high
                            + ") must exceed low_freq_factor (" + low + ")");
                }
                yield new RopeScaling.Llama3(positiveDouble(s, "factor"), low, high,
                        intKey(s, "original_max_position_embeddings"));
            }
            default -> throw new IllegalArgumentException("rope scaling type \"" + type
                    + "\" is not implemented (supported: linear, llama3)");
        };
    }

    private static double positiveDouble(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isNumber() || !(v.asDouble() > 0)) {
            throw new IllegalArgumentException("\"" + key + "\" must be a positive number, got " + v);
        }
        return v.asDouble();
    }

    private static int intKey(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isIntegralNumber() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("\"" + key + "\" must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n.isIntegralNumber()) {
            out.add(n.asInt());
        } else if (n.isArray()) {
            n.forEach(e -> {
                if (e.isIntegralNumber()) {
                    out.add(e.asInt());
                }
            });
        }
        return out;
    }

    private static Integer firstId(JsonNode n) {
        List<Integer> all = ids(n);
        return all.isEmpty() ? null : all.getFirst();
    }
}
