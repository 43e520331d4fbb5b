package io.headroom.engine.cli;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by every command that loads a model. */
final class ModelOptions {

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
    Path model;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "NAME",
            description = "auto (cuda when a GPU is usable, else cpu), cpu (Vector API), cpu-scalar (reference ops), "
                    + "cuda (device-resident model) or cuda-kernels (CPU forward pass, ops as CUDA kernels). "
                    + "Default: ${DEFAULT-VALUE}")
    String backend;

    @Option(names = "--device-kv-type", defaultValue = "bf16", paramLabel = "TYPE",
            description = "cuda: KV cache element type on the device, bf16 (with tensor-core prefill) or f32 "
                    + "(exact: matches the CPU engine to 1e-5). Default: ${DEFAULT-VALUE}")
    String deviceKvType;

    @Option(names = "--threads", paramLabel = "N", description = "CPU worker threads (default: all cores)")
    Integer threads;

    @Option(names = "--prefill-chunk", paramLabel = "N",
            description = "prompt tokens per forward pass (default: 4096 on the device-resident cuda model, 128 "
                    + "on the CPU)")
    Integer prefillChunk;

    LoadedModel load() {
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        int chunk = prefillChunk != null ? prefillChunk : LoadedModel.defaultPrefillChunk(backend);
        return LoadedModel.load(model, new EngineOptions(backend, n, chunk, 64, deviceKvType, 1, 0));
    }
}
