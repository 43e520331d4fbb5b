package io.headroom.engine.duo.identify;

import io.headroom.engine.duo.AttentionPattern;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Finds a model's retrieval heads the way DuoAttention does (arXiv 2410.10819, §3.2): the model is
 * frozen; gates α per (layer, KV head) start at 1 and are trained so that the model with mixed
 * attention ({@code α·full + (1 − α)·streaming}) reproduces the full model's final-norm hidden
 * states on the question-and-answer positions of synthetic passkey samples, while an L1 term
 * {@code λ·mean(α)} pushes gates down. Adam with linear warm-up and decay; gates are clamped to
 * [0, 1] after every step. Heads whose gates stay high are retrieval heads.
 */
public final class Identification {

    /** Settings; every one is recorded in the pattern's config.json. */
    public record Settings(int steps, int sink, int recent, double lambda, double lr, int minLength, int maxLength,
            int needles, long seed) {

        public Settings {
            check(steps >= 1, "steps must be >= 1");
            check(sink >= 0 && recent >= 1, "sink must be >= 0 and recent >= 1");
            check(lambda >= 0, "lambda must be >= 0");
            check(lr > 0, "lr must be > 0");
            check(minLength >= 1 && maxLength >= minLength, "need 1 <= min length <= max length");
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }

    /** Progress of one step. */
    public record Step(int step, double distill, double meanGate, double seconds, double remainingSeconds) {
    }

    private final GateModel model;
    private final PasskeySampler sampler;
    private final Settings settings;

    public Identification(GateModel model, PasskeySampler sampler, Settings settings) {
        this.model = model;
        this.sampler = sampler;
        this.settings = settings;
    }

    /** Runs the optimisation; {@code progress} sees every step. */
    public AttentionPattern run(Consumer<Step> progress) {
        var c = model.config();
        int layers = c.numLayers();
        int heads = c.numKvHeads();
        double[][] gates = new double[layers][heads];
        double[][] m = new double[layers][heads];
        double[][] v = new double[layers][heads];
        for (double[] row : gates) {
            java.util.Arrays.fill(row, 1.0);
        }
        SplittableRandom r = new SplittableRandom(settings.seed());
        List<Map<String, Object>> curve = new ArrayList<>();
        long t0 = System.nanoTime();
        int warmup = Math.max(1, settings.steps() / 10);
        for (int step = 0; step < settings.steps(); step++) {
            int length = settings.minLength() + r.nextInt(settings.maxLength() - settings.minLength() + 1);
            PasskeySampler.Sample s = sampler.sample(r, length);
            GateModel.Pass teacher = model.forward(s.tokens(), null, settings.sink(), settings.recent());
            GateModel.Pass student = model.forward(s.tokens(), gates, settings.sink(), settings.recent());
            int t = s.tokens().length;
            int h = c.hiddenSize();
            int selected = t - s.tailStart();
            double[] dHidden = new double[t * h];
            double distill = 0;
            for (int i = s.tailStart(); i < t; i++) {
                for (int j = 0; j < h; j++) {
                    double d = student.hidden[i * h + j] - teacher.hidden[i * h + j];
                    distill += d * d;
                    dHidden[i * h + j] = 2 * d / ((double) selected * h);
                }
            }
            distill /= (double) selected * h;
            double[][] grad = model.backward(student, dHidden, gates, settings.sink(), settings.recent());
            double lr = settings.lr() * Math.min(1.0, (step + 1) / (double) warmup)
                    * Math.max(0.0, 1.0 - step / (double) settings.steps());
            double meanGate = 0;
            for (int l = 0; l < layers; l++) {
                for (int g = 0; g < heads; g++) {
                    double gr = grad[l][g] + settings.lambda() / (layers * heads);
                    m[l][g] = 0.9 * m[l][g] + 0.1 * gr;
                    v[l][g] = 0.999 * v[l][g] + 0.001 * gr * gr;
                    double mh = m[l][g] / (1 - Math.pow(0.9, step + 1));
                    double vh = v[l][g] / (1 - Math.pow(0.999, step + 1));
                    gates[l][g] = Math.min(1, Math.max(0, gates[l][g] - lr * mh / (Math.sqrt(vh) + 1e-8)));
                    meanGate += gates[l][g];
                }
            }
            meanGate /= layers * heads;
            double elapsed = (System.nanoTime() - t0) / 1e9;
            double remaining = elapsed / (step + 1) * (settings.steps() - step - 1);
            Step st = new Step(step, distill, meanGate, elapsed, remaining);
            progress.accept(st);
            Map<String, Object> point = new LinkedHashMap<>();
            point.put("step", step);
            point.put("distill", distill);
            point.put("reg", meanGate);
            curve.add(point);
        }
        float[][] out = new float[layers][heads];
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < heads; g++) {
                out[l][g] = (float) gates[l][g];
            }
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("produced_by", "headroom-engine identify");
        config.put("supervision", "distill");
        config.put("num_steps", settings.steps());
        config.put("sink_size", settings.sink());
        config.put("recent_size", settings.recent());
        config.put("reg_weight", settings.lambda());
        config.put("lr", settings.lr());
        config.put("initial_value", 1.0);
        config.put("context_length_min", settings.minLength());
        config.put("context_length_max", settings.maxLength());
        config.put("num_passkeys", settings.needles());
        config.put("seed", settings.seed());
        config.put("wall_time_seconds", (System.nanoTime() - t0) / 1e9);
        config.put("loss_curve", List.copyOf(curve));
        return new AttentionPattern(out, config);
    }
}
