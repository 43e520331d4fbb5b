package io.headroom.engine.bench;

import io.headroom.engine.safetensors.SafetensorsWriter;
import io.headroom.engine.safetensors.SafetensorsWriter.Entry;
import io.headroom.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Writes a Llama-geometry checkpoint with random bf16 weights (config.json + model.safetensors) for
 * benchmarks. Weights are uniform in ±0.02·√3 (standard deviation 0.02, as transformers initialises),
 * norms are 1. Deterministic for a given seed.
 *
 * @param layers decoder layers
 * @param hidden model width
 * @param intermediate MLP width
 * @param heads query heads
 * @param kvHeads key/value heads
 * @param vocab vocabulary size
 * @param tied whether the LM head reuses the embedding
 */
public record RandomCheckpoint(String name, int layers, int hidden, int intermediate, int heads, int kvHeads,
        int vocab, boolean tied, int maxPositions) {

    /** Llama 3.2 1B's geometry: 1.24 B parameters, 2.47 GB in bf16. */
    public static final RandomCheckpoint LLAMA_1B = new RandomCheckpoint("llama-1b", 16, 2048, 8192, 32, 8,
            128256, true, 131072);

    /** Llama 3 8B's geometry (GQA 32/8, 8.03 B parameters, 16.1 GB in bf16), positions to 2M for capacity runs. */
    public static final RandomCheckpoint LLAMA3_8B = new RandomCheckpoint("llama3-8b", 32, 4096, 14336, 32, 8,
            128256, false, 2 << 20);

    /** Llama 2 7B's geometry (MHA 32/32, 6.74 B parameters), positions to 2M for capacity runs. */
    public static final RandomCheckpoint LLAMA2_7B = new RandomCheckpoint("llama2-7b", 32, 4096, 11008, 32, 32,
            32000, false, 2 << 20);

    /** A small geometry for quick runs and tests. */
    public static final RandomCheckpoint TINY = new RandomCheckpoint("tiny", 2, 128, 344, 4, 2, 1000, false, 131072);

    public static RandomCheckpoint named(String name) {
        return switch (name) {
            case "llama-1b" -> LLAMA_1B;
            case "llama3-8b" -> LLAMA3_8B;
            case "llama2-7b" -> LLAMA2_7B;
            case "tiny" -> TINY;
            default -> throw new IllegalArgumentException("unknown geometry '" + name
                    + "' (llama-1b, llama3-8b, llama2-7b, tiny)");
        };
    }

    public long parameterCount() {
        int headDim = hidden / heads;
        long perLayer = 2L * hidden * hidden + 2L * hidden * kvHeads * headDim + 3L * hidden * intermediate
                + 2L * hidden;
        return perLayer * layers + (long) vocab * hidden * (tied ? 1 : 2) + hidden;
    }

    /** Writes the checkpoint into {@code dir} unless a complete one is already there. */
    public void writeTo(Path dir, long seed) throws IOException {
        Files.createDirectories(dir);
        Path weights = dir.resolve("model.safetensors");
        Path config = dir.resolve("config.json");
        if (Files.isRegularFile(weights) && Files.isRegularFile(config)
                && Files.readString(config).contains("\"headroom_random_geometry\": \"" + name + "\"")) {
            return;
        }
        int headDim = hidden / heads;
        int kvDim = kvHeads * headDim;
        SplittableRandom rnd = new SplittableRandom(seed);
        double a = 0.02 * Math.sqrt(3);
        SafetensorsWriter.Values uniform = i -> (float) ((rnd.nextDouble() * 2 - 1) * a);
        SafetensorsWriter.Values one = i -> 1f;
        List<Entry> entries = new ArrayList<>();
        entries.add(new Entry("model.embed_tokens.weight", DType.BF16, new long[] {vocab, hidden}, uniform));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            entries.add(new Entry(p + "input_layernorm.weight", DType.BF16, new long[] {hidden}, one));
            entries.add(new Entry(p + "self_attn.q_proj.weight", DType.BF16, new long[] {hidden, hidden}, uniform));
            entries.add(new Entry(p + "self_attn.k_proj.weight", DType.BF16, new long[] {kvDim, hidden}, uniform));
            entries.add(new Entry(p + "self_attn.v_proj.weight", DType.BF16, new long[] {kvDim, hidden}, uniform));
            entries.add(new Entry(p + "self_attn.o_proj.weight", DType.BF16, new long[] {hidden, hidden}, uniform));
            entries.add(new Entry(p + "post_attention_layernorm.weight", DType.BF16, new long[] {hidden}, one));
            entries.add(new Entry(p + "mlp.gate_proj.weight", DType.BF16, new long[] {intermediate, hidden}, uniform));
            entries.add(new Entry(p + "mlp.up_proj.weight", DType.BF16, new long[] {intermediate, hidden}, uniform));
            entries.add(new Entry(p + "mlp.down_proj.weight", DType.BF16, new long[] {hidden, intermediate}, uniform));
        }
        entries.add(new Entry("model.norm.weight", DType.BF16, new long[] {hidden}, one));
        if (!tied) {
            entries.add(new Entry("lm_head.weight", DType.BF16, new long[] {vocab, hidden}, uniform));
        }
        SafetensorsWriter.write(weights, entries);
        String json = String.format(Locale.ROOT, """
                {
                  "architectures": ["LlamaForCausalLM"],
                  "headroom_random_geometry": "%s",
                  "hidden_size": %d,
                  "intermediate_size": %d,
                  "num_hidden_layers": %d,
                  "num_attention_heads": %d,
                  "num_key_value_heads": %d,
                  "vocab_size": %d,
                  "max_position_embeddings": %d,
                  "rms_norm_eps": 1e-5,
                  "rope_theta": 500000.0,
                  "tie_word_embeddings": %s,
                  "hidden_act": "silu",
                  "bos_token_id": 0,
                  "eos_token_id": 1,
                  "torch_dtype": "bfloat16"
                }
                """, name, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied);
        Path tmp = dir.resolve("config.json.tmp");
        Files.writeString(tmp, json);
        Files.move(tmp, config, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
