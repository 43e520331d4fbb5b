package io.headroom.engine.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Chooses tokens from logits according to {@link SamplingParams}. Not thread-safe: one per sequence. */
public final class Sampler {

    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : System.nanoTime());
    }

    /**
     * The next token. {@code logits} is modified (penalties, temperature); {@code context} holds the
     * ids seen so far (prompt and output) for the repetition penalty, {@code contextLength} of them.
     */
    public int sample(float[] logits, int[] context, int contextLength) {
        return sample(logits, context, contextLength, contextLength);
    }

    /**
     * As {@link #sample(float[], int[], int)}, where the completion (what the presence and frequency
     * penalties look at) is {@code context[completionStart, contextLength)}.
     */
    public int sample(float[] logits, int[] context, int contextLength, int completionStart) {
        if (params.repetitionPenalty() != 1f) {
            applyRepetitionPenalty(logits, context, contextLength, params.repetitionPenalty());
        }
        if (params.presencePenalty() != 0f || params.frequencyPenalty() != 0f) {
            applyOpenAiPenalties(logits, context, completionStart, contextLength, params.presencePenalty(),
                    params.frequencyPenalty());
        }
        if (params.greedy()) {
            return argmax(logits);
        }
        int n = logits.length;
        float max = Float.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        // probabilities, sorted descending by index order of decreasing logit
        Integer[] order = new Integer[n];
        double[] prob = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            prob[i] = Math.exp((logits[i] - max) / params.temperature());
            sum += prob[i];
            order[i] = i;
        }
        for (int i = 0; i < n; i++) {
            prob[i] /= sum;
        }
        Arrays.sort(order, (a, b) -> Double.compare(prob[b], prob[a]) != 0 ? Double.compare(prob[b], prob[a])
                : Integer.compare(a, b));
        int keep = n;
        if (params.topK() > 0) {
            keep = Math.min(keep, params.topK());
        }
        if (params.topP() < 1f) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += prob[order[i]];
                if (cumulative >= params.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        if (params.minP() > 0f) {
            double threshold = params.minP() * prob[order[0]];
            int k = 1;
            while (k < keep && prob[order[k]] >= threshold) {
                k++;
            }
            keep = k;
        }
        double total = 0;
        for (int i = 0; i < keep; i++) {
            total += prob[order[i]];
        }
        double r = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= prob[order[i]];
            if (r < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    static void applyRepetitionPenalty(float[] logits, int[] context, int contextLength, float penalty) {
        boolean[] seen = new boolean[logits.length];
        for (int i = 0; i < contextLength; i++) {
            int id = context[i];
            if (id >= 0 && id < logits.length && !seen[id]) {
                seen[id] = true;
                logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
            }
        }
    }

    /**
     * OpenAI's penalties: {@code logit[j] -= count[j] * frequency + (count[j] > 0 ? presence : 0)},
     * where {@code count[j]} is how often token j occurs in {@code context[from, to)}.
     */
    static void applyOpenAiPenalties(float[] logits, int[] context, int from, int to, float presence,
            float frequency) {
        java.util.Map<Integer, Integer> counts = new java.util.HashMap<>();
        for (int i = from; i < to; i++) {
            int id = context[i];
            if (id >= 0 && id < logits.length) {
                counts.merge(id, 1, Integer::sum);
            }
        }
        counts.forEach((id, n) -> logits[id] -= n * frequency + presence);
    }

    /** Index of the largest logit; the lowest index wins a tie, as torch.argmax does. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }
}
