package io.headroom.engine.kv;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Large host allocations for parked KV (gigabytes per session). What makes parking slow is not the
 * copy but the first touch of fresh memory: one page fault per 4 KiB page, each zeroing its page
 * (about 1 GB/s measured on a 128K session, against 4.9 GB/s for the way back into reused pages). On
 * Linux a block is therefore mapped anonymously and marked {@code MADV_HUGEPAGE}, so transparent huge
 * pages fault it in 2 MiB at a time where the kernel allows them ({@code madvise} or {@code always}
 * in {@code /sys/kernel/mm/transparent_hugepage/enabled}); elsewhere, or if the mapping fails, the
 * arena allocates it. Either way the memory is zeroed and freed when the arena closes.
 */
public final class HostMemory {

    /** Below this a block is not worth its own mapping. */
    static final long MAPPED_MIN_BYTES = 4L << 20;
    private static final int PROT_READ_WRITE = 0x3;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x22;
    private static final int MADV_HUGEPAGE = 14;

    /** Whether blocks are mapped with huge pages where possible; off only to measure the difference. */
    public static volatile boolean hugePages = true;

    private static final MethodHandle[] CALLS = lookup(); // mmap, madvise, munmap; null where unavailable

    private HostMemory() {
    }

    /** {@code bytes} of zeroed memory, 64-byte aligned, freed when {@code arena} closes. */
    public static MemorySegment allocate(Arena arena, long bytes) {
        if (hugePages && CALLS != null && bytes >= MAPPED_MIN_BYTES) {
            MemorySegment mapped = map(arena, bytes);
            if (mapped != null) {
                return mapped;
            }
        }
        return arena.allocate(bytes, 64);
    }

    private static MemorySegment map(Arena arena, long bytes) {
        try {
            MemorySegment at = (MemorySegment) CALLS[0].invokeExact(MemorySegment.NULL, bytes, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
            if (at.address() == -1L) { // MAP_FAILED
                return null;
            }
            int advised = (int) CALLS[1].invokeExact(at, bytes, MADV_HUGEPAGE);
            if (advised != 0) {
                // refused (no transparent huge pages): the mapping works with 4 KiB pages
                assert advised == -1;
            }
            return at.reinterpret(bytes, arena, HostMemory::unmap);
        } catch (Throwable e) {
            return null;
        }
    }

    private static void unmap(MemorySegment s) {
        try {
            int rc = (int) CALLS[2].invokeExact(s, s.byteSize());
            if (rc != 0) {
                throw new IllegalStateException("munmap of a KV block failed");
            }
        } catch (Throwable e) {
            throw new IllegalStateException("munmap of a KV block failed", e);
        }
    }

    private static MethodHandle[] lookup() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            MethodHandle mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            MethodHandle madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            MethodHandle munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            return new MethodHandle[] {mmap, madvise, munmap};
        } catch (RuntimeException e) {
            return null;
        }
    }
}
