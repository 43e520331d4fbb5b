package io.headroom.engine.golden;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;
import java.util.HashSet;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The engine against Hugging Face transformers on the golden fixtures made by
 * {@code src/reference/make_golden_fixtures.py} (run on the GPU machine; see that script): float32
 * logits of every prompt position within ‖ours − ref‖/‖ref‖ ≤ 1e-4, and token-identical greedy
 * continuations, on both the vector backend and the scalar reference.
 */
class GoldenParityTests {

    static final java.util.List<String> CASES = GoldenFixture.CASES;

    /** float32 compute from the same bf16 weights; differences come only from summation order. */
    static final double MAX_RELATIVE_ERROR = 1e-4;

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void logitsOfEveryPositionShouldMatchTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        for (String backend : new String[] {"cpu", "cpu-scalar"}) {
            try (LoadedModel m = LoadedModel.load(f.dir(), new EngineOptions(backend, 2, 16));
                    Arena arena = Arena.ofConfined()) {
                for (int p = 0; p < f.promptCount(); p++) {
                    int[] prompt = f.prompt(p);
                    float[][] ref = f.logits(p, arena);
                    SequenceKv cache = m.cpuModel().newCache();
                    float[][] ours = m.cpuModel().forward(prompt, cache, IntStream.range(0, prompt.length).toArray());
                    for (int pos = 0; pos < prompt.length; pos++) {
                        assertThat(GoldenFixture.relativeError(ours[pos], ref[pos]))
                                .as("%s/%s prompt %d position %d", name, backend, p, pos)
                                .isLessThanOrEqualTo(MAX_RELATIVE_ERROR);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void greedyContinuationShouldBeTokenIdenticalToTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        try (LoadedModel m = LoadedModel.load(f.dir(), new EngineOptions("cpu", 2, 5))) {
            for (int p = 0; p < f.promptCount(); p++) {
                int[] expected = f.greedy(p);
                GenerationResult r = m.generator().generate(GenerationRequest.greedy(f.prompt(p), 16,
                        new HashSet<>(m.config().eosTokenIds())));
                assertThat(r.tokens()).as("%s prompt %d", name, p).containsExactly(expected);
            }
        }
    }
}
