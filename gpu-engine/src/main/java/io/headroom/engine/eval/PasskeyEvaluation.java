package io.headroom.engine.eval;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import java.util.List;
import java.util.Set;

/**
 * Greedy passkey accuracy: a sample is correct when the greedy continuation of its prompt
 * (tokenised with the tokenizer's special tokens, as transformers does by default), decoded and
 * trimmed of surrounding whitespace, starts with the answer.
 */
public final class PasskeyEvaluation {

    /** Accuracy over n samples, with the per-sample outcome. */
    public record Result(int correct, int n, boolean[] outcomes) {
        public double accuracy() {
            return n == 0 ? 0 : correct / (double) n;
        }
    }

    private final LoadedModel model;
    private final int maxNewTokens;

    public PasskeyEvaluation(LoadedModel model, int maxNewTokens) {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
        }
        this.model = model;
        this.maxNewTokens = maxNewTokens;
    }

    public Result run(List<PasskeySample> samples, DuoLayout layout) {
        var generator = model.generator(layout);
        Set<Integer> stops = Set.copyOf(model.config().eosTokenIds());
        boolean[] outcomes = new boolean[samples.size()];
        int correct = 0;
        for (int i = 0; i < samples.size(); i++) {
            PasskeySample s = samples.get(i);
            int[] prompt = model.tokenizer().encode(s.prompt(), true);
            GenerationResult r = generator.generate(GenerationRequest.greedy(prompt, maxNewTokens, stops));
            outcomes[i] = r.text().strip().startsWith(s.answer().strip());
            correct += outcomes[i] ? 1 : 0;
        }
        return new Result(correct, samples.size(), outcomes);
    }
}
