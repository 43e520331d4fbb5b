package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The prefill attention choice and its kernels' shared-memory needs (no GPU needed). */
class PrefillAttentionTests {

    @Test
    void namesShouldParseAndAnUnknownOneBeRefusedWithTheChoices() {
        assertThat(PrefillAttention.parse("cuda-cores")).isEqualTo(PrefillAttention.CUDA_CORES);
        assertThat(PrefillAttention.parse("Tensor-Cores")).isEqualTo(PrefillAttention.TENSOR_CORES);
        assertThat(PrefillAttention.parse("mma")).isEqualTo(PrefillAttention.TENSOR_CORES_MMA);
        assertThatThrownBy(() -> PrefillAttention.parse("flash"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'flash'").hasMessageContaining("cuda-cores, tensor-cores, mma");
    }

    @Test
    void theRegisterKernelShouldNeedOnlyItsTilesAndFitSeveralBlocksPerSm() {
        // Q (64 rows), K and V (64 keys) as bf16 rows of head_dim + 8, and 64 positions
        assertThat(CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES_MMA, 128)).isEqualTo(192 * 136 * 2 + 256);
        assertThat(CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES_MMA, 128) * 4).isLessThan(228 * 1024);
        // the WMMA kernel keeps per-warp score, P and output strips besides: two blocks per SM at 128
        int wmma = CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES, 128);
        assertThat(wmma).isGreaterThan(CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES_MMA, 128));
        assertThat(2 * (wmma + 1024)).isLessThanOrEqualTo(228 * 1024);
    }
}
