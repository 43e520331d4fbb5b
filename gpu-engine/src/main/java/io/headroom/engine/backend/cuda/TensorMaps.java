package io.headroom.engine.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import jcuda.driver.CUdeviceptr;

/**
 * Tensor maps for Hopper's tensor-copy engine (TMA): the 128-byte descriptor (CUtensorMap) that
 * cp.async.bulk.tensor reads to copy a box of a global tensor into shared memory in one
 * instruction. flash_prefill_ws128 copies whole 128-key tiles of a retrieval head's cached keys and
 * values this way. JCuda 12.0 has no binding for cuTensorMapEncodeTiled, so this calls libcuda
 * through the Foreign Function API (as {@link ProgrammaticLaunch} does for cuLaunchKernelEx).
 */
final class TensorMaps {

    /** sizeof(CUtensorMap). */
    static final int BYTES = 128;
    /** The columns of one box: 64 bf16 are the 128 bytes the 128-byte swizzle spans. */
    static final int BOX_COLUMNS = 64;

    private static final int BFLOAT16 = 9; // CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
    private static final int INTERLEAVE_NONE = 0;
    private static final int SWIZZLE_128B = 3;
    private static final int L2_PROMOTION_256B = 3;
    private static final int OOB_FILL_NONE = 0;

    private static final MethodHandle ENCODE_TILED = LibCuda.function("cuTensorMapEncodeTiled",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));

    private TensorMaps() {
    }

    /** Whether cuTensorMapEncodeTiled could be bound. */
    static boolean available() {
        return ENCODE_TILED != null;
    }

    /**
     * The tensor map of {@code rows} rows of {@code columns} bf16 each (row-major, contiguous) at
     * {@code base}, copied in boxes of {@code boxRows} rows × {@link #BOX_COLUMNS} columns with the
     * 128-byte swizzle (row r's 16-byte piece c lands at piece c ^ (r % 8), as WgmmaProducts lays
     * out a tile). The map's bytes, to be passed by value as a kernel argument.
     *
     * @throws IllegalArgumentException where the shape cannot be mapped (columns not a multiple of
     *     64, more than 2^31 rows, a base not 16-byte aligned)
     * @throws CudaException where the driver refuses it, or the function is not bound
     */
    static byte[] bf16Rows(CUdeviceptr base, long rows, int columns, int boxRows) {
        long address = CudaDevice.address(base);
        if (columns % BOX_COLUMNS != 0 || rows < 1 || rows > Integer.MAX_VALUE || boxRows < 1 || boxRows > 256
                || address % 16 != 0) {
            throw new IllegalArgumentException("no tensor map for " + rows + " rows of " + columns
                    + " bf16 in boxes of " + boxRows + " rows at 0x" + Long.toHexString(address));
        }
        if (ENCODE_TILED == null) {
            throw new CudaException("cuTensorMapEncodeTiled is not bound (libcuda.so.1)");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment map = arena.allocate(BYTES, 64);
            MemorySegment dims = arena.allocateFrom(JAVA_LONG, columns, rows); // innermost first
            MemorySegment strides = arena.allocateFrom(JAVA_LONG, 2L * columns); // bytes, of dimension 1
            MemorySegment box = arena.allocateFrom(JAVA_INT, BOX_COLUMNS, boxRows);
            MemorySegment elementStrides = arena.allocateFrom(JAVA_INT, 1, 1);
            int result = (int) ENCODE_TILED.invokeExact(map, BFLOAT16, 2, MemorySegment.ofAddress(address), dims,
                    strides, box, elementStrides, INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_256B, OOB_FILL_NONE);
            if (result != 0) {
                throw new CudaException("cuTensorMapEncodeTiled(" + rows + " × " + columns + " bf16, box " + boxRows
                        + " × " + BOX_COLUMNS + ") failed: CUresult " + result);
            }
            return map.toArray(ValueLayout.JAVA_BYTE);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuTensorMapEncodeTiled could not be called: " + t);
        }
    }
}
