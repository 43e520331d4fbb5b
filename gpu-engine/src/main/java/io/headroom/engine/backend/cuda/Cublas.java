package io.headroom.engine.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Optional;
import jcuda.driver.CUdeviceptr;

/**
 * cuBLAS's bf16 GEMM for the prefill projections, bound through java.lang.foreign: JCuda 12's
 * cuBLAS binding wants libcublas.so.12, and the device machines carry CUDA 13's libcublas.so.13.
 * Four functions are bound (create, set stream, GemmEx, destroy); the handle runs on the engine's
 * stream, so its GEMMs are ordered with the engine's kernels. {@link #open} answers empty where no
 * libcublas loads (the engine then keeps its own tensor-core GEMM, gemm.cu).
 */
final class Cublas implements AutoCloseable {

    // cublas_api.h / library_types.h
    private static final int OP_N = 0;
    private static final int OP_T = 1;
    private static final int CUDA_R_32F = 0;
    private static final int CUDA_R_16BF = 14;
    private static final int COMPUTE_32F = 68;
    private static final int GEMM_DEFAULT = -1;

    /** Where libcublas is looked for: the loader's path first, then the CUDA toolkit's usual places. */
    private static final List<String> LIBRARIES = List.of("libcublas.so.13", "libcublas.so.12",
            "/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12",
            "/usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.13");

    private final String library;
    private final Arena arena = Arena.ofShared();
    private final MethodHandle gemmEx;
    private final MethodHandle destroy;
    private final MemorySegment handle;
    private final MemorySegment one;
    private final MemorySegment zero;

    private Cublas(String library, SymbolLookup lib, long stream) {
        this.library = library;
        Linker linker = Linker.nativeLinker();
        MethodHandle create = linker.downcallHandle(find(lib, "cublasCreate_v2"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS));
        MethodHandle setStream = linker.downcallHandle(find(lib, "cublasSetStream_v2"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        this.gemmEx = linker.downcallHandle(find(lib, "cublasGemmEx"), FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        this.destroy = linker.downcallHandle(find(lib, "cublasDestroy_v2"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS));
        MemorySegment out = arena.allocate(ADDRESS);
        try {
            check((int) create.invokeExact(out), "cublasCreate");
            this.handle = out.get(ADDRESS, 0);
            check((int) setStream.invokeExact(handle, MemorySegment.ofAddress(stream)), "cublasSetStream");
        } catch (CudaException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new CudaException("cuBLAS (" + library + ") could not be initialised: " + t);
        }
        this.one = arena.allocate(JAVA_FLOAT);
        one.set(JAVA_FLOAT, 0, 1f);
        this.zero = arena.allocate(JAVA_FLOAT);
        zero.set(JAVA_FLOAT, 0, 0f);
    }

    /** cuBLAS on this device's stream, or empty where no libcublas loads on this host. */
    static Optional<Cublas> open(CudaDevice dev) {
        for (String name : LIBRARIES) {
            SymbolLookup lib;
            try {
                lib = SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException notHere) {
                continue;
            }
            return Optional.of(new Cublas(name, lib, dev.streamHandle()));
        }
        return Optional.empty();
    }

    String library() {
        return library;
    }

    /**
     * Queues out (tokens, rows) f32 = in (tokens, cols) bf16 · wᵀ (w: rows × cols bf16, row-major), float32
     * accumulation. In cuBLAS's column-major terms: C (rows × tokens) = op_T(W as cols × rows) · X (cols × tokens).
     */
    void gemm(CUdeviceptr w, CUdeviceptr inBf16, CUdeviceptr out, int rows, int cols, int tokens) {
        gemm(w, inBf16, out, CUDA_R_32F, zero, rows, cols, tokens);
    }

    /** {@link #gemm} with out in bf16: the float32 sums rounded to nearest even by cuBLAS's epilogue. */
    void gemmBf16Out(CUdeviceptr w, CUdeviceptr inBf16, CUdeviceptr outBf16, int rows, int cols, int tokens) {
        gemm(w, inBf16, outBf16, CUDA_R_16BF, zero, rows, cols, tokens);
    }

    /** {@link #gemm} added into out (f32, beta = 1): out += in · wᵀ. */
    void gemmAccumulate(CUdeviceptr w, CUdeviceptr inBf16, CUdeviceptr out, int rows, int cols, int tokens) {
        gemm(w, inBf16, out, CUDA_R_32F, one, rows, cols, tokens);
    }

    private void gemm(CUdeviceptr w, CUdeviceptr inBf16, CUdeviceptr out, int outType, MemorySegment beta, int rows,
            int cols, int tokens) {
        int status;
        try {
            status = (int) gemmEx.invokeExact(handle, OP_T, OP_N, rows, tokens, cols, one,
                    MemorySegment.ofAddress(CudaDevice.address(w)), CUDA_R_16BF, cols,
                    MemorySegment.ofAddress(CudaDevice.address(inBf16)), CUDA_R_16BF, cols, beta,
                    MemorySegment.ofAddress(CudaDevice.address(out)), outType, rows, COMPUTE_32F, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new CudaException("cublasGemmEx failed: " + t);
        }
        check(status, "cublasGemmEx(" + rows + " x " + cols + ", " + tokens + " tokens)");
    }

    @Override
    public void close() {
        try {
            int status = (int) destroy.invokeExact(handle);
            check(status, "cublasDestroy");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cublasDestroy failed: " + t);
        } finally {
            arena.close();
        }
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new CudaException("libcublas has no " + name));
    }

    private static void check(int status, String what) {
        if (status != 0) {
            throw new CudaException(what + ": cuBLAS status " + status);
        }
    }
}
