package io.headroom.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.backend.cuda.CudaLlamaModel;
import io.headroom.engine.backend.cuda.DeviceKvType;
import io.headroom.engine.backend.cuda.PrefillAttention;
import io.headroom.engine.model.Architecture;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.RopeScaling;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Engine options: defaults of the short forms, a clear refusal of every bad value, and the
 * device-resident model's options each engine option selects.
 */
class EngineOptionsTests {

    // 3 layers, 48 wide, 6 query heads over 2 KV heads, 4096 positions
    private static final ModelConfig SMALL = new ModelConfig(Architecture.LLAMA, 50, 48, 80, 3, 6, 2, 8, 4096,
            1e-5f, 10000, new RopeScaling.None(), false, false, false, 0, List.of(1));

    @Test
    void shortFormsShouldTakeTheDeviceDefaults() {
        EngineOptions o = new EngineOptions("cuda", 2, 128);
        assertThat(o.kvPageTokens()).isEqualTo(64);
        assertThat(o.deviceKvType()).isEqualTo("bf16");
        assertThat(o.deviceSequences()).isEqualTo(1);
        assertThat(o.deviceContext()).isZero();
    }

    @Test
    void badValuesShouldBeRefusedByName() {
        assertThatThrownBy(() -> new EngineOptions("tpu", 2, 128)).hasMessageContaining("unknown backend 'tpu'");
        assertThatThrownBy(() -> new EngineOptions("cuda", 2, 128, 64, "fp8", 1, 0))
                .hasMessageContaining("device KV type must be bf16 or f32, got 'fp8'");
        assertThatThrownBy(() -> new EngineOptions("cuda", 2, 128, 64, "bf16", 0, 0))
                .hasMessageContaining("device sequences must be >= 1");
        assertThatThrownBy(() -> new EngineOptions("cuda", 2, 128, 64, "bf16", 1, -5))
                .hasMessageContaining("device context must be >= 0");
    }

    @Test
    void bf16ShouldSelectTheFastestMeasuredPrefillPath() {
        CudaLlamaModel.Options o = LoadedModel.Backends.cudaOptions(SMALL,
                new EngineOptions("cuda", 2, 2048, 256, "bf16", 3, 1000));
        assertThat(o.kvType()).isEqualTo(DeviceKvType.BF16);
        assertThat(o.tensorCores()).isTrue();
        assertThat(o.cublas()).isTrue();
        assertThat(o.prefillAttention()).isEqualTo(PrefillAttention.WARP_SPECIALIZED);
        assertThat(o.gateUpBf16()).as("one gate/up GEMM with bf16 outputs").isTrue();
        assertThat(o.residualInGemm()).as("the residual added in the GEMM").isTrue();
        assertThat(o.pipelinedPrefill()).as("chunks queued back to back").isTrue();
        assertThat(o.fusedDecode()).isTrue();
        assertThat(o.programmaticLaunch()).isTrue();
        assertThat(o.decodeSplits()).as("the split policy").isZero();
        assertThat(o.layout().retrievalCount()).as("full attention until a pattern is applied").isEqualTo(3 * 2);
        assertThat(new int[] {o.capacity(), o.maxChunk(), o.pageTokens(), o.sequences()})
                .containsExactly(1000, 2048, 256, 3);
    }

    @Test
    void f32ShouldSelectTheExactPathAndTheModelsContext() {
        CudaLlamaModel.Options o = LoadedModel.Backends.cudaOptions(SMALL,
                new EngineOptions("cuda", 2, 64, 64, "f32", 1, 0));
        assertThat(o.kvType()).isEqualTo(DeviceKvType.F32);
        assertThat(o.tensorCores()).isFalse();
        assertThat(o.cublas()).isFalse();
        assertThat(o.prefillAttention()).isEqualTo(PrefillAttention.CUDA_CORES);
        assertThat(o.gateUpBf16()).as("no bf16 rounding in the exact mode").isFalse();
        assertThat(o.residualInGemm()).isFalse();
        assertThat(o.pipelinedPrefill()).as("the same kernels either way").isTrue();
        assertThat(o.capacity()).as("context 0: the model's positions").isEqualTo(4096);
        assertThat(LoadedModel.Backends.cudaOptions(SMALL, new EngineOptions("cuda", 2, 64, 64, "f32", 1, 9000))
                .capacity()).as("clamped to the model's positions").isEqualTo(4096);
    }

    @Test
    void theDefaultPrefillChunkShouldFollowTheBackend() {
        assertThat(LoadedModel.defaultPrefillChunk("cuda")).isEqualTo(LoadedModel.DEVICE_PREFILL_CHUNK).isEqualTo(4096);
        assertThat(LoadedModel.defaultPrefillChunk("cpu")).isEqualTo(LoadedModel.CPU_PREFILL_CHUNK).isEqualTo(128);
        assertThat(LoadedModel.defaultPrefillChunk("cpu-scalar")).isEqualTo(128);
        assertThat(LoadedModel.defaultPrefillChunk("cuda-kernels")).as("the CPU forward pass").isEqualTo(128);
        boolean device = io.headroom.engine.backend.cuda.CudaDevice.unavailableReason() == null;
        assertThat(LoadedModel.defaultPrefillChunk("auto")).as("auto, with a device: " + device)
                .isEqualTo(device ? 4096 : 128);
    }
}
