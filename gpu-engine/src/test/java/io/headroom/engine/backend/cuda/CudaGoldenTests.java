package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.Sampler;
import io.headroom.engine.golden.GoldenFixture;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaModel;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The golden transformers fixtures (src/reference/make_golden_fixtures.py) through {@link CudaKernels}:
 * logits of every prompt position within 1e-4 relative error of transformers', and greedy
 * continuations token-identical. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaGoldenTests {

    static final java.util.List<String> CASES = GoldenFixture.CASES;

    @ParameterizedTest
    @FieldSource("CASES")
    void fixtureShouldMatchTransformersOnTheGpu(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaKernels gpu = CudaKernels.open();
                Arena arena = Arena.ofConfined()) {
            LlamaModel model = new LlamaModel(config, LlamaWeights.load(ckpt, config), gpu);
            for (int p = 0; p < f.promptCount(); p++) {
                int[] prompt = f.prompt(p);
                float[][] ref = f.logits(p, arena);
                float[][] ours = model.forward(prompt, model.newCache(), IntStream.range(0, prompt.length).toArray());
                for (int pos = 0; pos < prompt.length; pos++) {
                    assertThat(GoldenFixture.relativeError(ours[pos], ref[pos]))
                            .as("%s prompt %d position %d", name, p, pos).isLessThanOrEqualTo(1e-4);
                }
                int[] greedy = f.greedy(p);
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
                return Arrays.copyOf(out, i + 1);
            }
            logits = model.forward(new int[] {out[i]}, kv, new int[] {0})[0];
        }
        return out;
    }
}
