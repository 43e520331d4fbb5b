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
    void headsPerBlockShouldDivideTheGroupAndFitSixteenRows() {
        assertThat(CudaLlamaModel.headsPerBlock(1)).isEqualTo(1);
        assertThat(CudaLlamaModel.headsPerBlock(4)).isEqualTo(4);
        assertThat(CudaLlamaModel.headsPerBlock(7)).isEqualTo(7);
        assertThat(CudaLlamaModel.headsPerBlock(32)).isEqualTo(16);
        assertThat(CudaLlamaModel.headsPerBlock(24)).isEqualTo(12);
    }
}
