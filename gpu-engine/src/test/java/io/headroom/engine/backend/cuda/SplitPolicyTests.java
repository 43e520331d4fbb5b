package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The split-K share count of decode attention (no GPU needed). */
class SplitPolicyTests {

    @Test
    void decodeSharesShouldBeThePowerOfTwoCoveringTheKeysAndCapped() {
        assertThat(CudaLlamaModel.decodeSplits(1)).isEqualTo(1);
        assertThat(CudaLlamaModel.decodeSplits(128)).isEqualTo(1);
        assertThat(CudaLlamaModel.decodeSplits(129)).isEqualTo(2);
        assertThat(CudaLlamaModel.decodeSplits(3 * 128)).isEqualTo(4);
        assertThat(CudaLlamaModel.decodeSplits(5 * 128)).isEqualTo(8);
        assertThat(CudaLlamaModel.decodeSplits(32_768)).isEqualTo(256);
        assertThat(CudaLlamaModel.decodeSplits(1 << 20)).isEqualTo(1024);
        assertThat(CudaLlamaModel.decodeSplits(Integer.MAX_VALUE / 2)).isEqualTo(1024);
    }

    @Test
    void decodeSharesShouldFillOneWaveWithTheLayersRetrievalHeads() {
        // H100: 132 SMs, two blocks each; 8 KV heads
        assertThat(CudaLlamaModel.waveSplits(256, 8, 8, 132)).isEqualTo(33);
        assertThat(CudaLlamaModel.waveSplits(16, 8, 8, 132)).isEqualTo(16);
        assertThat(CudaLlamaModel.waveSplits(256, 4, 8, 132)).isEqualTo(66);
        assertThat(CudaLlamaModel.waveSplits(256, 1, 8, 132)).as("at least a quarter of the heads").isEqualTo(132);
        assertThat(CudaLlamaModel.waveSplits(256, 0, 8, 132)).as("all streaming").isEqualTo(33);
        assertThat(CudaLlamaModel.waveSplits(1, 8, 8, 132)).isEqualTo(1);
        assertThat(CudaLlamaModel.waveSplits(1024, 1, 1, 132)).isEqualTo(264);
        assertThat(CudaLlamaModel.waveSplits(256, 32, 32, 132)).as("MHA: 256 blocks, not 288").isEqualTo(8);
        assertThat(CudaLlamaModel.waveSplits(256, 5, 8, 132)).isEqualTo(52);
        assertThat(CudaLlamaModel.waveSplits(256, 600, 600, 132)).as("more heads than places").isEqualTo(1);
    }

    @Test
    void headsPerBlockShouldDivideTheGroupAndFitSixteenRows() {
        assertThat(CudaLlamaModel.headsPerBlock(1)).isEqualTo(1);
        assertThat(CudaLlamaModel.headsPerBlock(4)).isEqualTo(4);
        assertThat(CudaLlamaModel.headsPerBlock(7)).isEqualTo(7);
        assertThat(CudaLlamaModel.headsPerBlock(32)).isEqualTo(16);
        assertThat(CudaLlamaModel.headsPerBlock(24)).isEqualTo(12);
    }
}
