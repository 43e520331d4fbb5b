package io.headroom.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Host blocks, mapped (large) or from the arena (small): zeroed, writable, gone when the arena closes. */
class HostMemoryTests {

    @Test
    void blocksShouldBeZeroedWritableAndFreedWithTheirArena() {
        for (long bytes : new long[] {100, HostMemory.MAPPED_MIN_BYTES, 3 * HostMemory.MAPPED_MIN_BYTES + 12}) {
            MemorySegment s;
            try (Arena arena = Arena.ofShared()) {
                s = HostMemory.allocate(arena, bytes);
                assertThat(s.byteSize()).isEqualTo(bytes);
                assertThat(s.address() % 64).isZero();
                assertThat(s.mismatch(MemorySegment.ofArray(new byte[(int) bytes]))).isEqualTo(-1);
                s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
                assertThat(s.get(ValueLayout.JAVA_BYTE, bytes - 1)).isEqualTo((byte) 7);
            }
            MemorySegment closed = s;
            assertThatThrownBy(() -> closed.get(ValueLayout.JAVA_BYTE, 0)).isInstanceOf(IllegalStateException.class);
        }
    }
}
