package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.KvCache;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.PasskeySample;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.golden.GoldenFixture;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device-resident model behind the engine's entry point ({@link LoadedModel} with backend
 * {@code cuda} / {@code auto}): the generator, logits of chosen rows, and the session cache's host
 * round trip (device → host copy → checksummed blocks → device) give what the CPU engine gives.
 * Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaEngineTests {

    static final int THREADS = Runtime.getRuntime().availableProcessors();

    @Test
    void autoShouldPickTheResidentCudaModel() {
        GoldenFixture f = GoldenFixture.load("llama3-gqa");
        try (LoadedModel m = LoadedModel.load(f.dir(), new EngineOptions("auto", THREADS, 16))) {
            assertThat(m.model()).isInstanceOf(CudaForwardModel.class);
            assertThat(m.model().backendName()).startsWith("cuda");
        }
    }

    @Test
    void generatorAndChosenLogitRowsShouldMatchTheCpuEngine() {
        Path dir = CudaPasskeyTests.root().resolve("model");
        List<PasskeySample> samples = PasskeySample.readJsonl(CudaPasskeyTests.root().resolve("eval")
                .resolve("passkey-heldout.jsonl")).subList(0, 5);
        AttentionPattern pattern = AttentionPattern.load(CudaPasskeyTests.root().resolve("pattern"));
        try (LoadedModel cpu = LoadedModel.load(dir, new EngineOptions("cpu", THREADS, 64));
                LoadedModel gpu = LoadedModel.load(dir, new EngineOptions("cuda", THREADS, 64, 64, "f32", 2, 0))) {
            var c = cpu.config();
            DuoLayout duo = new DuoLayout(pattern.retrievalBySparsity(0.5), pattern.sinkSize(), pattern.recentSize());
            Set<Integer> stops = Set.copyOf(c.eosTokenIds());
            for (PasskeySample s : samples) {
                int[] prompt = cpu.tokenizer().encode(s.prompt(), true);
                GenerationResult expected = cpu.generator(duo).generate(GenerationRequest.greedy(prompt, 8, stops));
                GenerationResult actual = gpu.generator(duo).generate(GenerationRequest.greedy(prompt, 8, stops));
                assertThat(actual.tokens()).containsExactly(expected.tokens());
                assertThat(actual.text()).isEqualTo(expected.text());
            }
            // rows 3, 17 and the last of one 64-token chunk: the device model cuts the chunk after each
            int[] prompt = Arrays.copyOf(cpu.tokenizer().encode(samples.get(0).prompt(), true), 64);
            int[] rows = {3, 17, 63};
            try (KvCache a = cpu.model().newCache(duo, 64); KvCache b = gpu.model().newCache(duo, 64)) {
                float[][] expected = cpu.model().forward(prompt, a, rows);
                float[][] actual = gpu.model().forward(prompt, b, rows);
                for (int i = 0; i < rows.length; i++) {
                    assertThat(GoldenFixture.relativeError(actual[i], expected[i])).as("row %d", rows[i])
                            .isLessThanOrEqualTo(1e-4);
                }
                assertThat(b.length()).isEqualTo(64);
            }
        }
    }

    @Test
    void sessionCacheRoundTripShouldContinueExactly() {
        Path dir = CudaPasskeyTests.root().resolve("model");
        PasskeySample s = PasskeySample.readJsonl(CudaPasskeyTests.root().resolve("eval")
                .resolve("passkey-heldout.jsonl")).get(1);
        AttentionPattern pattern = AttentionPattern.load(CudaPasskeyTests.root().resolve("pattern"));
        for (String kvType : List.of("f32", "bf16")) {
            try (LoadedModel gpu = LoadedModel.load(dir, new EngineOptions("cuda", THREADS, 64, 64, kvType, 2, 0))) {
                var c = gpu.config();
                DuoLayout duo = new DuoLayout(pattern.retrievalBySparsity(0.5), pattern.sinkSize(),
                        pattern.recentSize());
                int[] prompt = gpu.tokenizer().encode(s.prompt(), true);
                int half = prompt.length / 2;
                Generator g = gpu.generator(duo);
                Set<Integer> stops = Set.copyOf(c.eosTokenIds());
                int[] second = Arrays.copyOfRange(prompt, half, prompt.length);
                GenerationResult direct;
                try (KvCache kv = g.newSequence()) {
                    Generator.prefill(gpu.model(), kv, Arrays.copyOf(prompt, half), 64);
                    direct = g.generate(GenerationRequest.greedy(second, 8, stops), kv);
                }
                // the session cache's way: the retrieval block off-heap, the streaming state as bytes
                byte[] streaming;
                try (Arena parked = Arena.ofConfined()) {
                    RetrievalBlock block;
                    try (KvCache kv = g.newSequence()) {
                        Generator.prefill(gpu.model(), kv, Arrays.copyOf(prompt, half), 64);
                        block = kv.exportRetrieval(parked);
                        block.seal();
                        streaming = kv.exportStreaming();
                    }
                    SequenceKv streamingState = KvStateCodec.importStreaming(streaming, duo, c.headDim(), 16,
                            c.maxPositions());
                    try (KvCache back = gpu.model().fromHost(streamingState,
                            RetrievalBlock.open(block.segment(), duo, c.headDim()))) {
                        GenerationResult resumed = g.generate(GenerationRequest.greedy(second, 8, stops),
                                back);
                        assertThat(resumed.tokens()).as(kvType).containsExactly(direct.tokens());
                    }
                }
            }
        }
    }
}
