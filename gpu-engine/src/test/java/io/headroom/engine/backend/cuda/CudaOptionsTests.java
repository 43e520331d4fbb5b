package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.duo.DuoLayout;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The device model's options (no device needed): each with-method changes its own field and keeps
 * every other, and a copy is validated like a new instance.
 */
class CudaOptionsTests {

    /**
     * From two instances whose every field differs, each with-method moves its field to another
     * value: exactly that field changes (a field the copy forgot would fall back to a default and
     * show as a second change from one of the two).
     */
    @Test
    void eachWithShouldChangeItsFieldAndKeepTheOthers() {
        var a = new CudaLlamaModel.Options(4096, 64, DuoLayout.full(2, 2), DeviceKvType.F32, 16, 3, false, false,
                PrefillAttention.CUDA_CORES, false, false, 5, false, false, false, false);
        var b = new CudaLlamaModel.Options(2048, 32, DuoLayout.full(4, 2), DeviceKvType.BF16, 8, 2, true, true,
                PrefillAttention.WARP_SPECIALIZED, true, true, 7, true, true, true, true);
        List<UnaryOperator<CudaLlamaModel.Options>> changes = List.of(
                o -> o.withLayout(DuoLayout.full(o.layout().layers() + 1, 2)),
                o -> o.withKvType(o.kvType() == DeviceKvType.F32 ? DeviceKvType.BF16 : DeviceKvType.F32),
                o -> o.withGraphs(!o.graphs()), o -> o.withTensorCores(!o.tensorCores()),
                o -> o.withPrefillAttention(o.prefillAttention() == PrefillAttention.CUDA_CORES
                        ? PrefillAttention.TENSOR_CORES_MMA : PrefillAttention.CUDA_CORES),
                o -> o.withCublas(!o.cublas()), o -> o.withFusedDecode(!o.fusedDecode()),
                o -> o.withDecodeSplits(o.decodeSplits() + 1), o -> o.withProgrammaticLaunch(!o.programmaticLaunch()),
                o -> o.withGateUpBf16(!o.gateUpBf16()), o -> o.withPipelinedPrefill(!o.pipelinedPrefill()),
                o -> o.withResidualInGemm(!o.residualInGemm()));
        var components = CudaLlamaModel.Options.class.getRecordComponents();
        for (var base : List.of(a, b)) {
            for (var change : changes) {
                var changed = change.apply(base);
                int differ = 0;
                for (var c : components) {
                    try {
                        differ += c.getAccessor().invoke(changed).equals(c.getAccessor().invoke(base)) ? 0 : 1;
                    } catch (ReflectiveOperationException e) {
                        throw new AssertionError(e);
                    }
                }
                assertThat(differ).as("%s from %s", changed, base).isEqualTo(1);
            }
        }
        // the twelve with-methods, and capacity, chunk, page size and sequences: every field
        assertThat(components).hasSize(changes.size() + 4);
    }

    @Test
    void aCopyShouldBeValidatedAgain() {
        var o = new CudaLlamaModel.Options(4096, 64, DuoLayout.full(2, 2), DeviceKvType.F32, 16, 1, true, false);
        assertThatThrownBy(() -> o.withDecodeSplits(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("decode splits");
        assertThatThrownBy(() -> o.withPrefillAttention(null)).isInstanceOf(NullPointerException.class);
    }
}
