package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.backend.cpu.ScalarKernels;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.Sampler;
import io.headroom.engine.golden.GoldenFixture;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaModel;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The device-resident forward pass ({@link CudaLlamaModel}) on the golden fixtures: against
 * transformers with full attention, and against the CPU engine with DuoAttention layouts whose
 * rings wrap within the prompt, for f32 and bf16 KV; graph replay against direct launches; the
 * KV download/upload round trip; the memory plan's refusal. Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaLlamaModelTests {

    static final List<String> CASES = GoldenFixture.CASES;

    /** Relative logit error allowed against the CPU engine, by KV element type. */
    static final double F32_KV_TOLERANCE = 1e-4;
    static final double BF16_KV_TOLERANCE = 3e-2;

    @ParameterizedTest
    @FieldSource("CASES")
    void residentForwardShouldMatchTransformers(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0);
                Arena arena = Arena.ofConfined();
                CudaLlamaModel model = new CudaLlamaModel(device, config, LlamaWeights.load(ckpt, config),
                        CudaLlamaModel.Options.full(config, 256, 16))) {
            for (int p = 0; p < f.promptCount(); p++) {
                int[] prompt = f.prompt(p);
                try (CudaSequence seq = model.newSequence()) {
                    float[] logits = null;
                    for (int from = 0; from < prompt.length; from += 5) {
                        logits = model.forward(seq, Arrays.copyOfRange(prompt, from,
                                Math.min(prompt.length, from + 5)));
                    }
                    float[] ref = f.logits(p, arena)[prompt.length - 1];
                    assertThat(GoldenFixture.relativeError(logits, ref)).as("%s prompt %d", name, p)
                            .isLessThanOrEqualTo(1e-4);
                    int[] greedy = f.greedy(p);
                    int[] ours = new int[greedy.length];
                    ours[0] = Sampler.argmax(logits);
                    int n = 1;
                    // decode steps replay the captured graph; the argmax comes from the device
                    while (n < greedy.length && !config.eosTokenIds().contains(ours[n - 1])) {
                        ours[n] = model.forwardGreedy(seq, new int[] {ours[n - 1]});
                        n++;
                    }
                    assertThat(Arrays.copyOf(ours, n)).as("%s prompt %d greedy", name, p).containsExactly(greedy);
                }
            }
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void duoAttentionShouldMatchTheCpuEngine(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        int layers = config.numLayers();
        int kvHeads = config.numKvHeads();
        List<DuoLayout> layouts = List.of(DuoLayout.random(layers, kvHeads, 0.5, 3, 2, 3),
                DuoLayout.streamingOnly(layers, kvHeads, 1, 4), DuoLayout.full(layers, kvHeads));
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            LlamaModel cpu = new LlamaModel(config, weights, new ScalarKernels());
            // f32 KV (exact), bf16 KV, and bf16 KV with prefill attention on tensor cores (WMMA, mma.sync)
            for (int variant = 0; variant < 4; variant++) {
                DeviceKvType type = variant == 0 ? DeviceKvType.F32 : DeviceKvType.BF16;
                double tolerance = type == DeviceKvType.F32 ? F32_KV_TOLERANCE : BF16_KV_TOLERANCE;
                CudaLlamaModel.Options options = CudaLlamaModel.Options.full(config, 128, 8).withKvType(type)
                        .withPrefillAttention(variant < 2 ? PrefillAttention.CUDA_CORES
                                : variant == 2 ? PrefillAttention.TENSOR_CORES : PrefillAttention.TENSOR_CORES_MMA);
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options)) {
                    for (DuoLayout layout : layouts) {
                        int[] prompt = f.prompt(f.promptCount() - 1);
                        SequenceKv cache = cpu.newCache(layout, 4);
                        float[] expected = Generator.prefill(cpu, cache, prompt, 4);
                        try (CudaSequence seq = gpu.newSequence(layout)) {
                            // chunks of 3 and 7: other boundaries than the CPU's, and a chunk wider than the ring
                            float[] got = null;
                            int from = 0;
                            for (int i = 0; from < prompt.length; i++) {
                                int to = Math.min(prompt.length, from + (i % 2 == 0 ? 3 : 7));
                                got = gpu.forward(seq, Arrays.copyOfRange(prompt, from, to));
                                from = to;
                            }
                            String what = name + " " + type + (variant == 2 ? " tensor-core attention" : "") + " "
                                    + layout.retrievalCount() + " retrieval heads";
                            assertThat(GoldenFixture.relativeError(got, expected)).as(what + " prefill")
                                    .isLessThanOrEqualTo(tolerance);
                            for (int step = 0; step < 6; step++) {
                                int token = Sampler.argmax(expected);
                                if (type == DeviceKvType.F32) {
                                    assertThat(Sampler.argmax(got)).as(what + " step " + step).isEqualTo(token);
                                }
                                expected = cpu.forward(new int[] {token}, cache, new int[] {0})[0];
                                got = gpu.forward(seq, new int[] {token});
                                assertThat(GoldenFixture.relativeError(got, expected)).as(what + " decode " + step)
                                        .isLessThanOrEqualTo(tolerance);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Decode steps replayed from graphs equal direct launches bit for bit, across the length where
     * the split-K share count doubles (so a second graph is captured mid-sequence).
     */
    @Test
    void graphReplayShouldEqualDirectLaunches() {
        GoldenFixture f = GoldenFixture.load("llama3-gqa");
        ModelConfig config = ModelConfigReader.read(f.dir());
        DuoLayout layout = DuoLayout.random(config.numLayers(), config.numKvHeads(), 0.5, 5, 1, 3);
        int[] prompt = new int[120];
        int[] base = f.prompt(0);
        Arrays.setAll(prompt, i -> base[i % base.length]);
        assertThat(CudaLlamaModel.decodeSplits(prompt.length + 1)).isLessThan(CudaLlamaModel.decodeSplits(
                prompt.length + 20));
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            float[][][] byMode = new float[2][20][];
            for (int mode = 0; mode < 2; mode++) {
                var options = CudaLlamaModel.Options.full(config, 200, 64).withLayout(layout).withGraphs(mode == 1)
                        .withTensorCores(true);
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options);
                        CudaSequence seq = gpu.newSequence()) {
                    int token = gpu.forwardGreedy(seq, Arrays.copyOf(prompt, 64));
                    token = gpu.forwardGreedy(seq, Arrays.copyOfRange(prompt, 64, prompt.length));
                    for (int i = 0; i < 20; i++) {
                        token = gpu.forwardGreedy(seq, new int[] {token});
                        byMode[mode][i] = gpu.lastLogits();
                    }
                }
            }
            for (int i = 0; i < 20; i++) {
                assertThat(byMode[1][i]).as("step %d", i).containsExactly(byMode[0][i]);
            }
        }
    }

    /**
     * A prompt's chunks queued back to back (prefillGreedy: the host fills the next chunk's inputs and
     * page table updates while the one before runs) equal a forwardGreedy per chunk bit for bit, and
     * so do the decode steps after them: on the production path (bf16 KV, cuBLAS, the default prefill
     * attention), plain and with the other staged options (gate/up bf16, residual in GEMM), 16-token
     * chunks (past the matvec path) over 4-token pages (every chunk takes new pages), full attention
     * and a DuoAttention layout, and a prompt whose last chunk is a single token.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void pipelinedPrefillShouldEqualAForwardPerChunk(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        int[] prompt = new int[16 * 9 + 1];
        int[] base = f.prompt(0);
        Arrays.setAll(prompt, i -> base[(i * 7) % base.length]);
        List<DuoLayout> layouts = List.of(DuoLayout.full(config.numLayers(), config.numKvHeads()),
                DuoLayout.random(config.numLayers(), config.numKvHeads(), 0.5, 5, 2, 8));
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            var production = new CudaLlamaModel.Options(256, 16, layouts.get(0), DeviceKvType.BF16, 4, 2, true, true)
                    .withCublas(true).withPrefillAttention(PrefillAttention.WARP_SPECIALIZED);
            for (var options : List.of(production, production.withGateUpBf16(true).withResidualInGemm(true))) {
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options)) {
                    for (DuoLayout layout : layouts) {
                        String what = name + (options.gateUpBf16() ? ", gate/up bf16, residual in GEMM, " : ", ")
                                + layout.retrievalCount() + " retrieval heads";
                        float[][] perChunk = new float[5][];
                        float[][] pipelined = new float[5][];
                        try (CudaSequence a = gpu.newSequence(layout); CudaSequence b = gpu.newSequence(layout)) {
                            int tokenA = 0;
                            for (int from = 0; from < prompt.length; from += 16) {
                                tokenA = gpu.forwardGreedy(a, Arrays.copyOfRange(prompt, from,
                                        Math.min(prompt.length, from + 16)));
                            }
                            perChunk[0] = gpu.lastLogits();
                            int tokenB = gpu.prefillGreedy(b, prompt, 16);
                            pipelined[0] = gpu.lastLogits();
                            assertThat(b.length()).isEqualTo(a.length()).isEqualTo(prompt.length);
                            assertThat(tokenB).as(what).isEqualTo(tokenA);
                            for (int i = 1; i < 5; i++) {
                                tokenA = gpu.forwardGreedy(a, new int[] {tokenA});
                                perChunk[i] = gpu.lastLogits();
                                tokenB = gpu.forwardGreedy(b, new int[] {tokenB});
                                pipelined[i] = gpu.lastLogits();
                            }
                        }
                        for (int i = 0; i < 5; i++) {
                            assertThat(pipelined[i]).as("%s, step %d", what, i).containsExactly(perChunk[i]);
                        }
                    }
                }
            }
        }
    }

    /**
     * The staged prefill options change only roundings: gate/up in bf16 with the residual added in
     * the GEMM gives logits within the bf16 tolerance (relative) of the plain production path (a wrong
     * index would be off by about 1), and the residual alone within 1e-4 (the same float32 sums, at
     * most in another order), for full attention and a DuoAttention layout, after a 16-token-chunk
     * prefill.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void stagedPrefillOptionsShouldChangeOnlyRoundings(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        int[] prompt = new int[16 * 6];
        int[] base = f.prompt(0);
        Arrays.setAll(prompt, i -> base[(i * 5) % base.length]);
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            var production = new CudaLlamaModel.Options(256, 16, DuoLayout.full(config.numLayers(),
                    config.numKvHeads()), DeviceKvType.BF16, 16, 1, true, true).withCublas(true)
                    .withPrefillAttention(PrefillAttention.WARP_SPECIALIZED);
            for (DuoLayout layout : List.of(production.layout(), DuoLayout.random(config.numLayers(),
                    config.numKvHeads(), 0.5, 9, 2, 8))) {
                float[] plain = prefillLogits(device, config, weights, production, layout, prompt);
                float[] residual = prefillLogits(device, config, weights, production.withResidualInGemm(true), layout,
                        prompt);
                float[] both = prefillLogits(device, config, weights, production.withResidualInGemm(true)
                        .withGateUpBf16(true), layout, prompt);
                String what = name + ", " + layout.retrievalCount() + " retrieval heads";
                assertThat(GoldenFixture.relativeError(residual, plain)).as(what + ", residual in GEMM")
                        .isLessThanOrEqualTo(1e-4);
                assertThat(GoldenFixture.relativeError(both, plain)).as(what + ", and gate/up bf16")
                        .isLessThanOrEqualTo(BF16_KV_TOLERANCE);
            }
        }
    }

    private static float[] prefillLogits(CudaDevice device, ModelConfig config, LlamaWeights weights,
            CudaLlamaModel.Options options, DuoLayout layout, int[] prompt) {
        try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options);
                CudaSequence seq = gpu.newSequence(layout)) {
            gpu.prefillGreedy(seq, prompt, 16);
            return gpu.lastLogits();
        }
    }

    /**
     * Decode steps on the fused kernels, launched plainly or programmatically (each overlapping the
     * one before it), equal the per-op kernels bit for bit (the same arithmetic in the same order),
     * graphs on, with rings that wrap during decode, for f32 and bf16 KV and both decode attention
     * kernels.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void fusedDecodeShouldEqualThePerOpKernels(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        DuoLayout layout = DuoLayout.random(config.numLayers(), config.numKvHeads(), 0.5, 13, 2, 3);
        int[] prompt = f.prompt(0);
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            if (device.computeCapability() >= 90) {
                assertThat(device.programmaticLaunch()).as("cuLaunchKernelEx bound on sm_90").isTrue();
            }
            // f32 and bf16 KV on CUDA cores (duo_decode), bf16 KV on tensor cores (duo_decode_mma)
            for (int form = 0; form < 3; form++) {
                DeviceKvType type = form == 0 ? DeviceKvType.F32 : DeviceKvType.BF16;
                boolean tensorCores = form == 2;
                // per-op kernels; fused kernels launched plainly; fused kernels launched programmatically
                float[][][] byMode = new float[3][10][];
                for (int mode = 0; mode < 3; mode++) {
                    var options = CudaLlamaModel.Options.full(config, 128, 8).withLayout(layout).withKvType(type)
                            .withTensorCores(tensorCores).withFusedDecode(mode > 0)
                            .withProgrammaticLaunch(mode == 2);
                    try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options);
                            CudaSequence seq = gpu.newSequence()) {
                        assertThat(gpu.fusedDecode()).isEqualTo(mode > 0);
                        assertThat(gpu.programmaticLaunch()).isEqualTo(mode == 2 && device.programmaticLaunch());
                        int token = 0;
                        for (int from = 0; from < prompt.length; from += 8) {
                            token = gpu.forwardGreedy(seq, Arrays.copyOfRange(prompt, from,
                                    Math.min(prompt.length, from + 8)));
                        }
                        for (int i = 0; i < byMode[mode].length; i++) {
                            token = gpu.forwardGreedy(seq, new int[] {token});
                            byMode[mode][i] = gpu.lastLogits();
                        }
                    }
                }
                for (int mode = 1; mode < 3; mode++) {
                    for (int i = 0; i < byMode[0].length; i++) {
                        assertThat(byMode[mode][i]).as("%s %s tensor cores %s mode %d step %d", name, type,
                                tensorCores, mode, i).containsExactly(byMode[0][i]);
                    }
                }
            }
        }
    }

    /**
     * A float32 download of the device state (another page size than the device's) is a cache the CPU
     * engine continues from as from its own; the way back to the device, as the session cache takes
     * it, is {@link #retrievalBlockAndStreamingStateShouldRoundTripThroughHostMemory}.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void kvDownloadShouldContinueOnTheCpuEngine(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        DuoLayout layout = DuoLayout.random(config.numLayers(), config.numKvHeads(), 0.5, 11, 2, 3);
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            LlamaModel cpu = new LlamaModel(config, weights, new ScalarKernels());
            for (DeviceKvType type : DeviceKvType.values()) {
                var options = new CudaLlamaModel.Options(128, 8, layout, type, 4, 2, true, false);
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options);
                        CudaSequence seq = gpu.newSequence()) {
                    int[] prompt = f.prompt(0);
                    int token = gpu.forwardGreedy(seq, prompt);
                    SequenceKv host = seq.download(5); // another page size than the device's
                    assertThat(host.length()).isEqualTo(prompt.length);
                    // the CPU engine continues from the downloaded state as from its own
                    SequenceKv own = cpu.newCache(layout, 4);
                    Generator.prefill(cpu, own, prompt, 8);
                    float[] fromOwn = cpu.forward(new int[] {token}, own, new int[] {0})[0];
                    float[] fromDownloaded = cpu.forward(new int[] {token}, host, new int[] {0})[0];
                    double tolerance = type == DeviceKvType.F32 ? F32_KV_TOLERANCE : BF16_KV_TOLERANCE;
                    assertThat(GoldenFixture.relativeError(fromDownloaded, fromOwn)).as(name + " " + type)
                            .isLessThanOrEqualTo(tolerance);
                }
            }
        }
    }

    /**
     * What the session cache parks between turns: the retrieval block holds the device's own
     * elements (the values a float32 download gives, bit for bit), and a sequence rebuilt from it and
     * the streaming block continues exactly as the original; the CPU engine reads the same block
     * (bf16 too) and continues as from its own prefill.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void retrievalBlockAndStreamingStateShouldRoundTripThroughHostMemory(String name) {
        GoldenFixture f = GoldenFixture.load(name);
        ModelConfig config = ModelConfigReader.read(f.dir());
        DuoLayout layout = DuoLayout.random(config.numLayers(), config.numKvHeads(), 0.5, 11, 2, 3);
        int hd = config.headDim();
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            LlamaModel cpu = new LlamaModel(config, weights, new ScalarKernels());
            for (DeviceKvType type : DeviceKvType.values()) {
                var options = new CudaLlamaModel.Options(128, 8, layout, type, 4, 2, true, false);
                try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options);
                        CudaSequence seq = gpu.newSequence(); Arena arena = Arena.ofConfined()) {
                    int[] prompt = f.prompt(0);
                    int token = gpu.forwardGreedy(seq, prompt);
                    RetrievalBlock block = seq.exportRetrieval(arena);
                    byte[] streaming = seq.exportStreaming(); // in the device's element type
                    byte[] f32 = KvStateCodec.export(seq.streamingToHost(), KvStateCodec.Part.STREAMING);
                    if (type == DeviceKvType.BF16) {
                        assertThat(streaming.length).isLessThan(f32.length);
                    } else {
                        assertThat(streaming).isEqualTo(f32);
                    }
                    assertThat(block.dtype()).isEqualTo(type == DeviceKvType.BF16 ? RetrievalBlock.Dtype.BF16
                            : RetrievalBlock.Dtype.F32);
                    SequenceKv downloaded = seq.download(5);
                    float[] a = new float[hd];
                    float[] b = new float[hd];
                    block.forEachHead((l, h) -> {
                        for (int p = 0; p < prompt.length; p++) {
                            for (boolean value : new boolean[] {false, true}) {
                                block.readRows(l, h, value, p, a, 1);
                                downloaded.readRetrieval(l, h, p, value, b, 0);
                                assertThat(a).as("%s %s layer %d head %d pos %d", name, type, l, h, p)
                                        .containsExactly(b);
                            }
                        }
                    });
                    block.seal();
                    RetrievalBlock reopened = RetrievalBlock.open(block.segment(), layout, hd);
                    try (CudaSequence copy = gpu.newSequence()) {
                        copy.upload(KvStateCodec.importStreaming(streaming, layout, hd, 5, config.maxPositions()),
                                reopened);
                        assertThat(copy.length()).isEqualTo(seq.length());
                        float[] original = gpu.forward(seq, new int[] {token});
                        float[] restored = gpu.forward(copy, new int[] {token});
                        assertThat(restored).as(name + " " + type).containsExactly(original);
                    }
                    SequenceKv own = cpu.newCache(layout, 4);
                    Generator.prefill(cpu, own, prompt, 8);
                    var onCpu = cpu.fromHost(KvStateCodec.importStreaming(streaming, layout, hd, 5,
                            config.maxPositions()), reopened);
                    float[] fromOwn = cpu.forward(new int[] {token}, own, new int[] {0})[0];
                    float[] fromBlock = cpu.forward(new int[] {token}, onCpu, new int[] {0})[0];
                    double tolerance = type == DeviceKvType.F32 ? F32_KV_TOLERANCE : BF16_KV_TOLERANCE;
                    assertThat(GoldenFixture.relativeError(fromBlock, fromOwn)).as(name + " " + type)
                            .isLessThanOrEqualTo(tolerance);
                }
            }
        }
    }

    @Test
    void memoryPlanShouldRefuseWhatDoesNotFit() {
        GoldenFixture f = GoldenFixture.load("llama3-gqa");
        ModelConfig config = ModelConfigReader.read(f.dir());
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); CudaDevice device = CudaDevice.open(0)) {
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            int capacity = Math.min(128, config.maxPositions());
            long perSequence = DeviceMemoryPlan.of(config, CudaLlamaModel.Options.full(config, capacity, 8))
                    .retrievalKv();
            int sequences = (int) Math.min(Integer.MAX_VALUE / 2, device.memoryInfo()[1] / perSequence + 1);
            var options = new CudaLlamaModel.Options(capacity, 8,
                    DuoLayout.full(config.numLayers(), config.numKvHeads()), DeviceKvType.F32, 64, sequences, true,
                    false);
            long before = device.memoryInfo()[0];
            assertThatThrownBy(() -> new CudaLlamaModel(device, config, weights, options))
                    .isInstanceOf(CudaException.class).hasMessageContaining("does not fit")
                    .hasMessageContaining("retrieval KV");
            assertThat(device.memoryInfo()[0]).as("nothing allocated").isGreaterThanOrEqualTo(before - (16 << 20));
        }
    }
}
