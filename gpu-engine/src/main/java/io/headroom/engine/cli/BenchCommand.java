package io.headroom.engine.cli;

import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.backend.cpu.VectorKernels;
import io.headroom.engine.backend.cuda.CudaDevice;
import io.headroom.engine.backend.cuda.CudaLlamaModel;
import io.headroom.engine.backend.cuda.CudaSequence;
import io.headroom.engine.backend.cuda.DeviceKvType;
import io.headroom.engine.backend.cuda.DeviceMemoryPlan;
import io.headroom.engine.backend.cuda.PrefillAttention;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.bench.MemoryBandwidth;
import io.headroom.engine.bench.RandomCheckpoint;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.generate.Sampler;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.kv.HostMemory;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.llama.LlamaModel;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import jcuda.driver.CUdeviceptr;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/**
 * Decode benchmark on the CPU: tokens/s, the weight bytes streamed per second, and the machine's
 * measured read bandwidth, which bounds decode (every token reads every weight once).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure CPU decode speed against the machine's memory bandwidth; prints JSON.")
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR",
            description = "model directory; with --random, where the random checkpoint is written (reused if there)")
    Path model;

    @Option(names = "--random", paramLabel = "GEOMETRY",
            description = "write a random bf16 checkpoint of this geometry first: llama-1b or tiny")
    String random;

    @Option(names = "--threads", paramLabel = "N", description = "worker threads (default: all cores)")
    Integer threads;

    @Option(names = "--prompt-tokens", defaultValue = "32", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int promptTokens;

    @Option(names = "--decode-tokens", defaultValue = "32", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int decodeTokens;

    @Option(names = "--bandwidth-bytes", defaultValue = "2147483648", paramLabel = "BYTES",
            description = "buffer size for the bandwidth probe. Default: ${DEFAULT-VALUE}")
    long bandwidthBytes;

    @Option(names = "--backend", defaultValue = "cpu", paramLabel = "NAME",
            description = "cpu, or cuda (device-resident forward). Default: ${DEFAULT-VALUE}")
    String backend;

    @Option(names = "--chunk", defaultValue = "64", paramLabel = "N",
            description = "cuda: prefill chunk in tokens. Default: ${DEFAULT-VALUE}")
    int chunk;

    @Option(names = "--kv-type", defaultValue = "bf16", paramLabel = "TYPE",
            description = "cuda: KV cache element type, bf16 or f32. Default: ${DEFAULT-VALUE}")
    String kvType;

    @Option(names = "--retrieval-share", defaultValue = "1", paramLabel = "F",
            description = "cuda: share of KV heads that are retrieval heads (randomly placed, seed 7); 1 = full "
                    + "attention. Default: ${DEFAULT-VALUE}")
    double retrievalShare;

    @Option(names = "--sink", defaultValue = "64", paramLabel = "N",
            description = "cuda: streaming heads' sink tokens. Default: ${DEFAULT-VALUE}")
    int sink;

    @Option(names = "--recent", defaultValue = "256", paramLabel = "N",
            description = "cuda: streaming heads' recent window. Default: ${DEFAULT-VALUE}")
    int recent;

    @Option(names = "--synthetic-context", defaultValue = "0", paramLabel = "N",
            description = "cuda: time decode at N positions of random KV filled on the device (no prefill of "
                    + "them; prefill is timed separately on --prompt-tokens). 0: decode after the prompt")
    int syntheticContext;

    @Option(names = "--prefill-after", defaultValue = "0", paramLabel = "N",
            description = "cuda: time the prefill of --prompt-tokens after N positions of random KV filled on the "
                    + "device (the late chunks of a long prompt, without prefilling the first N). 0: from position 0")
    int prefillAfter;

    @Option(names = "--profile-prefill", description = "cuda: after the timed runs, prefill the prompt once more "
            + "with every launch bracketed by events, and report each kernel's device seconds "
            + "(prefill_kernel_device_seconds; cuBLAS GEMMs by shape)")
    boolean profilePrefill;

    @Option(names = "--check-tokens", defaultValue = "256", paramLabel = "N",
            description = "cuda: prompt tokens of the CPU cross-check (0: skip it). Default: ${DEFAULT-VALUE}")
    int checkTokens;

    @Option(names = "--prefill-attention", paramLabel = "KERNEL", description = "cuda: prefill attention kernel: "
            + "tensor-cores (flash_prefill, WMMA), mma (flash_prefill_mma, register fragments), wgmma (the same on "
            + "Hopper's warpgroup MMA; mma on other GPUs), ws or ws128 (flash_prefill_ws128: wgmma with one warpgroup "
            + "staging 128-key tiles for two that multiply; mma on other GPUs) or cuda-cores (duo_attention). "
            + "Default: ws, cuda-cores with --exact")
    String prefillAttention;

    @Option(names = "--gemm", paramLabel = "KERNEL", description = "cuda: prefill projections: cublas (where "
            + "libcublas loads, else ours) or ours (gemm.cu). Default: ${DEFAULT-VALUE}")
    String gemm = "cublas";

    @Option(names = "--gate-up-f32", description = "cuda: chunks compute gate and up as two cuBLAS GEMMs with "
            + "float32 outputs instead of one with bf16 outputs that the SwiGLU reads (the default)")
    boolean gateUpF32;

    @Option(names = "--unpipelined-prefill", description = "cuda: wait for each of the prompt's chunks instead of "
            + "queueing them back to back, the host preparing each while the one before runs (the default)")
    boolean unpipelinedPrefill;

    @Option(names = "--residual-in-norm", description = "cuda: chunks write the o and down projections to their "
            + "own output that the norm after them adds, instead of adding them into the residual stream inside "
            + "the cuBLAS GEMM (beta = 1, the default)")
    boolean residualInNorm;

    @Option(names = "--unfused-decode", description = "cuda: run decode steps on the per-op kernels (norm, "
            + "projection, rotary, append, gate, residual as separate launches) instead of the fused ones")
    boolean unfusedDecode;

    @Option(names = "--decode-splits", defaultValue = "0", paramLabel = "N",
            description = "cuda: split-K shares of each retrieval head in decode attention (1..1024); 0: the policy")
    int decodeSplits;

    @Option(names = "--plain-launches", description = "cuda: launch the fused decode kernels plainly, each after "
            + "the one before it has finished, instead of with programmatic dependent launch")
    boolean plainLaunches;

    @Option(names = "--kv-host-roundtrip", description = "cuda: after decode, time what the session cache does "
            + "between turns: the sequence's retrieval KV copied to an off-heap host block and its streaming state "
            + "to bytes, the checksum a spill writes and its read-back verifies, and both uploaded into a new "
            + "sequence after the first is freed; four rounds, 4 KiB and huge host pages in turn (kv_host_roundtrip; "
            + "each restored sequence is exported again and compared with the block byte for byte)")
    boolean kvHostRoundtrip;

    @Option(names = "--exact", description = "cuda: keep prefill projections in float32 (no tensor-core GEMM)")
    boolean exact;

    @Option(names = "--page-tokens", defaultValue = "256", paramLabel = "N",
            description = "cuda: positions per KV page. Default: ${DEFAULT-VALUE}")
    int pageTokens;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (model == null) {
            throw new IllegalArgumentException("--model DIR is required");
        }
        if (promptTokens < 1 || decodeTokens < 2) {
            throw new IllegalArgumentException("--prompt-tokens must be >= 1 and --decode-tokens >= 2");
        }
        if (chunk < 1 || retrievalShare < 0 || retrievalShare > 1 || pageTokens < 1) {
            throw new IllegalArgumentException("--chunk and --page-tokens must be >= 1, --retrieval-share in [0, 1]");
        }
        if (prefillAfter < 0 || prefillAfter > 0 && syntheticContext > 0) {
            throw new IllegalArgumentException("--prefill-after must be >= 0 and is not combined with "
                    + "--synthetic-context");
        }
        PrintWriter err = spec.commandLine().getErr();
        if (random != null) {
            RandomCheckpoint geometry = RandomCheckpoint.named(random);
            err.printf(Locale.ROOT, "writing random %s checkpoint (%.2f B parameters) to %s if absent%n",
                    geometry.name(), geometry.parameterCount() / 1e9, model);
            err.flush();
            geometry.writeTo(model, 42);
        }
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (backend.equals("cuda")) {
            return benchCuda(n);
        }
        if (!backend.equals("cpu")) {
            throw new IllegalArgumentException("--backend must be cpu or cuda, got '" + backend + "'");
        }
        Map<String, Object> json = new LinkedHashMap<>();
        try (Parallel parallel = new Parallel(n); Checkpoint ckpt = Checkpoint.open(model)) {
            ModelConfig config = ModelConfigReader.read(model);
            Kernels kernels = new VectorKernels(parallel);
            LlamaModel llama = new LlamaModel(config, LlamaWeights.load(ckpt, config), kernels);
            int[] prompt = new int[promptTokens];
            Arrays.setAll(prompt, i -> (i * 7919 + 13) % config.vocabSize());

            // warm-up run: JIT compilation and page faults of the mapped weights stay out of the numbers
            SequenceKv warm = llama.newCache();
            float[] logits = Generator.prefill(llama, warm, prompt, 128);
            llama.forward(new int[] {Sampler.argmax(logits)}, warm, new int[] {0});

            SequenceKv cache = llama.newCache();
            long t0 = System.nanoTime();
            logits = Generator.prefill(llama, cache, prompt, 128);
            long t1 = System.nanoTime();
            long[] perToken = new long[decodeTokens];
            for (int i = 0; i < decodeTokens; i++) {
                long s = System.nanoTime();
                logits = llama.forward(new int[] {Sampler.argmax(logits)}, cache, new int[] {0})[0];
                perToken[i] = System.nanoTime() - s;
            }
            long[] sorted = perToken.clone();
            Arrays.sort(sorted);
            double medianSeconds = sorted[sorted.length / 2] / 1e9;
            // decode reads every matrix once per token; the embedding only one row (unless tied: LM head)
            long streamed = ckpt.totalBytes() - (config.tieWordEmbeddings() ? 0
                    : (long) config.vocabSize() * config.hiddenSize() * 2);
            double achieved = streamed / medianSeconds;
            err.println("measuring memory read bandwidth...");
            err.flush();
            double bandwidth = MemoryBandwidth.readBytesPerSecond(parallel, bandwidthBytes, 12);

            json.put("model", model.toString());
            json.put("parameters", config.parameterCount());
            json.put("weight_bytes", ckpt.totalBytes());
            json.put("weight_bytes_streamed_per_token", streamed);
            json.put("kernels", kernels.name());
            json.put("threads", n);
            json.put("prompt_tokens", promptTokens);
            json.put("prefill_seconds", (t1 - t0) / 1e9);
            json.put("prefill_tokens_per_second", promptTokens / ((t1 - t0) / 1e9));
            json.put("decode_tokens", decodeTokens);
            json.put("decode_median_seconds_per_token", medianSeconds);
            json.put("decode_tokens_per_second", 1 / medianSeconds);
            json.put("achieved_weight_gb_per_second", achieved / 1e9);
            json.put("measured_read_bandwidth_gb_per_second", bandwidth / 1e9);
            json.put("fraction_of_bandwidth", achieved / bandwidth);
            json.put("java", Runtime.version().toString());
            json.put("cpu_cores", Runtime.getRuntime().availableProcessors());
        }
        print(json);
        return 0;
    }

    private void print(Map<String, Object> json) {
        PrintWriter out = spec.commandLine().getOut();
        out.println(JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(json));
        out.flush();
    }

    /**
     * The device-resident forward on the GPU, checked against the CPU path on the same head layout
     * (last prompt position's logits and the first greedy tokens of a prompt of at most 256 tokens),
     * then timed: chunked prefill of the whole prompt, median decode step (graph replay, argmax on
     * the device), and the bytes a decode step must read (weights + KV) per second against the
     * card's measured copy bandwidth.
     */
    private int benchCuda(int threads) {
        Map<String, Object> json = new LinkedHashMap<>();
        try (Parallel parallel = new Parallel(threads); Checkpoint ckpt = Checkpoint.open(model);
                CudaDevice device = CudaDevice.open(0)) {
            ModelConfig config = ModelConfigReader.read(model);
            LlamaWeights weights = LlamaWeights.load(ckpt, config);
            DuoLayout layout = retrievalShare >= 1 ? DuoLayout.full(config.numLayers(), config.numKvHeads())
                    : DuoLayout.random(config.numLayers(), config.numKvHeads(), 1 - retrievalShare, 7, sink, recent);
            int capacity = Math.max(prefillAfter + promptTokens, syntheticContext) + decodeTokens + 32; // + profiled
            if (capacity > config.maxPositions()) {
                throw new IllegalArgumentException("the run needs " + capacity + " positions (prompt or synthetic "
                        + "context, decode steps and 32 profiled steps); the model has " + config.maxPositions());
            }
            PrefillAttention attention = prefillAttention != null ? PrefillAttention.parse(prefillAttention)
                    : exact ? PrefillAttention.CUDA_CORES : PrefillAttention.WARP_SPECIALIZED;
            if (!gemm.equals("cublas") && !gemm.equals("ours")) {
                throw new IllegalArgumentException("--gemm must be cublas or ours, not " + gemm);
            }
            boolean useCublas = gemm.equals("cublas");
            CudaLlamaModel.Options options = new CudaLlamaModel.Options(capacity, chunk, layout,
                    DeviceKvType.parse(kvType), pageTokens, 1, true, !exact, attention, useCublas, !unfusedDecode,
                    decodeSplits, !plainLaunches, !gateUpF32, !unpipelinedPrefill, !residualInNorm);
            json.put("device", device.name());
            json.put("model", model.toString());
            json.put("parameters", config.parameterCount());
            json.put("kv_type", kvType);
            json.put("prefill_attention", attention.kernel());
            boolean direct = !exact && useCublas; // the two GEMM options apply on cuBLAS's path only
            json.put("gate_up", direct && !gateUpF32 ? "one GEMM, bf16 outputs" : "two GEMMs, float32 outputs");
            json.put("prefill_chunks", !unpipelinedPrefill ? "queued back to back" : "each waited for");
            json.put("residual_add", direct && !residualInNorm ? "in the GEMM" : "in the norm");
            json.put("retrieval_heads", layout.retrievalCount() + " of " + config.numLayers() * config.numKvHeads());
            json.put("sink", layout.sink());
            json.put("recent", layout.recent());
            DeviceMemoryPlan plan = DeviceMemoryPlan.of(config, options);
            long free = device.memoryInfo()[0];
            json.put("context_capacity", capacity);
            if (plan.total() + DeviceMemoryPlan.RESERVE > free) {
                // the answer to "does this context fit?" for a matrix run: recorded, not an error
                json.put("fits", false);
                json.put("memory_plan", plan.toString());
                json.put("memory_plan_bytes", plan.total());
                json.put("device_free_bytes", free);
                print(json);
                return 0;
            }
            json.put("fits", true);
            if (!exact) {
                json.put("gemm_bf16_tc_tflops_8192x8192x4096", gemmRate(device, 8192, 8192, 4096));
                Map<String, Object> matvec = new LinkedHashMap<>();
                for (int[] shape : new int[][] {{2 * config.intermediateSize(), config.hiddenSize()},
                    {config.hiddenSize(), config.intermediateSize()}}) {
                    for (String kernel : List.of("matmul_bf16", "matmul_bf16_1t")) {
                        matvec.put(kernel + " " + shape[0] + "x" + shape[1], matvecRate(device, kernel, shape[0],
                                shape[1]));
                    }
                }
                json.put("matvec_weight_gb_per_second_one_token", matvec);
            }
            // probes that allocate run before the model takes the card (a context that just fits leaves no room)
            double copy = device.copyBandwidth(1L << 30, 10);
            try (CudaLlamaModel gpu = new CudaLlamaModel(device, config, weights, options)) {
                json.put("memory_plan", gpu.plan().toString());
                json.put("decode_attention", gpu.decodeKernel() == null ? "duo_attention" : gpu.decodeKernel());
                json.put("prefill_projections", gpu.prefillGemm());
                json.put("decode_fused", gpu.fusedDecode());
                json.put("decode_splits", decodeSplits == 0 ? "policy" : decodeSplits);
                json.put("decode_programmatic_launch", gpu.programmaticLaunch());
                json.put("prefill_attention", gpu.prefillKernel().kernel());
                if (checkTokens > 0) {
                    checkAgainstCpu(gpu, new LlamaModel(config, weights, new VectorKernels(parallel)), layout, json);
                }
                int[] prompt = new int[promptTokens];
                Arrays.setAll(prompt, i -> (i * 7919 + 13) % config.vocabSize());
                try (CudaSequence warm = gpu.newSequence()) {
                    gpu.forwardGreedy(warm, Arrays.copyOf(prompt, Math.min(chunk, prompt.length)));
                    gpu.forwardGreedy(warm, new int[] {1});
                }
                int token = 0;
                CudaSequence seq = gpu.newSequence();
                try {
                    if (prefillAfter > 0) {
                        seq.fillSynthetic(prefillAfter);
                    }
                    long t0 = System.nanoTime();
                    token = gpu.prefill(seq, prompt, chunk);
                    long t1 = System.nanoTime();
                    if (syntheticContext > 0) {
                        seq.close();
                        seq = gpu.newSequence();
                        seq.fillSynthetic(syntheticContext);
                    }
                    long[] perToken = new long[decodeTokens];
                    for (int i = 0; i < decodeTokens; i++) {
                        long s = System.nanoTime();
                        token = gpu.forwardGreedy(seq, new int[] {token});
                        perToken[i] = System.nanoTime() - s;
                    }
                    long[] sorted = perToken.clone();
                    Arrays.sort(sorted);
                    double median = sorted[sorted.length / 2] / 1e9;
                    long weightBytes = gpu.plan().weights() - (config.tieWordEmbeddings() ? 0
                            : (long) config.vocabSize() * config.hiddenSize() * 2);
                    int context = (syntheticContext > 0 ? syntheticContext : prefillAfter + promptTokens)
                            + decodeTokens / 2;
                    json.put("decode_context", context);
                    json.put("decode_kv", syntheticContext > 0 ? "synthetic (random, filled on the device)"
                            : "prefilled prompt");
                    long kvBytes = kvBytesRead(config, layout, context, DeviceKvType.parse(kvType).bytes());
                    double floor = (weightBytes + kvBytes) / copy;
                    json.put("prompt_tokens", promptTokens);
                    json.put("prefill_chunk", chunk);
                    json.put("prefill_after", prefillAfter);
                    json.put("prefill_seconds", (t1 - t0) / 1e9);
                    json.put("prefill_tokens_per_second", promptTokens / ((t1 - t0) / 1e9));
                    double flops = prefillFlops(config, layout, promptTokens, chunk, prefillAfter);
                    json.put("prefill_flops", flops);
                    json.put("prefill_achieved_tflops", flops / ((t1 - t0) / 1e9) / 1e12);
                    json.put("decode_median_seconds_per_token", median);
                    json.put("decode_tokens_per_second", 1 / median);
                    json.put("decode_bytes_per_token_weights", weightBytes);
                    json.put("decode_bytes_per_token_kv", kvBytes);
                    json.put("achieved_gb_per_second", (weightBytes + kvBytes) / median / 1e9);
                    json.put("measured_copy_bandwidth_gb_per_second_read_plus_write", copy / 1e9);
                    json.put("decode_floor_seconds_per_token", floor);
                    json.put("decode_measured_over_floor", median / floor);
                    int steps = 16;
                    Map<String, Object> kernels = new LinkedHashMap<>();
                    double sum = 0;
                    for (var e : gpu.profileDecode(seq, token, steps).entrySet()) {
                        double us = e.getValue()[0] * 1000 / steps;
                        sum += us;
                        kernels.put(e.getKey(), Map.of("us_per_token", us, "launches_per_token",
                                e.getValue()[1] / steps));
                    }
                    json.put("decode_kernel_device_us_per_token", kernels);
                    json.put("decode_kernel_device_us_per_token_total", sum);
                    if (kvHostRoundtrip) {
                        seq = kvHostRoundTrip(gpu, seq, json);
                    }
                    if (profilePrefill) {
                        seq.close();
                        seq = gpu.newSequence();
                        profilePrefill(device, gpu, seq, prompt, chunk, json);
                    }
                } finally {
                    seq.close();
                }
            }
        }
        print(json);
        return 0;
    }

    /**
     * Parks {@code seq} in host memory and brings it back as the session cache does between turns, timing each
     * step (kv_host_roundtrip: the export, the checksum a spill would write and its read-back would verify, the
     * upload): four rounds, the host block on 4 KiB pages and on transparent huge pages in turn, each round
     * starting from the sequence the round before restored; {@code seq} is closed, the last restored sequence
     * returned.
     */
    private static CudaSequence kvHostRoundTrip(CudaLlamaModel gpu, CudaSequence seq, Map<String, Object> json) {
        List<Map<String, Object>> rounds = new ArrayList<>();
        json.put("kv_host_roundtrip", rounds);
        boolean before = HostMemory.hugePages;
        try {
            for (boolean huge : new boolean[] {false, true, false, true}) {
                HostMemory.hugePages = huge;
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("host_pages", huge ? "transparent huge pages (madvise)" : "4 KiB");
                seq = parkAndRestore(gpu, seq, out);
                rounds.add(out);
            }
        } finally {
            HostMemory.hugePages = before;
        }
        return seq;
    }

    private static CudaSequence parkAndRestore(CudaLlamaModel gpu, CudaSequence seq, Map<String, Object> out) {
        DuoLayout layout = seq.layout();
        int headDim = gpu.config().headDim();
        try (Arena arena = Arena.ofShared()) {
            long t0 = System.nanoTime();
            RetrievalBlock block = seq.exportRetrieval(arena);
            byte[] streaming = seq.exportStreaming();
            long t1 = System.nanoTime();
            seq.close();
            block.seal(); // what a spill adds, and its read-back verifies
            RetrievalBlock.open(block.segment(), layout, headDim);
            long t2 = System.nanoTime();
            CudaSequence restored = gpu.newSequence(layout);
            try {
                restored.upload(KvStateCodec.importStreaming(streaming, layout, headDim, gpu.options().pageTokens(),
                        gpu.config().maxPositions()), block);
                long t3 = System.nanoTime();
                double gb = block.segment().byteSize() / 1e9;
                out.put("tokens", block.tokens());
                out.put("retrieval_block_bytes", block.segment().byteSize());
                out.put("streaming_block_bytes", streaming.length);
                out.put("export_seconds", (t1 - t0) / 1e9);
                out.put("export_gb_per_second", gb / ((t1 - t0) / 1e9));
                out.put("checksum_seal_and_verify_seconds", (t2 - t1) / 1e9);
                out.put("upload_seconds", (t3 - t2) / 1e9);
                out.put("upload_gb_per_second", gb / ((t3 - t2) / 1e9));
                try (Arena again = Arena.ofConfined()) {
                    MemorySegment a = block.segment();
                    RetrievalBlock back = restored.exportRetrieval(again);
                    back.seal(); // the first is sealed: the checksums are compared too
                    MemorySegment b = back.segment();
                    out.put("restored_identical", a.byteSize() == b.byteSize() && a.mismatch(b) == -1);
                }
                return restored;
            } catch (RuntimeException e) {
                restored.close();
                throw e;
            }
        }
    }

    /**
     * Prefills {@code prompt} into {@code seq} (after the same synthetic positions as the timed run)
     * with the device profile on: prefill_kernel_device_seconds per kernel {seconds, launches}, their
     * sum, and the wall time of this run (the events around each launch cost a little).
     */
    private void profilePrefill(CudaDevice device, CudaLlamaModel gpu, CudaSequence seq, int[] prompt, int chunk,
            Map<String, Object> json) {
        if (prefillAfter > 0) {
            seq.fillSynthetic(prefillAfter);
        }
        device.startProfile();
        long t0 = System.nanoTime();
        gpu.prefill(seq, prompt, chunk);
        long t1 = System.nanoTime();
        Map<String, Object> kernels = new LinkedHashMap<>();
        double sum = 0;
        for (var e : device.profile().entrySet()) {
            double seconds = e.getValue()[0] / 1000;
            sum += seconds;
            kernels.put(e.getKey(), Map.of("seconds", seconds, "launches", (long) e.getValue()[1]));
        }
        json.put("prefill_kernel_device_seconds", kernels);
        json.put("prefill_kernel_device_seconds_total", sum);
        json.put("prefill_profiled_seconds", (t1 - t0) / 1e9);
    }

    /** KV bytes a decode step reads at {@code context} positions: retrieval heads all, streaming sink + recent. */
    static long kvBytesRead(ModelConfig c, DuoLayout layout, int context, int kvBytes) {
        long perPosition = 2L * c.headDim() * kvBytes;
        int streaming = c.numLayers() * c.numKvHeads() - layout.retrievalCount();
        return perPosition * ((long) layout.retrievalCount() * context
                + (long) streaming * Math.min(context, layout.sink() + layout.recent()));
    }

    /**
     * Our prefill GEMM's rate (TFLOPS, best of 10) on random operands: rows × cols bf16 weights
     * times tokens × cols f32 activations, to set beside cuBLAS on the same shape (torch baseline).
     */
    static double gemmRate(CudaDevice device, int rows, int cols, int tokens) {
        CUdeviceptr w = device.alloc(2L * rows * cols);
        CUdeviceptr x = device.alloc(4L * tokens * cols);
        CUdeviceptr out = device.alloc(4L * tokens * rows);
        try {
            device.launchAsync("fill_random_bf16", 1024, 256, 0, w, (long) rows * cols, 5, 0.05f);
            device.launchAsync("fill_random_f32", 1024, 256, 0, x, (long) tokens * cols, 6, 1f);
            CudaLlamaModel.gemm(device, w, x, out, rows, cols, tokens);
            device.synchronize("gemm warm-up");
            long best = Long.MAX_VALUE;
            for (int i = 0; i < 10; i++) {
                long t0 = System.nanoTime();
                CudaLlamaModel.gemm(device, w, x, out, rows, cols, tokens);
                device.synchronize("gemm");
                best = Math.min(best, System.nanoTime() - t0);
            }
            return 2.0 * rows * cols * tokens / (best / 1e9) / 1e12;
        } finally {
            device.free(w);
            device.free(x);
            device.free(out);
        }
    }

    /**
     * A decode matvec kernel's weight-read rate (GB/s, best of 5 rounds of 20 back-to-back launches)
     * on rows × cols random bf16 weights and one token: the matmul.cu forms side by side.
     */
    static double matvecRate(CudaDevice device, String kernel, int rows, int cols) {
        CUdeviceptr w = device.alloc(2L * rows * cols);
        CUdeviceptr x = device.alloc(4L * cols);
        CUdeviceptr out = device.alloc(4L * rows);
        try {
            device.launchAsync("fill_random_bf16", 1024, 256, 0, w, (long) rows * cols, 7, 0.05f);
            device.launchAsync("fill_random_f32", 1024, 256, 0, x, (long) cols, 8, 1f);
            long best = Long.MAX_VALUE;
            for (int round = 0; round < 6; round++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 20; i++) {
                    CudaLlamaModel.matvec(device, kernel, w, x, out, rows, null, 0, null, 0, cols, 1);
                }
                device.synchronize(kernel);
                if (round > 0) { // round 0 warms up
                    best = Math.min(best, System.nanoTime() - t0);
                }
            }
            return 20.0 * 2 * rows * cols / (best / 1e9) / 1e9;
        } finally {
            device.free(w);
            device.free(x);
            device.free(out);
        }
    }

    /**
     * Multiply-add FLOPs (2 per multiply-add) a chunked prefill of {@code tokens} at positions
     * {@code past .. past + tokens - 1} must do: the layers' projections for every token, the LM head for
     * each chunk's last token, and attention (Q·Kᵀ and P·V, 4·headDim per query-key pair) over the keys
     * each head keeps: all earlier positions for retrieval heads, at most sink + recent for streaming
     * heads. Elementwise work is not counted.
     */
    static double prefillFlops(ModelConfig c, DuoLayout layout, int tokens, int chunk, int past) {
        long perLayer = (long) c.hiddenSize() * c.headDim() * (c.numHeads() + 2L * c.numKvHeads())
                + (long) c.numHeads() * c.headDim() * c.hiddenSize() + 3L * c.hiddenSize() * c.intermediateSize();
        double linear = 2.0 * perLayer * c.numLayers() * tokens
                + 2.0 * c.hiddenSize() * c.vocabSize() * Math.ceilDiv(tokens, chunk);
        int window = layout.sink() + layout.recent();
        double causal = keysSeen(past + tokens, Integer.MAX_VALUE) - keysSeen(past, Integer.MAX_VALUE);
        double windowed = keysSeen(past + tokens, window) - keysSeen(past, window);
        int perKv = c.numHeads() / c.numKvHeads();
        int streaming = c.numLayers() * c.numKvHeads() - layout.retrievalCount();
        double attention = 4.0 * c.headDim() * perKv
                * (layout.retrievalCount() * causal + streaming * windowed);
        return linear + attention;
    }

    /** Σ over queries i < n of the keys query i sees, min(i + 1, window). */
    private static double keysSeen(int n, int window) {
        return n <= window ? (double) n * (n + 1) / 2
                : (double) window * (window + 1) / 2 + (double) (n - window) * window;
    }

    private void checkAgainstCpu(CudaLlamaModel gpu, LlamaModel cpu, DuoLayout layout, Map<String, Object> json) {
        int n = Math.min(promptTokens, checkTokens);
        int[] prompt = new int[n];
        Arrays.setAll(prompt, i -> (i * 7919 + 13) % gpu.config().vocabSize());
        int checkTokens = 4;
        SequenceKv cache = cpu.newCache(layout, LlamaModel.DEFAULT_PAGE_TOKENS);
        float[] cpuLogits = Generator.prefill(cpu, cache, prompt, 128);
        int[] cpuTokens = new int[checkTokens];
        float[] l = cpuLogits;
        for (int i = 0; i < checkTokens; i++) {
            cpuTokens[i] = Sampler.argmax(l);
            l = cpu.forward(new int[] {cpuTokens[i]}, cache, new int[] {0})[0];
        }
        try (CudaSequence seq = gpu.newSequence()) {
            float[] gpuLogits = null;
            for (int from = 0; from < n; from += chunk) {
                gpuLogits = gpu.forward(seq, Arrays.copyOfRange(prompt, from, Math.min(n, from + chunk)));
            }
            int[] gpuTokens = new int[checkTokens];
            gpuTokens[0] = Sampler.argmax(gpuLogits);
            for (int i = 1; i < checkTokens; i++) {
                gpuTokens[i] = gpu.forwardGreedy(seq, new int[] {gpuTokens[i - 1]});
            }
            json.put("check_prompt_tokens", n);
            json.put("check_prefill_logits_relative_error", relativeError(gpuLogits, cpuLogits));
            json.put("check_greedy_tokens_equal", Arrays.equals(cpuTokens, gpuTokens));
        }
    }

    private static double relativeError(float[] a, float[] b) {
        double d = 0;
        double n = 0;
        for (int i = 0; i < b.length; i++) {
            d += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
            n += b[i] * (double) b[i];
        }
        return Math.sqrt(d / n);
    }
}
