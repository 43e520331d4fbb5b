package io.headroom.engine.golden;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.generate.FinishReason;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.SamplingParams;
import io.headroom.engine.kv.SequenceKv;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Generation behaviour on a golden model: chunking, limits, stops, streaming, cancellation. */
class GenerationTests {

    static LoadedModel model;
    static int[] prompt;

    @BeforeAll
    static void load() {
        GoldenFixture f = GoldenFixture.load("llama3-gqa");
        model = LoadedModel.load(f.dir(), new EngineOptions("cpu", 2, 16));
        prompt = f.prompt(3); // 96 tokens
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void prefillChunkSizeShouldNotChangeTheLogits() {
        float[] whole = Generator.prefill(model.cpuModel(), model.cpuModel().newCache(), prompt, prompt.length);
        for (int chunk : new int[] {1, 7, 64}) {
            float[] chunked = Generator.prefill(model.cpuModel(), model.cpuModel().newCache(), prompt, chunk);
            assertThat(GoldenFixture.relativeError(chunked, whole)).as("chunk %d", chunk).isLessThan(1e-6);
        }
    }

    @Test
    void maxNewTokensShouldBoundTheOutput() {
        GenerationResult r = generate(new GenerationRequest(prompt, 5, SamplingParams.GREEDY, Set.of(), List.of(),
                null, null));
        assertThat(r.tokens()).hasSize(5);
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.promptTokens()).isEqualTo(prompt.length);
    }

    @Test
    void stopTokenShouldEndGenerationAndContributeNoText() {
        int[] free = generate(GenerationRequest.greedy(prompt, 8, Set.of())).tokens();
        int stopAt = free[3];
        int first = IntStream.range(0, free.length).filter(i -> free[i] == stopAt).findFirst().orElseThrow();
        GenerationResult r = generate(GenerationRequest.greedy(prompt, 8, Set.of(stopAt)));
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP_TOKEN);
        assertThat(r.tokens()).hasSize(first + 1).endsWith(stopAt);
        int[] before = java.util.Arrays.copyOf(free, first);
        assertThat(r.text()).isEqualTo(model.tokenizer().decode(before, true));
    }

    @Test
    void streamedPiecesShouldConcatenateToTheResultText() {
        List<String> pieces = new ArrayList<>();
        GenerationResult r = generate(new GenerationRequest(prompt, 20, SamplingParams.GREEDY, Set.of(), List.of(),
                (id, text) -> pieces.add(text), null));
        assertThat(String.join("", pieces)).isEqualTo(r.text());
        assertThat(r.text()).isEqualTo(model.tokenizer().decode(r.tokens(), true));
    }

    @Test
    void stopStringShouldCutTheTextAndNeverBeStreamed() {
        GenerationResult free = generate(GenerationRequest.greedy(prompt, 20, Set.of()));
        String text = free.text();
        assertThat(text.length()).isGreaterThan(6);
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        List<String> pieces = new ArrayList<>();
        GenerationResult r = generate(new GenerationRequest(prompt, 20, SamplingParams.GREEDY, Set.of(),
                List.of(stop), (id, t) -> pieces.add(t), null));
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP_STRING);
        assertThat(r.text()).isEqualTo(text.substring(0, text.indexOf(stop)));
        assertThat(String.join("", pieces)).isEqualTo(r.text());
    }

    @Test
    void cancellationShouldStopAtTheNextToken() {
        AtomicBoolean cancelled = new AtomicBoolean();
        List<Integer> seen = new ArrayList<>();
        GenerationResult r = generate(new GenerationRequest(prompt, 50, SamplingParams.GREEDY, Set.of(), List.of(),
                (id, t) -> {
                    seen.add(id);
                    if (seen.size() == 3) {
                        cancelled.set(true);
                    }
                }, cancelled));
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens()).hasSize(3);
    }

    @Test
    void seededSamplingShouldBeReproducible() {
        SamplingParams p = new SamplingParams(0.9f, 50, 0.95f, 0f, 1.1f, 1234L);
        GenerationResult a = generate(new GenerationRequest(prompt, 12, p, Set.of(), List.of(), null, null));
        GenerationResult b = generate(new GenerationRequest(prompt, 12, p, Set.of(), List.of(), null, null));
        assertThat(a.tokens()).containsExactly(b.tokens());
    }

    @Test
    void promptBeyondTheContextLimitShouldBeRefused() {
        int[] tooLong = new int[model.config().maxPositions() + 1];
        assertThatThrownBy(() -> generate(GenerationRequest.greedy(tooLong, 1, Set.of())))
                .hasMessageContaining("exceeds the model's context limit of " + model.config().maxPositions());
    }

    @Test
    void generationShouldStopAtTheContextLimit() {
        int limit = model.config().maxPositions();
        int[] nearlyFull = IntStream.range(0, limit - 3).map(i -> prompt[i % prompt.length]).toArray();
        GenerationResult r = generate(GenerationRequest.greedy(nearlyFull, 10, Set.of()));
        assertThat(r.finishReason()).isEqualTo(FinishReason.CONTEXT_LIMIT);
        assertThat(r.tokens()).hasSize(4); // the last one is sampled from the logits of position limit - 1
    }

    @Test
    void tokenOutsideTheVocabularyShouldBeRefused() {
        SequenceKv cache = model.cpuModel().newCache();
        assertThatThrownBy(() -> model.cpuModel().forward(new int[] {1, 100000}, cache, new int[] {1}))
                .hasMessageContaining("token id 100000 is outside the vocabulary");
        assertThat(cache.length()).isZero();
    }

    static GenerationResult generate(GenerationRequest request) {
        return model.generator().generate(request);
    }
}
