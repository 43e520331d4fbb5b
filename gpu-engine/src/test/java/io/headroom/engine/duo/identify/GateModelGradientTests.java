package io.headroom.engine.duo.identify;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The identification gradient dLoss/dα against central finite differences, on the tiny golden
 * Llama (2 layers, GQA 4/2, llama3 rope): gates at random values inside (0, 1), a distillation
 * loss on the last positions, sink 2 and window 5 so streaming and full attention differ.
 */
class GateModelGradientTests {

    @Test
    void analyticGateGradientShouldMatchFiniteDifferences() throws Exception {
        Path dir = Path.of(GateModelGradientTests.class.getResource("/golden/llama3-gqa").toURI());
        ModelConfig config = ModelConfigReader.read(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir); Parallel parallel = new Parallel(2)) {
            GateModel model = new GateModel(config, LlamaWeights.load(ckpt, config), parallel);
            SplittableRandom r = new SplittableRandom(7);
            int[] tokens = new int[24];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = r.nextInt(config.vocabSize());
            }
            double[][] gates = new double[config.numLayers()][config.numKvHeads()];
            for (double[] row : gates) {
                for (int g = 0; g < row.length; g++) {
                    row[g] = 0.2 + 0.6 * r.nextDouble();
                }
            }
            int sink = 2;
            int recent = 5;
            GateModel.Pass teacher = model.forward(tokens, null, sink, recent);
            GateModel.Pass student = model.forward(tokens, gates, sink, recent);
            int from = 16;
            double[] dHidden = lossGradient(student, teacher, from, tokens.length, config.hiddenSize());
            double[][] analytic = model.backward(student, dHidden, gates, sink, recent);

            double eps = 1e-5;
            for (int l = 0; l < gates.length; l++) {
                for (int g = 0; g < gates[l].length; g++) {
                    double keep = gates[l][g];
                    gates[l][g] = keep + eps;
                    double up = loss(model.forward(tokens, gates, sink, recent), teacher, from, tokens.length,
                            config.hiddenSize());
                    gates[l][g] = keep - eps;
                    double down = loss(model.forward(tokens, gates, sink, recent), teacher, from, tokens.length,
                            config.hiddenSize());
                    gates[l][g] = keep;
                    double numeric = (up - down) / (2 * eps);
                    assertThat(analytic[l][g]).as("layer %d head %d", l, g)
                            .isCloseTo(numeric, org.assertj.core.data.Offset.offset(1e-6 + 1e-4 * Math.abs(numeric)));
                    assertThat(Math.abs(numeric)).as("the loss depends on gate (%d, %d)", l, g).isGreaterThan(1e-9);
                }
            }
        }
    }

    static double loss(GateModel.Pass student, GateModel.Pass teacher, int from, int t, int h) {
        double sum = 0;
        for (int i = from; i < t; i++) {
            for (int j = 0; j < h; j++) {
                double d = student.hidden[i * h + j] - teacher.hidden[i * h + j];
                sum += d * d;
            }
        }
        return sum / ((double) (t - from) * h);
    }

    static double[] lossGradient(GateModel.Pass student, GateModel.Pass teacher, int from, int t, int h) {
        double[] d = new double[t * h];
        for (int i = from; i < t; i++) {
            for (int j = 0; j < h; j++) {
                d[i * h + j] = 2 * (student.hidden[i * h + j] - teacher.hidden[i * h + j]) / ((double) (t - from) * h);
            }
        }
        return d;
    }
}
