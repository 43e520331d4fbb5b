package io.headroom.engine.eval;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The claim DuoAttention rests on, on the shipped passkey model and its whole held-out set: with the
 * model's pattern at sparsity 0.5, greedy passkey accuracy stays within 3 points of full attention,
 * while streaming-only attention and random head selection at the same sparsity fall far below.
 */
class PasskeyAccuracyIntegrationTests {

    static final Path ROOT = Path.of("..", "src", "models", "passkey").toAbsolutePath().normalize();

    @Test
    void duoAttentionAtHalfSparsityShouldKeepAccuracyWhereStreamingAndRandomHeadsLoseIt() {
        List<PasskeySample> samples = PasskeySample.readJsonl(ROOT.resolve("eval/passkey-heldout.jsonl"));
        try (LoadedModel m = LoadedModel.load(ROOT.resolve("model"), new EngineOptions("cpu", 2, 128))) {
            AttentionPattern pattern = AttentionPattern.load(ROOT.resolve("pattern"));
            int layers = m.config().numLayers();
            int heads = m.config().numKvHeads();
            int sink = pattern.sinkSize();
            int recent = pattern.recentSize();
            PasskeyEvaluation eval = new PasskeyEvaluation(m, 8);
            double full = eval.run(samples, DuoLayout.full(layers, heads)).accuracy();
            double duo = eval.run(samples, new DuoLayout(pattern.retrievalBySparsity(0.5), sink, recent)).accuracy();
            double streaming = eval.run(samples, DuoLayout.streamingOnly(layers, heads, sink, recent)).accuracy();
            double random = eval.run(samples, DuoLayout.random(layers, heads, 0.5, 1, sink, recent)).accuracy();
            assertThat(full).as("full attention").isGreaterThan(0.5);
            assertThat(Math.abs(duo - full)).as("duo %.3f vs full %.3f", duo, full).isLessThanOrEqualTo(0.03);
            assertThat(streaming).as("streaming-only").isLessThan(full / 4);
            assertThat(random).as("random heads at 0.5").isLessThan(full / 2);
        }
    }
}
