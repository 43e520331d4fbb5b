package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.PasskeySample;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The shipped passkey model on the device-resident path: for the first held-out prompts (about a
 * thousand tokens each, so retrieval heads span many pages and streaming rings wrap many times),
 * greedy answers under full attention, DuoAttention at 0.5 and streaming-only. With f32 KV they are
 * token-identical to the CPU engine's, hence the same accuracy. With bf16 KV (the long-context
 * setting) keys and values are rounded to 8 significant bits, which flips near-tied digits of this
 * 62%-accurate model now and then: accuracy must stay within {@link #BF16_ACCURACY_SLACK} samples
 * of the CPU's, and the token agreement is printed. Prefill in chunks of 64. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaPasskeyTests {

    static final int SAMPLES = 40;
    static final int MAX_NEW = 8;
    static final int BF16_ACCURACY_SLACK = 2;

    static Path root() {
        for (Path p : List.of(Path.of("src", "models", "passkey"), Path.of("..", "src", "models", "passkey"))) {
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        throw new IllegalStateException("the shipped passkey model is missing (src/models/passkey)");
    }

    @Test
    void residentPathShouldAnswerAsTheCpuEngine() {
        Path dir = root().resolve("model");
        List<PasskeySample> samples = PasskeySample.readJsonl(root().resolve("eval").resolve("passkey-heldout.jsonl"))
                .subList(0, SAMPLES);
        int threads = Runtime.getRuntime().availableProcessors();
        try (LoadedModel cpu = LoadedModel.load(dir, new EngineOptions("cpu", threads, 128, 64));
                Checkpoint ckpt = Checkpoint.open(dir); CudaDevice device = CudaDevice.open(0)) {
            var config = cpu.config();
            AttentionPattern pattern = AttentionPattern.load(root().resolve("pattern"));
            int sink = pattern.sinkSize();
            int recent = pattern.recentSize();
            Map<String, DuoLayout> layouts = new LinkedHashMap<>();
            layouts.put("full", DuoLayout.full(config.numLayers(), config.numKvHeads()));
            layouts.put("duo 0.5", new DuoLayout(pattern.retrievalBySparsity(0.5), sink, recent));
            layouts.put("streaming", DuoLayout.streamingOnly(config.numLayers(), config.numKvHeads(), sink, recent));
            Set<Integer> stops = Set.copyOf(config.eosTokenIds());
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            Map<String, int[][]> cpuAnswers = new LinkedHashMap<>();
            Map<String, Integer> cpuCorrect = new LinkedHashMap<>();
            for (var e : layouts.entrySet()) {
                var generator = cpu.generator(e.getValue());
                int[][] answers = new int[SAMPLES][];
                int correct = 0;
                for (int i = 0; i < SAMPLES; i++) {
                    int[] prompt = cpu.tokenizer().encode(samples.get(i).prompt(), true);
                    answers[i] = generator.generate(GenerationRequest.greedy(prompt, MAX_NEW, stops)).tokens();
                    correct += isCorrect(cpu, answers[i], samples.get(i)) ? 1 : 0;
                }
                cpuAnswers.put(e.getKey(), answers);
                cpuCorrect.put(e.getKey(), correct);
            }
            // f32 KV: the exact path; bf16 KV: tensor-core prefill GEMMs (ours), then the production path
            // (cuBLAS, flash_prefill_ws128 where it runs), then that with the staged prefill options (gate and up
            // as one bf16-output GEMM, the residual added in the GEMMs)
            var exact = new CudaLlamaModel.Options(4096, 64, layouts.get("full"), DeviceKvType.F32, 64, 1, true, false);
            var ours = exact.withKvType(DeviceKvType.BF16).withTensorCores(true);
            var production = ours.withCublas(true).withPrefillAttention(PrefillAttention.WARP_SPECIALIZED);
            Map<String, CudaLlamaModel.Options> variants = new LinkedHashMap<>();
            variants.put("f32 KV", exact);
            variants.put("bf16 KV, gemm.cu", ours);
            variants.put("bf16 KV, cuBLAS", production);
            variants.put("bf16 KV, cuBLAS, gate/up bf16, residual in GEMM", production.withGateUpBf16(true)
                    .withResidualInGemm(true));
            for (var v : variants.entrySet()) {
                boolean isExact = v.getValue().kvType() == DeviceKvType.F32;
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, v.getValue())) {
                    for (var e : layouts.entrySet()) {
                        int correct = 0;
                        int same = 0;
                        for (int i = 0; i < SAMPLES; i++) {
                            int[] prompt = cpu.tokenizer().encode(samples.get(i).prompt(), true);
                            int[] answer = greedy(gpu, e.getValue(), prompt, stops);
                            int[] expected = cpuAnswers.get(e.getKey())[i];
                            if (isExact) {
                                assertThat(answer).as("%s sample %d", e.getKey(), i).containsExactly(expected);
                            }
                            same += Arrays.equals(answer, expected) ? 1 : 0;
                            correct += isCorrect(cpu, answer, samples.get(i)) ? 1 : 0;
                        }
                        int expectedCorrect = cpuCorrect.get(e.getKey());
                        System.out.printf("passkey %s, %s: cpu %d/%d, cuda %d/%d, identical answers %d/%d%n",
                                e.getKey(), v.getKey(), expectedCorrect, SAMPLES, correct, SAMPLES, same, SAMPLES);
                        if (isExact) {
                            assertThat(correct).as(e.getKey()).isEqualTo(expectedCorrect);
                        } else {
                            assertThat(correct).as(e.getKey() + ", " + v.getKey()).isBetween(
                                    expectedCorrect - BF16_ACCURACY_SLACK, expectedCorrect + BF16_ACCURACY_SLACK);
                        }
                    }
                }
            }
        }
    }

    private static boolean isCorrect(LoadedModel m, int[] tokens, PasskeySample s) {
        return m.tokenizer().decode(tokens, true).strip().startsWith(s.answer().strip());
    }

    private static int[] greedy(CudaLlamaModel gpu, DuoLayout layout, int[] prompt, Set<Integer> stops) {
        try (CudaSequence seq = gpu.newSequence(layout)) {
            int token = 0;
            for (int from = 0; from < prompt.length; from += 64) {
                token = gpu.forwardGreedy(seq, Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + 64)));
            }
            int[] out = new int[MAX_NEW];
            int n = 0;
            while (true) {
                out[n++] = token;
                if (stops.contains(token) || n == MAX_NEW) {
                    break;
                }
                token = gpu.forwardGreedy(seq, new int[] {token});
            }
            return Arrays.copyOf(out, n);
        }
    }
}
