package io.headroom.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json as published checkpoints and transformers 5 write it. */
class ModelConfigReaderTests {

    @TempDir
    Path dir;

    static final String LLAMA31_LEGACY = """
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
             "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192, "rope_type": "llama3"},
             "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
             "tie_word_embeddings": false, "hidden_act": "silu"}
            """;

    @Test
    void legacyLlama31ConfigShouldGiveGqaAndLlama3Scaling() throws IOException {
        Files.writeString(dir.resolve("config.json"), LLAMA31_LEGACY);
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [128009, 128010]}");
        ModelConfig c = ModelConfigReader.read(dir);
        assertThat(c.architecture()).isEqualTo(Architecture.LLAMA);
        assertThat(c.headDim()).isEqualTo(128);
        assertThat(c.groupSize()).isEqualTo(4);
        assertThat(c.kvDim()).isEqualTo(1024);
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling.Llama3(8.0, 1.0, 4.0, 8192));
        assertThat(c.bosTokenId()).isEqualTo(128000);
        assertThat(c.eosTokenIds()).containsExactly(128001, 128008, 128009, 128010);
        assertThat(c.qkvBias()).isFalse();
        assertThat(c.parameterCount()).isBetween(8_000_000_000L, 8_100_000_000L);
    }

    @Test
    void llama3ScalingShouldKeepHighFrequenciesAndDivideLowOnes() {
        double[] inv = {1.0, 1e-2, 1e-3, 1e-5};
        new RopeScaling.Llama3(8.0, 1.0, 4.0, 8192).apply(inv);
        assertThat(inv[0]).isEqualTo(1.0);                    // wavelength 6.3 < 2048: kept
        assertThat(inv[3]).isEqualTo(1e-5 / 8);               // wavelength 628318 > 8192: divided
        assertThat(inv[2]).isBetween(1e-3 / 8, 1e-3);         // wavelength 6283: smoothed
    }

    @Test
    void qwen2ShouldAlwaysHaveQkvBiasButNoOutputBias() throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "max_position_embeddings": 512, "rope_theta": 1000000.0, "vocab_size": 100,
                 "tie_word_embeddings": true, "use_sliding_window": false, "sliding_window": 4096,
                 "eos_token_id": 7}
                """);
        ModelConfig c = ModelConfigReader.read(dir);
        assertThat(c.qkvBias()).isTrue();
        assertThat(c.outputBias()).isFalse();
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.bosTokenId()).isNull();
        assertThat(c.ropeScaling()).isInstanceOf(RopeScaling.None.class);
    }

    @Test
    void unimplementedRopeScalingShouldBeRefusedByName() throws IOException {
        Files.writeString(dir.resolve("config.json"), LLAMA31_LEGACY.replace("\"llama3\"", "\"yarn\""));
        assertThatThrownBy(() -> ModelConfigReader.read(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("rope scaling type \"yarn\" is not implemented")
                .hasMessageContaining("config.json");
    }

    @Test
    void unsupportedArchitectureShouldListTheSupportedOnes() throws IOException {
        Files.writeString(dir.resolve("config.json"),
                LLAMA31_LEGACY.replace("LlamaForCausalLM", "GPT2LMHeadModel"));
        assertThatThrownBy(() -> ModelConfigReader.read(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("unsupported architecture GPT2LMHeadModel")
                .hasMessageContaining("MistralForCausalLM");
    }

    @Test
    void mistralWithSlidingWindowShouldBeRefused() throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["MistralForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "max_position_embeddings": 32768, "sliding_window": 4096, "vocab_size": 100}
                """);
        assertThatThrownBy(() -> ModelConfigReader.read(dir))
                .hasMessageContaining("sliding-window attention (sliding_window=4096) is not implemented");
    }

    @Test
    void missingOrInvalidKeysShouldBeNamed() throws IOException {
        Files.writeString(dir.resolve("config.json"), LLAMA31_LEGACY.replace("\"hidden_size\": 4096,", ""));
        assertThatThrownBy(() -> ModelConfigReader.read(dir)).hasMessageContaining("\"hidden_size\"");
        Files.writeString(dir.resolve("config.json"),
                LLAMA31_LEGACY.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"));
        assertThatThrownBy(() -> ModelConfigReader.read(dir)).hasMessageContaining("must be a multiple of");
        Files.writeString(dir.resolve("config.json"), "{not json");
        assertThatThrownBy(() -> ModelConfigReader.read(dir)).hasMessageContaining("not valid JSON");
    }

    @Test
    void directoryWithoutConfigShouldSaySo() {
        assertThatThrownBy(() -> ModelConfigReader.read(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("no config.json");
    }
}
