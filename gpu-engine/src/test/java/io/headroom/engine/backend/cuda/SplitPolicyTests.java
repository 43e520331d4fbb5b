package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.duo.DuoLayout;
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
        // H100: 132 SMs, two blocks each
        assertThat(CudaLlamaModel.waveSplits(256, 8, 132)).as("8 retrieval heads").isEqualTo(33);
        assertThat(CudaLlamaModel.waveSplits(16, 8, 132)).isEqualTo(16);
        assertThat(CudaLlamaModel.waveSplits(256, 4, 132)).isEqualTo(66);
        assertThat(CudaLlamaModel.waveSplits(256, 1, 132)).as("one retrieval head").isEqualTo(256);
        assertThat(CudaLlamaModel.waveSplits(1024, 1, 132)).isEqualTo(264);
        assertThat(CudaLlamaModel.waveSplits(256, 0, 132)).as("all streaming: unused").isEqualTo(256);
        assertThat(CudaLlamaModel.waveSplits(1, 8, 132)).isEqualTo(1);
        assertThat(CudaLlamaModel.waveSplits(256, 32, 132)).as("MHA: 256 blocks, not 288").isEqualTo(8);
        assertThat(CudaLlamaModel.waveSplits(256, 5, 132)).isEqualTo(52);
        assertThat(CudaLlamaModel.waveSplits(256, 600, 132)).as("more heads than places").isEqualTo(1);
    }

    @Test
    void headOrderShouldListRetrievalHeadsFirst() {
        boolean[][] retrieval = {{false, true, false, true}, {true, true, true, true}, {false, false, false, false}};
        DuoLayout layout = new DuoLayout(retrieval, 4, 8);
        assertThat(CudaLlamaModel.headOrder(layout, 0)).containsExactly(1, 3, 0, 2);
        assertThat(CudaLlamaModel.headOrder(layout, 1)).containsExactly(0, 1, 2, 3);
        assertThat(CudaLlamaModel.headOrder(layout, 2)).containsExactly(0, 1, 2, 3);
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
