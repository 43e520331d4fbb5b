package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.PasskeySample;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
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
 * greedy answers under full attention, DuoAttention at 0.5 and streaming-only are token-identical
 * to the CPU engine's, hence the same accuracy. Prefill in chunks of 64 with bf16 KV: the setting
 * a long-context deployment runs. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaPasskeyTests {

    static final int SAMPLES = 40;
    static final int MAX_NEW = 8;

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
        try (LoadedModel cpu = LoadedModel.load(dir, new EngineOptions("cpu", 0, 128, 64));
                Checkpoint ckpt = Checkpoint.open(dir); CudaDevice device = CudaDevice.open(0)) {
            var config = cpu.config();
            AttentionPattern pattern = AttentionPattern.load(root().resolve("pattern"));
            int sink = pattern.sinkSize();
            int recent = pattern.recentSize();
            Map<String, DuoLayout> layouts = new LinkedHashMap<>();
            layouts.put("full", DuoLayout.full(config.numLayers(), config.numKvHeads()));
            layouts.put("duo 0.5", new DuoLayout(pattern.retrievalBySparsity(0.5), sink, recent));
            layouts.put("streaming", DuoLayout.streamingOnly(config.numLayers(), config.numKvHeads(), sink, recent));
            var options = new CudaLlamaModel.Options(4096, 64, layouts.get("full"), DeviceKvType.BF16, 64, 1, true);
            Set<Integer> stops = Set.copyOf(config.eosTokenIds());
            try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, LlamaWeights.load(ckpt, config), options)) {
                for (var e : layouts.entrySet()) {
                    int cpuCorrect = 0;
                    int gpuCorrect = 0;
                    var generator = cpu.generator(e.getValue());
                    for (int i = 0; i < samples.size(); i++) {
                        PasskeySample s = samples.get(i);
                        int[] prompt = cpu.tokenizer().encode(s.prompt(), true);
                        GenerationResult r = generator.generate(GenerationRequest.greedy(prompt, MAX_NEW, stops));
                        int[] ours = greedy(gpu, e.getValue(), prompt, stops);
                        assertThat(ours).as("%s sample %d", e.getKey(), i).containsExactly(r.tokens());
                        String text = cpu.tokenizer().decode(ours, true);
                        cpuCorrect += cpu.tokenizer().decode(r.tokens(), true).strip().startsWith(s.answer().strip())
                                ? 1 : 0;
                        gpuCorrect += text.strip().startsWith(s.answer().strip()) ? 1 : 0;
                    }
                    System.out.printf("passkey %s: cpu %d/%d, cuda %d/%d%n", e.getKey(), cpuCorrect, SAMPLES,
                            gpuCorrect, SAMPLES);
                    assertThat(gpuCorrect).isEqualTo(cpuCorrect);
                }
            }
        }
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
