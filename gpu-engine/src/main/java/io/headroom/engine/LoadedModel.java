package io.headroom.engine;

import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.backend.cpu.ScalarKernels;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.ModelConfigReader;
import io.headroom.engine.model.llama.LlamaModel;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import io.headroom.engine.tokenizer.ChatTemplate;
import io.headroom.engine.tokenizer.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face model directory loaded for inference: config, memory-mapped weights, tokenizer,
 * chat template and a backend. The entry point for embedding the engine.
 */
public final class LoadedModel implements AutoCloseable {

    private final Path directory;
    private final ModelConfig config;
    private final Checkpoint checkpoint;
    private final TextTokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final Parallel parallel;
    private final ForwardModel model;
    private final EngineOptions options;

    private LoadedModel(Path directory, ModelConfig config, Checkpoint checkpoint, TextTokenizer tokenizer,
            ChatTemplate chatTemplate, Parallel parallel, ForwardModel model, EngineOptions options) {
        this.directory = directory;
        this.config = config;
        this.checkpoint = checkpoint;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.parallel = parallel;
        this.model = model;
        this.options = options;
    }

    /**
     * Prompt tokens per forward pass on the device-resident model when the configuration leaves it
     * open: on the 8B geometry at 128K, 4096-token chunks prefilled 1.8% (full attention) and 3.6%
     * (DuoAttention) faster than 2048-token ones side by side, for 0.5 GiB more activation memory
     * (src/docs/bench/cuda-resident.md, "Prefill: the shared work…").
     */
    public static final int DEVICE_PREFILL_CHUNK = 4096;

    /** Prompt tokens per forward pass on the CPU backends when the configuration leaves it open. */
    public static final int CPU_PREFILL_CHUNK = 128;

    /**
     * The prefill chunk for {@code backend} when the configuration leaves it open:
     * {@link #DEVICE_PREFILL_CHUNK} where it selects the device-resident model (a 128K prompt in
     * 128-token chunks would take 1024 passes instead of 32), else {@link #CPU_PREFILL_CHUNK}.
     */
    public static int defaultPrefillChunk(String backend) {
        return Backends.resident(backend) ? DEVICE_PREFILL_CHUNK : CPU_PREFILL_CHUNK;
    }

    /** Loads {@code directory}; every problem with it fails with a {@link ModelFormatException}. */
    public static LoadedModel load(Path directory, EngineOptions options) {
        if (!Files.isDirectory(directory)) {
            throw new ModelFormatException("model directory " + directory + " does not exist");
        }
        ModelConfig config = ModelConfigReader.read(directory);
        Checkpoint checkpoint = Checkpoint.open(directory);
        Parallel parallel = null;
        TextTokenizer tokenizer = null;
        try {
            LlamaWeights weights = LlamaWeights.load(checkpoint, config);
            tokenizer = TextTokenizer.load(directory);
            ChatTemplate template = ChatTemplate.load(directory);
            parallel = new Parallel(options.threads());
            ForwardModel forward = Backends.resident(options.backend())
                    ? Backends.cuda(config, weights, options)
                    : new LlamaModel(config, weights, Backends.cpuKernels(options.backend(), parallel));
            return new LoadedModel(directory, config, checkpoint, tokenizer, template, parallel, forward, options);
        } catch (RuntimeException e) {
            checkpoint.close();
            if (tokenizer != null) {
                tokenizer.close();
            }
            if (parallel != null) {
                parallel.close();
            }
            throw e;
        }
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    public ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    /** The model on its backend: CPU {@link LlamaModel} or the device-resident CUDA model. */
    public ForwardModel model() {
        return model;
    }

    /** The CPU forward pass (also behind cuda-kernels); fails for the device-resident cuda backend. */
    public LlamaModel cpuModel() {
        if (model instanceof LlamaModel cpu) {
            return cpu;
        }
        throw new IllegalStateException("the " + model.backendName() + " backend has no CPU forward pass");
    }

    /** A generator with full attention. */
    public Generator generator() {
        return generator(DuoLayout.full(config.numLayers(), config.numKvHeads()));
    }

    /** A generator with the DuoAttention head layout {@code layout}. */
    public Generator generator(DuoLayout layout) {
        return new Generator(model, tokenizer, options.prefillChunk(), layout, options.kvPageTokens());
    }

    public EngineOptions options() {
        return options;
    }

    @Override
    public void close() {
        Object backend = model instanceof LlamaModel cpu ? cpu.kernels() : model;
        if (backend instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the " + model.backendName() + " backend failed", e);
            }
        }
        parallel.close();
        tokenizer.close();
        checkpoint.close();
    }

    /** Chooses CPU kernels; keeps the Vector API classes unloaded when the module is absent. */
    static final class Backends {

        private Backends() {
        }

        /** Whether {@code backend} selects the device-resident CUDA model. */
        static boolean resident(String backend) {
            return backend.equals("cuda") || (backend.equals("auto")
                    && io.headroom.engine.backend.cuda.CudaDevice.unavailableReason() == null);
        }

        static ForwardModel cuda(ModelConfig config, LlamaWeights weights, EngineOptions o) {
            return io.headroom.engine.backend.cuda.CudaForwardModel.open(config, weights, cudaOptions(config, o));
        }

        /**
         * The device-resident model's options for {@code o}. f32 is the exact mode: float32 KV, float32
         * prefill projections and CUDA-core prefill attention (no tensor-core rounding). bf16 runs both on
         * tensor cores (attention: flash_prefill_ws128 on Hopper, flash_prefill_mma elsewhere; projections:
         * cuBLAS where libcublas loads), with gate and up as one GEMM with bf16 outputs and the o and down
         * projections added into the residual stream by the GEMM. Either way a prompt's chunks are queued
         * back to back (the same kernels in the same order). Each choice is the fastest measured side by
         * side (src/docs/bench/cuda-resident.md).
         */
        static io.headroom.engine.backend.cuda.CudaLlamaModel.Options cudaOptions(ModelConfig config,
                EngineOptions o) {
            int context = o.deviceContext() == 0 ? config.maxPositions() : Math.min(o.deviceContext(),
                    config.maxPositions());
            var kvType = io.headroom.engine.backend.cuda.DeviceKvType.parse(o.deviceKvType());
            boolean fast = kvType == io.headroom.engine.backend.cuda.DeviceKvType.BF16;
            var attention = fast ? io.headroom.engine.backend.cuda.PrefillAttention.WARP_SPECIALIZED
                    : io.headroom.engine.backend.cuda.PrefillAttention.CUDA_CORES;
            return new io.headroom.engine.backend.cuda.CudaLlamaModel.Options(context, o.prefillChunk(),
                    DuoLayout.full(config.numLayers(), config.numKvHeads()), kvType, o.kvPageTokens(),
                    o.deviceSequences(), true, fast, attention, fast, true, 0, true, fast, true, fast);
        }

        /** Kernels for the CPU forward pass (cuda-kernels: each op as a CUDA kernel). */
        static Kernels cpuKernels(String backend, Parallel parallel) {
            if (backend.equals("cpu-scalar")) {
                return new ScalarKernels();
            }
            if (backend.equals("cuda-kernels")) {
                return io.headroom.engine.backend.cuda.CudaKernels.open();
            }
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
                if (backend.equals("cpu")) {
                    throw new IllegalStateException("the cpu backend needs the Vector API: run java with "
                            + "--add-modules jdk.incubator.vector (or choose --backend cpu-scalar)");
                }
                System.err.println("warning: jdk.incubator.vector is not enabled (java --add-modules "
                        + "jdk.incubator.vector); using the slow scalar reference kernels");
                return new ScalarKernels();
            }
            return new io.headroom.engine.backend.cpu.VectorKernels(parallel);
        }
    }
}
