package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/** The prefill attention choice and its kernels' shared-memory needs (no GPU needed). */
class PrefillAttentionTests {

    @Test
    void namesShouldParseAndAnUnknownOneBeRefusedWithTheChoices() {
        assertThat(PrefillAttention.parse("cuda-cores")).isEqualTo(PrefillAttention.CUDA_CORES);
        assertThat(PrefillAttention.parse("Tensor-Cores")).isEqualTo(PrefillAttention.TENSOR_CORES);
        assertThat(PrefillAttention.parse("mma")).isEqualTo(PrefillAttention.TENSOR_CORES_MMA);
        assertThat(PrefillAttention.parse("WGMMA")).isEqualTo(PrefillAttention.WGMMA);
        assertThat(PrefillAttention.parse("ws")).isEqualTo(PrefillAttention.WARP_SPECIALIZED);
        assertThat(PrefillAttention.parse("ws128")).isEqualTo(PrefillAttention.WARP_SPECIALIZED);
        assertThat(PrefillAttention.WARP_SPECIALIZED.kernel()).isEqualTo("flash_prefill_ws128");
        assertThat(PrefillAttention.WARP_SPECIALIZED.warpSpecialized()).isTrue();
        assertThat(PrefillAttention.WGMMA.warpSpecialized()).isFalse();
        assertThatThrownBy(() -> PrefillAttention.parse("flash"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'flash'")
                .hasMessageContaining("cuda-cores, tensor-cores, mma, wgmma, ws)");
    }

    @Test
    void theRegisterKernelShouldNeedOnlyItsTilesAndFitTwoBlocksPerSm() {
        // two K/V tile pairs (64 keys, double-buffered; Q's 64 rows are staged in the second) as bf16 rows
        // of head_dim + 8, and three tiles' 64 row offsets (8 bytes) and positions (4 bytes)
        int mma = CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES_MMA, 128);
        assertThat(mma).isEqualTo(4 * 64 * 136 * 2 + 3 * 64 * 12);
        assertThat(2 * (mma + 1024)).isLessThanOrEqualTo(228 * 1024);
        // wgmma: the same with K/V tiles unpadded (128-byte swizzle) and aligned to 1024 bytes; three blocks
        int wgmma = CudaLlamaModel.flashSmem(PrefillAttention.WGMMA, 128);
        assertThat(wgmma).isEqualTo(4 * 64 * 128 * 2 + 1008 + 3 * 64 * 12);
        assertThat(3 * (wgmma + 1024)).isLessThanOrEqualTo(228 * 1024);
        // warp-specialised, 128-key tiles: two K and two V tiles, Q's 128 rows unpadded (an operand by
        // descriptor), eight mbarriers; one block of three warpgroups per SM
        int ws = CudaLlamaModel.flashSmem(PrefillAttention.WARP_SPECIALIZED, 128);
        assertThat(ws).isEqualTo(4 * 128 * 128 * 2 + 1008 + 128 * 128 * 2 + 2 * 128 * 12 + 64);
        assertThat(ws + 1024).isLessThanOrEqualTo(228 * 1024);
        assertThat(CudaLlamaModel.flashRows(PrefillAttention.WARP_SPECIALIZED)).isEqualTo(128);
        assertThat(CudaLlamaModel.flashThreads(PrefillAttention.WARP_SPECIALIZED)).isEqualTo(384);
        // the WMMA kernel keeps per-warp score, P and output strips besides: two blocks per SM at 128
        int wmma = CudaLlamaModel.flashSmem(PrefillAttention.TENSOR_CORES, 128);
        assertThat(2 * (wmma + 1024)).isLessThanOrEqualTo(228 * 1024);
    }

    @Test
    void theDecodeKernelsShouldFitTwoBlocksPerSm() {
        // duo_decode_mma: 4 warps × 3 slots × (16 K + 16 V rows of head_dim + 8 bf16)
        assertThat(CudaLlamaModel.decodeMmaSmem(128)).isEqualTo(4 * 3 * 32 * 136 * 2);
        assertThat(2 * (CudaLlamaModel.decodeMmaSmem(128) + 1024)).isLessThanOrEqualTo(228 * 1024);
        // duo_decode (CUDA cores): 3 tiles of 64 bf16 / 32 f32 keys, padded K rows, V rows, q and P
        for (int kvBytes : new int[] {2, 4}) {
            int smem = CudaLlamaModel.decodeSmem(8, 128, kvBytes);
            assertThat(smem).isGreaterThanOrEqualTo(3 * 128 * (2 * 128 + 16 / kvBytes) + 4 * 8 * 128);
            assertThat(2 * (smem + 1024)).isLessThanOrEqualTo(228 * 1024);
        }
    }

    @Test
    void tensorMapsShouldRefuseShapesTheCopyEngineCannotTile() {
        // checked before the driver is called: rows of whole 64-column boxes, a 16-byte aligned base, 1..256 box rows
        jcuda.driver.CUdeviceptr base = new jcuda.driver.CUdeviceptr();
        assertThatThrownBy(() -> TensorMaps.bf16Rows(base, 1024, 96, 64))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("96 bf16");
        assertThatThrownBy(() -> TensorMaps.bf16Rows(base, 0, 128, 64)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TensorMaps.bf16Rows(base, 1L << 32, 128, 64))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TensorMaps.bf16Rows(base, 1024, 128, 512))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TensorMaps.bf16Rows(base.withByteOffset(8), 1024, 128, 64))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0x8");
    }

    @Test
    void aLaunchShouldSplitItsBlocksOnlyWhereThatEvensOutItsLastWave() {
        // 8B geometry, a 2048-token chunk: 64 blocks per retrieval KV head, 132 SMs, at 64K keys
        int keys = 65536;
        assertThat(CudaLlamaModel.prefillWaveSplits(8 * 64, 132, keys)).isEqualTo(1); // 3.9 waves either way
        assertThat(CudaLlamaModel.prefillWaveSplits(4 * 64, 132, keys)).isEqualTo(1); // 1.94 waves
        assertThat(CudaLlamaModel.prefillWaveSplits(5 * 64, 132, keys)).isEqualTo(2); // 3 waves, or 5 half waves
        assertThat(CudaLlamaModel.prefillWaveSplits(3 * 64, 132, keys)).isEqualTo(2); // 2, or 3 half waves
        assertThat(CudaLlamaModel.prefillWaveSplits(6 * 64, 132, keys)).isEqualTo(1); // 3 either way
        assertThat(CudaLlamaModel.prefillWaveSplits(64, 132, keys)).isEqualTo(2);     // half the SMs idle
        assertThat(CudaLlamaModel.prefillWaveSplits(0, 132, keys)).isEqualTo(1);      // streaming heads only
        // short contexts: the shares' cost is not repaid
        assertThat(CudaLlamaModel.prefillWaveSplits(5 * 64, 132, 32767)).isEqualTo(1);
        assertThat(CudaLlamaModel.prefillWaveSplits(5 * 64, 132, 32768)).isEqualTo(2);
        // the workspace holds two shares of a whole chunk (or the decode shares, whichever is more)
        assertThat(CudaLlamaModel.workspaceRows(DeviceMemoryPlanTests.LLAMA3_8B, 2048)).isEqualTo(2 * 2048 * 32);
        assertThat(CudaLlamaModel.workspaceRows(DeviceMemoryPlanTests.LLAMA3_8B, 64)).isEqualTo(1024 * 32);
    }

    @Test
    void theWarpSpecialisedKernelShouldTakeTheMapsByValueOrZerosWithoutThenTheHeadOrder() {
        Object[] args = {1, 2.0f};
        byte[] k = new byte[TensorMaps.BYTES];
        byte[] v = new byte[TensorMaps.BYTES];
        CUdeviceptr order = new CUdeviceptr();
        Object[] with = CudaLlamaModel.withMaps(args, k, v, false, order);
        assertThat(with).hasSize(6).startsWith(1, 2.0f);
        assertThat(with[2]).isSameAs(k);
        assertThat(with[3]).isSameAs(v);
        assertThat(with[4]).isEqualTo(1);
        assertThat(with[5]).isSameAs(order);
        assertThat(CudaLlamaModel.withMaps(args, k, v, true, order)[4]).isEqualTo(2); // the chunk's rows in the pool
        Object[] without = CudaLlamaModel.withMaps(args, null, null, true, order);
        assertThat((byte[]) without[2]).hasSize(128).containsOnly(0);
        assertThat(without[4]).isEqualTo(0);
    }
}
