package io.headroom.engine.duo.identify;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.PasskeyEvaluation;
import io.headroom.engine.eval.PasskeySample;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Identification on the shipped passkey model, on this machine's CPU: the pattern Headroom finds
 * (40 steps, generated haystack), used at sparsity 0.5, keeps held-out passkey accuracy within 3
 * points of full attention (it may do better: this small model's full attention is itself noisy),
 * and ranks heads consistently with the PyTorch reference pattern shipped with the model.
 */
class IdentifyIntegrationTests {

    static final Path ROOT = Path.of("..", "src", "models", "passkey").toAbsolutePath().normalize();

    @TempDir
    Path out;

    @Test
    void identifiedPatternShouldKeepAccuracyAndAgreeWithTheReference() throws Exception {
        Path modelDir = ROOT.resolve("model");
        try (LoadedModel m = LoadedModel.load(modelDir, new EngineOptions("cpu", 2, 128));
                Checkpoint ckpt = Checkpoint.open(modelDir); Parallel parallel = new Parallel(2)) {
            GateModel model = new GateModel(m.config(), LlamaWeights.load(ckpt, m.config()), parallel);
            var settings = new Identification.Settings(40, 8, 32, 0.05, 0.02, 150, 400, 3, 0);
            AttentionPattern found = new Identification(model, new PasskeySampler(m.tokenizer(), null, 3, 0), settings)
                    .run(s -> { });
            found.save(out);
            AttentionPattern loaded = AttentionPattern.load(out);
            assertThat(loaded.sinkSize()).isEqualTo(8);
            assertThat(loaded.recentSize()).isEqualTo(32);

            List<PasskeySample> samples = PasskeySample.readJsonl(ROOT.resolve("eval/passkey-heldout.jsonl"));
            PasskeyEvaluation eval = new PasskeyEvaluation(m, 8);
            double full = eval.run(samples, DuoLayout.full(4, 4)).accuracy();
            double duo = eval.run(samples, new DuoLayout(loaded.retrievalBySparsity(0.5), 8, 32)).accuracy();
            AttentionPattern reference = AttentionPattern.load(ROOT.resolve("pattern"));
            double rho = spearman(flat(loaded), flat(reference));
            System.out.printf("identify: full %.3f, duo@0.5 %.3f, spearman vs reference %.3f%n", full, duo, rho);
            assertThat(duo).as("duo %.3f vs full %.3f", duo, full).isGreaterThanOrEqualTo(full - 0.03);
            assertThat(rho).isGreaterThan(0.5);
        }
    }

    static double[] flat(AttentionPattern p) {
        return IntStream.range(0, p.layers() * p.kvHeads())
                .mapToDouble(i -> p.gate(i / p.kvHeads(), i % p.kvHeads())).toArray();
    }

    /** Spearman's rank correlation with average ranks for ties. */
    static double spearman(double[] a, double[] b) {
        double[] ra = ranks(a);
        double[] rb = ranks(b);
        double ma = Arrays.stream(ra).average().orElse(0);
        double mb = Arrays.stream(rb).average().orElse(0);
        double cov = 0;
        double va = 0;
        double vb = 0;
        for (int i = 0; i < a.length; i++) {
            cov += (ra[i] - ma) * (rb[i] - mb);
            va += (ra[i] - ma) * (ra[i] - ma);
            vb += (rb[i] - mb) * (rb[i] - mb);
        }
        return cov / Math.sqrt(va * vb);
    }

    static double[] ranks(double[] v) {
        Integer[] idx = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(idx, Comparator.comparingDouble(i -> v[i]));
        double[] r = new double[v.length];
        for (int i = 0; i < v.length;) {
            int j = i;
            while (j + 1 < v.length && v[idx[j + 1]] == v[idx[i]]) {
                j++;
            }
            for (int k = i; k <= j; k++) {
                r[idx[k]] = (i + j) / 2.0 + 1;
            }
            i = j + 1;
        }
        return r;
    }
}
