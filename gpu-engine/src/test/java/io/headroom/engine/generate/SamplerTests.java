package io.headroom.engine.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Token choice: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeds. */
class SamplerTests {

    static float[] logits() {
        return new float[] {1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f};
    }

    @Test
    void greedyShouldPickTheLargestLogitAndTheLowestIndexOnTies() {
        assertThat(new Sampler(SamplingParams.GREEDY).sample(logits(), new int[0], 0)).isEqualTo(1);
        assertThat(Sampler.argmax(new float[] {0f, 2f, 2f})).isEqualTo(1);
    }

    @Test
    void sameSeedShouldGiveTheSameSequenceAndAnotherSeedAnother() {
        int[] a = draw(new SamplingParams(1.5f, 0, 1f, 0f, 1f, 7L), 200);
        int[] b = draw(new SamplingParams(1.5f, 0, 1f, 0f, 1f, 7L), 200);
        int[] c = draw(new SamplingParams(1.5f, 0, 1f, 0f, 1f, 8L), 200);
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(c);
    }

    @Test
    void topKShouldOnlyEverReturnTheKMostLikelyTokens() {
        Set<Integer> seen = set(draw(new SamplingParams(5f, 2, 1f, 0f, 1f, 1L), 500));
        assertThat(seen).containsExactlyInAnyOrder(1, 5);
    }

    @Test
    void topPShouldKeepTheSmallestSetReachingP() {
        // softmax of logits(): p(1)≈0.32, p(5)≈0.29, p(2)≈0.19 ... → top-p 0.5 keeps {1, 5}
        Set<Integer> seen = set(draw(new SamplingParams(1f, 0, 0.5f, 0f, 1f, 1L), 500));
        assertThat(seen).containsExactlyInAnyOrder(1, 5);
        Set<Integer> one = set(draw(new SamplingParams(1f, 0, 0.01f, 0f, 1f, 1L), 100));
        assertThat(one).containsExactly(1);
    }

    @Test
    void minPShouldDropTokensFarBelowTheTopProbability() {
        // p(2)/p(1) = e^-0.5 ≈ 0.61, p(0)/p(1) = e^-2 ≈ 0.14: min-p 0.5 keeps {1, 5, 2}
        Set<Integer> seen = set(draw(new SamplingParams(1f, 0, 1f, 0.5f, 1f, 3L), 2000));
        assertThat(seen).containsExactlyInAnyOrder(1, 5, 2);
    }

    @Test
    void samplingFrequenciesShouldFollowTheSoftmax() {
        int n = 20000;
        int[] counts = new int[6];
        for (int t : draw(new SamplingParams(1f, 0, 1f, 0f, 1f, 11L), n)) {
            counts[t]++;
        }
        double[] p = new double[6];
        double z = 0;
        for (int i = 0; i < 6; i++) {
            p[i] = Math.exp(logits()[i]);
            z += p[i];
        }
        for (int i = 0; i < 6; i++) {
            assertThat(counts[i] / (double) n).as("token %d", i).isCloseTo(p[i] / z, org.assertj.core.data.Offset
                    .offset(0.015));
        }
    }

    @Test
    void repetitionPenaltyShouldShrinkPositiveAndGrowNegativeLogitsOfSeenTokens() {
        float[] l = logits();
        Sampler.applyRepetitionPenalty(l, new int[] {1, 3, 1}, 3, 2f);
        assertThat(l[1]).isEqualTo(1.5f);
        assertThat(l[3]).isEqualTo(-2f);
        assertThat(l[5]).isEqualTo(2.9f);
        assertThat(new Sampler(new SamplingParams(0f, 0, 1f, 0f, 2f, null)).sample(logits(), new int[] {1}, 1))
                .isEqualTo(5);
    }

    @Test
    void invalidParametersShouldBeRefusedWithTheirName() {
        assertThatThrownBy(() -> new SamplingParams(-1f, 0, 1f, 0f, 1f, null)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new SamplingParams(1f, -1, 1f, 0f, 1f, null)).hasMessageContaining("top_k");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 0f, 0f, 1f, null)).hasMessageContaining("top_p");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 1f, 2f, 1f, null)).hasMessageContaining("min_p");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 1f, 0f, 0f, null))
                .hasMessageContaining("repetition_penalty");
    }

    static int[] draw(SamplingParams params, int n) {
        Sampler s = new Sampler(params);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.sample(logits(), new int[0], 0);
        }
        return out;
    }

    static Set<Integer> set(int[] values) {
        return new HashSet<>(Arrays.stream(values).boxed().toList());
    }

    @Test
    void randomLogitsShouldNeverSampleOutsideTheVocabulary() {
        SplittableRandom r = new SplittableRandom(5);
        Sampler s = new Sampler(new SamplingParams(0.7f, 40, 0.9f, 0.05f, 1.1f, 2L));
        for (int i = 0; i < 200; i++) {
            float[] l = new float[97];
            for (int j = 0; j < l.length; j++) {
                l[j] = (float) r.nextGaussian() * 3;
            }
            assertThat(s.sample(l, new int[] {3, 4}, 2)).isBetween(0, 96);
        }
    }

    @Test
    void presenceAndFrequencyPenaltiesShouldLowerTokensTheCompletionHoldsNotThePrompt() {
        // context: prompt [1, 1] then completion [5, 5, 2]; logits() has 1 at 3.0, 5 at 2.9, 2 at 2.5
        int[] context = {1, 1, 5, 5, 2};
        float[] l = logits();
        Sampler.applyOpenAiPenalties(l, context, 2, 5, 0.25f, 0.5f);
        assertThat(l[1]).isEqualTo(3.0f); // only in the prompt: untouched
        assertThat(l[5]).isEqualTo(2.9f - 2 * 0.5f - 0.25f);
        assertThat(l[2]).isEqualTo(2.5f - 0.5f - 0.25f);
        assertThat(l[0]).isEqualTo(1.0f);
        // greedy with a frequency penalty: token 1 is picked, then penalised below token 5
        Sampler greedy = new Sampler(new SamplingParams(0f, 0, 1f, 0f, 1f, null, 0f, 0.2f));
        assertThat(greedy.sample(logits(), new int[] {7, 1}, 2, 1)).isEqualTo(5);
        assertThat(greedy.sample(logits(), new int[] {7, 1}, 2, 2)).isEqualTo(1);
    }
}
