package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.model.Architecture;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.RopeScaling;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The device memory plan's arithmetic and its refusal (no GPU needed). */
class DeviceMemoryPlanTests {

    /** Llama-3-8B's geometry. */
    static final ModelConfig LLAMA3_8B = new ModelConfig(Architecture.LLAMA, 128256, 4096, 14336, 32, 32, 8, 128,
            1 << 21, 1e-5f, 500000, new RopeScaling.None(), false, false, false, 0, List.of(1));

    @Test
    void planShouldCountWeightsAndOnlyRetrievalHeadsPages() {
        DuoLayout half = DuoLayout.random(32, 8, 0.5, 1, 64, 256);
        var options = new CudaLlamaModel.Options(1_000_000, 512, half, DeviceKvType.BF16, 256, 1, true, true);
        DeviceMemoryPlan plan = DeviceMemoryPlan.of(LLAMA3_8B, options);
        // bf16 weights: 8.03 B parameters, norms in f32
        assertThat(plan.weights()).isBetween(16_000_000_000L, 16_100_000_000L);
        // 128 retrieval heads x ceil(1e6 / 256) pages, each 256 positions x 128 dims x K,V x 2 bytes
        assertThat(plan.pages()).isEqualTo(128 * 3907);
        assertThat(plan.retrievalKv()).isEqualTo(128L * 3907 * 256 * 128 * 2 * 2);
        // streaming buffers for every head: (64 + 256) slots
        assertThat(plan.streamingKv()).isEqualTo(32L * 8 * 320 * 128 * 2 * 2);
        var full = options.withLayout(DuoLayout.full(32, 8));
        assertThat(DeviceMemoryPlan.of(LLAMA3_8B, full).retrievalKv()).isEqualTo(2 * plan.retrievalKv());
    }

    @Test
    void checkShouldRefuseWithThePartsNamed() {
        var options = CudaLlamaModel.Options.full(LLAMA3_8B, 1_000_000, 512).withKvType(DeviceKvType.BF16);
        DeviceMemoryPlan plan = DeviceMemoryPlan.of(LLAMA3_8B, options);
        assertThatThrownBy(() -> plan.check(80L << 30, "an 80 GiB card")).isInstanceOf(CudaException.class)
                .hasMessageContaining("does not fit on an 80 GiB card").hasMessageContaining("retrieval KV")
                .hasMessageContaining("weights");
        plan.check(plan.total() + DeviceMemoryPlan.RESERVE, "a big enough card"); // no exception
    }

    @Test
    void planShouldCountCublasInputStagingOnlyWhereCublasRunsTheGemms() {
        var tensorCores = new CudaLlamaModel.Options(131072, 2048, DuoLayout.full(32, 8), DeviceKvType.BF16, 256, 1,
                true, true);
        long ours = DeviceMemoryPlan.of(LLAMA3_8B, tensorCores).activations();
        // the chunk's widest activations (the MLP's 14336) as bf16: cuBLAS's GEMM input
        assertThat(DeviceMemoryPlan.of(LLAMA3_8B, tensorCores.withCublas(true)).activations() - ours)
                .isEqualTo(2L * 2048 * 14336);
        // no tensor cores (the exact mode): no GEMM, no staging, whatever the option says
        var exact = tensorCores.withTensorCores(false);
        assertThat(DeviceMemoryPlan.of(LLAMA3_8B, exact.withCublas(true)).activations())
                .isEqualTo(DeviceMemoryPlan.of(LLAMA3_8B, exact).activations());
        // the option survives the other with… copies
        assertThat(tensorCores.withCublas(true).withLayout(DuoLayout.full(32, 8)).withKvType(DeviceKvType.F32)
                .withGraphs(false).withPrefillAttention(PrefillAttention.TENSOR_CORES_MMA).cublas()).isTrue();
    }
}
