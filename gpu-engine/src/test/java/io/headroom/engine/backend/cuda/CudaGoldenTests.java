package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.Sampler;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaModel;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import io.headroom.engine.safetensors.SafetensorsFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The golden transformers fixtures (src/reference/make_golden_fixtures.py) on the CUDA backend:
 * logits of every prompt position within 1e-4 relative error of transformers', and greedy
 * continuations token-identical. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaGoldenTests {

    @ParameterizedTest
    @ValueSource(strings = {"llama3-gqa", "llama-mha", "qwen2-tied", "mistral"})
    void fixtureShouldMatchTransformersOnTheGpu(String name) throws Exception {
        Path dir = Path.of(CudaGoldenTests.class.getResource("/golden/" + name).toURI());
        JsonNode expected = JsonMapper.builder().build().readTree(Files.readString(dir.resolve("expected.json")));
        ModelConfig config = ModelConfigReader.read(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir); CudaKernels gpu = CudaKernels.open();
                Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(config, LlamaWeights.load(ckpt, config), gpu);
            SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"), arena);
            for (int p = 0; p < expected.get("prompts").size(); p++) {
                int[] prompt = ints(expected.get("prompts").get(p));
                float[][] ours = model.forward(prompt, model.newCache(), IntStream.range(0, prompt.length).toArray());
                var t = ref.tensor("logits." + p, prompt.length, config.vocabSize());
                for (int pos = 0; pos < prompt.length; pos++) {
                    float[] r = new float[config.vocabSize()];
                    t.rowToFloat(pos, r, 0);
                    assertThat(relativeError(ours[pos], r)).as("%s prompt %d position %d", name, p, pos)
                            .isLessThanOrEqualTo(1e-4);
                }
                int[] greedy = null;
                for (JsonNode g : expected.get("greedy")) {
                    if (g.get("prompt").asInt() == p) {
                        greedy = ints(g.get("tokens"));
                    }
                }
                assertThat(greedyTokens(model, prompt, greedy.length, config)).as("%s prompt %d", name, p)
                        .containsExactly(greedy);
            }
        }
    }

    static int[] greedyTokens(LlamaModel model, int[] prompt, int n, ModelConfig config) {
        SequenceKv kv = model.newCache();
        float[] logits = Generator.prefill(model, kv, prompt, 5);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = Sampler.argmax(logits);
            if (config.eosTokenIds().contains(out[i]) || i == n - 1) {
                return java.util.Arrays.copyOf(out, i + 1);
            }
            logits = model.forward(new int[] {out[i]}, kv, new int[] {0})[0];
        }
        return out;
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    static double relativeError(float[] a, float[] b) {
        double d = 0;
        double n = 0;
        for (int i = 0; i < b.length; i++) {
            d += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
            n += b[i] * (double) b[i];
        }
        return Math.sqrt(d / n);
    }
}
