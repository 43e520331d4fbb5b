package io.headroom.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * Host blocks, mapped (large) or from the arena (small): zeroed, writable, gone when the arena closes;
 * on Linux the large ones are mappings of their own (page-aligned, where an arena block is only 64-byte
 * aligned after malloc's header).
 */
class HostMemoryTests {

    @Test
    void blocksShouldBeZeroedWritableAndFreedWithTheirArena() {
        for (long bytes : new long[] {100, HostMemory.MAPPED_MIN_BYTES, 3 * HostMemory.MAPPED_MIN_BYTES + 12}) {
            MemorySegment s;
            try (Arena arena = Arena.ofShared()) {
                s = HostMemory.allocate(arena, bytes);
                assertThat(s.byteSize()).isEqualTo(bytes);
                assertThat(s.address() % 64).isZero();
                if (bytes >= HostMemory.MAPPED_MIN_BYTES && System.getProperty("os.name").contains("Linux")) {
                    assertThat(s.address() % 4096).as("a mapping of its own").isZero();
                }
                assertThat(s.mismatch(MemorySegment.ofArray(new byte[(int) bytes]))).isEqualTo(-1);
                s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
                assertThat(s.get(ValueLayout.JAVA_BYTE, bytes - 1)).isEqualTo((byte) 7);
            }
            MemorySegment closed = s;
            assertThatThrownBy(() -> closed.get(ValueLayout.JAVA_BYTE, 0)).isInstanceOf(IllegalStateException.class);
        }
    }
}
