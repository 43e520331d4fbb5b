package io.headroom.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Engine options: defaults of the short forms and a clear refusal of every bad value. */
class EngineOptionsTests {

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
}
