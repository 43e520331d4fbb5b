package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.generate.Sampler;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import io.headroom.engine.safetensors.SafetensorsFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The device-resident forward pass on the golden fixtures: prompts prefilled in chunks of 5 (so
 * chunks cross the 8-token matmul batches and the KV cache is appended to mid-prompt), the last
 * position's logits within 1e-4 of transformers', then greedy decoding token-identical to
 * transformers'. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaLlamaModelTests {

    @ParameterizedTest
    @ValueSource(strings = {"llama3-gqa", "llama-mha", "qwen2-tied", "mistral"})
    void residentForwardShouldMatchTransformers(String name) throws Exception {
        Path dir = Path.of(CudaLlamaModelTests.class.getResource("/golden/" + name).toURI());
        JsonNode expected = JsonMapper.builder().build().readTree(Files.readString(dir.resolve("expected.json")));
        ModelConfig config = ModelConfigReader.read(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir); CudaDevice device = CudaDevice.open(0);
                Arena arena = Arena.ofConfined()) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"), arena);
            for (int p = 0; p < expected.get("prompts").size(); p++) {
                int[] prompt = CudaGoldenTests.ints(expected.get("prompts").get(p));
                try (CudaLlamaModel model = new CudaLlamaModel(device, config, weights, 256, 16)) {
                    float[] logits = null;
                    for (int from = 0; from < prompt.length; from += 5) {
                        logits = model.forward(Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + 5)));
                    }
                    float[] r = new float[config.vocabSize()];
                    ref.tensor("logits." + p, prompt.length, config.vocabSize()).rowToFloat(prompt.length - 1, r, 0);
                    assertThat(CudaGoldenTests.relativeError(logits, r)).as("%s prompt %d", name, p)
                            .isLessThanOrEqualTo(1e-4);
                    int[] greedy = null;
                    for (JsonNode g : expected.get("greedy")) {
                        if (g.get("prompt").asInt() == p) {
                            greedy = CudaGoldenTests.ints(g.get("tokens"));
                        }
                    }
                    int[] ours = new int[greedy.length];
                    int n = 0;
                    while (n < greedy.length) {
                        ours[n] = Sampler.argmax(logits);
                        if (config.eosTokenIds().contains(ours[n++]) || n == greedy.length) {
                            break;
                        }
                        logits = model.forward(new int[] {ours[n - 1]});
                    }
                    assertThat(Arrays.copyOf(ours, n)).as("%s prompt %d greedy", name, p).containsExactly(greedy);
                }
            }
        }
    }
}
