package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.generate.Sampler;
import io.headroom.engine.golden.GoldenFixture;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The device-resident forward pass on the golden fixtures: prompts prefilled in chunks of 5 (so
 * chunks cross the 8-token matmul batches and the KV cache is appended to mid-prompt), the last
 * position's logits within 1e-4 of transformers', then greedy decoding token-identical to
 * transformers'. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaLlamaModelTests {

    static final java.util.List<String> CASES = GoldenFixture.CASES;

    @ParameterizedTest
    @FieldSource("CASES")
    void residentForwardShouldMatchTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0);
                Arena arena = Arena.ofConfined()) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            for (int p = 0; p < f.promptCount(); p++) {
                int[] prompt = f.prompt(p);
                try (CudaLlamaModel model = new CudaLlamaModel(device, config, weights, 256, 16)) {
                    float[] logits = null;
                    for (int from = 0; from < prompt.length; from += 5) {
                        logits = model.forward(Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + 5)));
                    }
                    float[] ref = f.logits(p, arena)[prompt.length - 1];
                    assertThat(GoldenFixture.relativeError(logits, ref)).as("%s prompt %d", name, p)
                            .isLessThanOrEqualTo(1e-4);
                    int[] greedy = f.greedy(p);
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
