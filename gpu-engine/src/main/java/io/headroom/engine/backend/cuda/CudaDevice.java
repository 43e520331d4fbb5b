package io.headroom.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import io.headroom.engine.tensor.Bf16Tensor;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * One CUDA device through JCuda's driver API: the primary context, Headroom's kernels loaded from
 * the fatbins the build put on the classpath, memory and launches. Every driver call is checked;
 * a failure becomes a {@link CudaException} naming the call (and for launches the kernel and its
 * grid and block), never a silent fallback. Calls may come from any thread: each makes the
 * context current first.
 */
public final class CudaDevice implements AutoCloseable {

    static final String KERNEL_DIR = "/io/headroom/engine/backend/cuda/";
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final CUdevice device;
    private final CUcontext context;
    private final String name;
    private final Map<String, CUfunction> functions = new HashMap<>();
    /** The stream every launch and asynchronous copy goes to (blocking: ordered with synchronous copies). */
    private final CUstream stream = new CUstream();
    private final int multiprocessors;
    private final int maxSharedOptin;
    private final int computeCapability;
    /** When non-null, every launch is bracketed by events: (kernel, start, end), resolved by {@link #profile()}. */
    private java.util.List<Object[]> profiled;

    private CudaDevice(CUdevice device, CUcontext context, String name) {
        this.device = device;
        this.context = context;
        this.name = name;
        check(cuStreamCreate(stream, 0), "cuStreamCreate");
        int[] sms = new int[1];
        check(cuDeviceGetAttribute(sms, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                "cuDeviceGetAttribute(multiprocessors)");
        this.multiprocessors = sms[0];
        int[] optin = new int[1];
        check(cuDeviceGetAttribute(optin, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                device), "cuDeviceGetAttribute(max shared memory per block, opt-in)");
        this.maxSharedOptin = optin[0];
        int[] major = new int[1];
        int[] minor = new int[1];
        check(cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                "cuDeviceGetAttribute(compute capability major)");
        check(cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                "cuDeviceGetAttribute(compute capability minor)");
        this.computeCapability = 10 * major[0] + minor[0];
    }

    /** Why the CUDA backend cannot run here, or null when it can. */
    public static String unavailableReason() {
        if (CudaDevice.class.getResource(KERNEL_DIR + "kernels.index") == null) {
            return "this build has no CUDA kernels (nvcc was not found when it was built)";
        }
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int r = cuInit(0);
            if (r != CUresult.CUDA_SUCCESS) {
                return "no usable CUDA driver (cuInit: " + CUresult.stringFor(r) + ")";
            }
            int[] count = new int[1];
            r = cuDeviceGetCount(count);
            if (r != CUresult.CUDA_SUCCESS || count[0] == 0) {
                return "no CUDA device found";
            }
            return null;
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            String first = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
            return "the CUDA driver (libcuda.so.1) or JCuda's native library could not be loaded (" + first + ")";
        }
    }

    /** Opens device {@code ordinal}; fails with the reason when CUDA cannot run here. */
    public static CudaDevice open(int ordinal) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new CudaException("the cuda backend is unavailable: " + reason);
        }
        CUdevice dev = new CUdevice();
        check(cuDeviceGet(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUcontext ctx = new CUcontext();
        check(cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        byte[] nameBytes = new byte[256];
        check(cuDeviceGetName(nameBytes, nameBytes.length, dev), "cuDeviceGetName");
        String name = new String(nameBytes, StandardCharsets.US_ASCII).trim().replace("\0", "");
        CudaDevice d = new CudaDevice(dev, ctx, name);
        d.loadKernels();
        return d;
    }

    private void loadKernels() {
        String index = resourceText(KERNEL_DIR + "kernels.index");
        for (String file : index.split("\\s+")) {
            if (file.isBlank()) {
                continue;
            }
            byte[] image = resourceBytes(KERNEL_DIR + file);
            CUmodule module = new CUmodule();
            // cuModuleLoadData, not cuModuleLoadFatBinary: the latter loads but its functions cannot be found
            check(cuModuleLoadData(module, image), "cuModuleLoadData(" + file + ")");
            for (String kernel : kernelNames(file)) {
                CUfunction f = new CUfunction();
                check(cuModuleGetFunction(f, module, kernel), "cuModuleGetFunction(" + kernel + ")");
                if (kernel.startsWith("duo_") || kernel.startsWith("flash_prefill")) {
                    // beyond the default 48 KiB: duo_attention needs up to 96 KiB (head_dim 256),
                    // duo_decode ~105 KiB, flash_prefill up to ~125 KiB and flash_prefill_ws128 ~167 KiB
                    // (head_dim 128). The attribute only permits: each launch asks for its own size
                    // (flashFits checks the prefill kernels' sizes against the same limit)
                    check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                            maxSharedOptin), "cuFuncSetAttribute(" + kernel + ")");
                }
                if (kernel.startsWith("flash_prefill_wgmma") || kernel.startsWith("flash_prefill_ws")) {
                    // the unified L1/shared array as shared memory: three blocks per SM (its tiles bypass
                    // L1); flash_prefill_ws128's one block with its K and V rings
                    check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                            100), "cuFuncSetAttribute(" + kernel + ", carveout)");
                }
                functions.put(kernel, f);
            }
        }
    }

    /**
     * The raw handle of this device's stream, for libraries bound through java.lang.foreign (cuBLAS)
     * whose work must be ordered with the engine's kernels.
     */
    long streamHandle() {
        return nativeAddress(stream, 0);
    }

    /** The device address a JCuda device pointer stands for (its base plus its byte offset). */
    static long address(CUdeviceptr p) {
        try {
            return nativeAddress(p, (long) POINTER_OFFSET.invoke(p));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read a JCuda pointer's offset", e);
        }
    }

    private static long nativeAddress(jcuda.NativePointerObject p, long offset) {
        try {
            return (long) NATIVE_POINTER.invoke(p) + offset;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read a JCuda handle", e);
        }
    }

    // JCuda keeps handles and device addresses in protected accessors: read them once by reflection
    private static final java.lang.reflect.Method NATIVE_POINTER;
    private static final java.lang.reflect.Method POINTER_OFFSET;

    static {
        try {
            NATIVE_POINTER = jcuda.NativePointerObject.class.getDeclaredMethod("getNativePointer");
            NATIVE_POINTER.setAccessible(true);
            POINTER_OFFSET = jcuda.Pointer.class.getDeclaredMethod("getByteOffset");
            POINTER_OFFSET.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The extern "C" kernels each file defines (kept in step with gpu-engine/src/main/cuda). */
    private static String[] kernelNames(String file) {
        return switch (file) {
            case "elementwise.fatbin" -> new String[] {"embedding_bf16", "silu_gate_f32", "silu_gate_bf16",
                "silu_gate_pairs_bf16", "add_f32", "add_bias_f32", "rope_f32", "qkv_bias_rope_f32", "fill_random_bf16",
                "fill_random_f32", "f32_to_bf16", "scatter_i32"};
            case "rmsnorm.fatbin" -> new String[] {"rmsnorm_f32", "rmsnorm_residual_f32", "rmsnorm_bf16",
                "rmsnorm_residual_bf16"};
            case "duo_attention.fatbin" -> new String[] {"duo_attention_f32kv", "duo_attention_bf16kv",
                "attention_combine", "attention_combine_rows", "kv_append_f32kv", "kv_append_bf16kv",
                "duo_decode_f32kv", "duo_decode_bf16kv", "qkv_rope_append_f32kv", "qkv_rope_append_bf16kv"};
            case "sampling.fatbin" -> new String[] {"argmax_f32"};
            case "flash_prefill.fatbin" -> new String[] {"flash_prefill_f32kv", "flash_prefill_bf16kv",
                "flash_prefill_mma_f32kv", "flash_prefill_mma_bf16kv", "duo_decode_mma_bf16kv"};
            case "flash_prefill_wgmma.fatbin" -> new String[] {"flash_prefill_wgmma_f32kv",
                "flash_prefill_wgmma_bf16kv", "flash_prefill_ws128_f32kv", "flash_prefill_ws128_bf16kv"};
            case "matmul.fatbin" -> new String[] {"matmul_bf16", "matmul_bf16_1t", "matmul_bf16_1t_norm",
                "matmul_bf16_1t_norm_swiglu", "matmul_bf16_1t_residual"};
            case "gemm.fatbin" -> new String[] {"gemm_bf16_tc"};
            case "attention.fatbin" -> new String[] {"attention_f32"};
            default -> new String[0];
        };
    }

    public String name() {
        return name;
    }

    /** Streaming multiprocessors, for sizing grids (split-K attention). */
    public int multiprocessors() {
        return multiprocessors;
    }

    /** The most dynamic shared memory a kernel may opt in to, in bytes. */
    public int maxSharedMemoryOptin() {
        return maxSharedOptin;
    }

    /** Compute capability as 10 · major + minor (90: Hopper, whose sm_90a code the wgmma kernels are). */
    public int computeCapability() {
        return computeCapability;
    }

    /** Free and total device memory in bytes, as the driver reports them now. */
    public long[] memoryInfo() {
        makeCurrent();
        long[] free = new long[1];
        long[] total = new long[1];
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    void makeCurrent() {
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /**
     * Starts recording the device time of every kernel launched from now on (events around each
     * launch; not while a graph is being captured). For benchmarks: the events cost a little.
     */
    public void startProfile() {
        profiled = new java.util.ArrayList<>();
    }

    /**
     * Runs {@code work} (launches queued by a library, such as a cuBLAS GEMM) as one profiled entry
     * named {@code name} while a profile is recording; otherwise just runs it.
     */
    public void timed(String name, Runnable work) {
        launchProfiled(name, work);
    }

    /** Stops recording; returns per kernel name {total milliseconds, launches}, slowest first. */
    public java.util.Map<String, double[]> profile() {
        synchronize("profiled kernels");
        java.util.Map<String, double[]> out = new java.util.HashMap<>();
        for (Object[] e : profiled) {
            float[] ms = new float[1];
            check(cuEventElapsedTime(ms, (CUevent) e[1], (CUevent) e[2]), "cuEventElapsedTime");
            double[] acc = out.computeIfAbsent((String) e[0], k -> new double[2]);
            acc[0] += ms[0];
            acc[1] += 1;
            check(cuEventDestroy((CUevent) e[1]), "cuEventDestroy");
            check(cuEventDestroy((CUevent) e[2]), "cuEventDestroy");
        }
        profiled = null;
        java.util.Map<String, double[]> sorted = new java.util.LinkedHashMap<>();
        out.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /**
     * A point in the device's stream, for reusing pinned host memory that queued copies read: record
     * it after queueing the copy, and await it before writing the memory again. The host then waits
     * only for that copy (and what was queued before it), not for the whole stream.
     */
    public final class Fence implements AutoCloseable {
        private final CUevent event = new CUevent();
        private boolean recorded;

        private Fence() {
            makeCurrent();
            check(cuEventCreate(event, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        }

        /** Marks the end of what the stream has queued so far. */
        public void record() {
            makeCurrent();
            check(cuEventRecord(event, stream), "cuEventRecord");
            recorded = true;
        }

        /** Waits until the stream has run everything queued before the last record (at once if none). */
        public void await(String what) {
            if (recorded) {
                makeCurrent();
                check(cuEventSynchronize(event), "execution of " + what);
            }
        }

        @Override
        public void close() {
            makeCurrent();
            check(cuEventDestroy(event), "cuEventDestroy");
        }
    }

    /** A new fence on this device's stream (not yet recorded). */
    public Fence fence() {
        return new Fence();
    }

    private CUevent recordEvent() {
        CUevent e = new CUevent();
        check(cuEventCreate(e, 0), "cuEventCreate");
        check(cuEventRecord(e, stream), "cuEventRecord");
        return e;
    }

    private void launchProfiled(String kernel, Runnable launch) {
        if (profiled == null) {
            launch.run();
            return;
        }
        CUevent start = recordEvent();
        launch.run();
        profiled.add(new Object[] {kernel, start, recordEvent()});
    }

    /** Launches {@code kernel} and waits for it; errors name the kernel and the launch shape. */
    public void launch(String kernel, int grid, int block, int sharedBytes, Object... args) {
        launchAsync(kernel, grid, block, sharedBytes, args);
        synchronize(kernel + "<<<" + grid + ", " + block + ", " + sharedBytes + ">>>");
    }

    /**
     * Waits for queued work; {@code what} names it in an error. Every launch and asynchronous copy
     * goes to the device's stream (synchronous copies complete before they return), so waiting for
     * the stream is enough; a context-wide synchronisation per decode step would be a second wait.
     */
    public void synchronize(String what) {
        makeCurrent();
        check(cuStreamSynchronize(stream), "execution of " + what);
    }

    /**
     * Records the launches {@code work} queues into a CUDA graph instead of running them. Launch
     * arguments are frozen into the graph: whatever changes between replays (token ids, positions,
     * rotary tables) must be read by the kernels from device memory.
     */
    public CudaGraph capture(Runnable work) {
        makeCurrent();
        check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
        CUgraph graph = new CUgraph();
        try {
            work.run();
        } finally {
            check(cuStreamEndCapture(stream, graph), "cuStreamEndCapture");
        }
        CUgraphExec exec = new CUgraphExec();
        try {
            check(cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
        } finally {
            check(cuGraphDestroy(graph), "cuGraphDestroy");
        }
        return new CudaGraph(this, exec);
    }

    void launchGraph(CUgraphExec exec) {
        makeCurrent();
        check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
    }

    void destroyGraph(CUgraphExec exec) {
        makeCurrent();
        check(cuGraphExecDestroy(exec), "cuGraphExecDestroy");
    }

    /** Page-locked host memory of {@code bytes}, the source or target of asynchronous copies. */
    public PinnedBuffer allocPinned(long bytes) {
        makeCurrent();
        Pointer p = new Pointer();
        check(cuMemAllocHost(p, Math.max(bytes, 4)), "cuMemAllocHost(" + bytes + " bytes)");
        return new PinnedBuffer(this, p, bytes);
    }

    void freePinned(Pointer p) {
        makeCurrent();
        check(cuMemFreeHost(p), "cuMemFreeHost");
    }

    /** Queues a host-to-device copy from pinned memory on the device's stream. */
    public void copyAsync(CUdeviceptr dst, PinnedBuffer src, long srcOffset, long bytes) {
        makeCurrent();
        check(cuMemcpyHtoDAsync(dst, src.pointer().withByteOffset(srcOffset), bytes, stream),
                "cuMemcpyHtoDAsync(" + bytes + " bytes)");
    }

    /** Queues a device-to-host copy into pinned memory on the device's stream. */
    public void copyAsync(PinnedBuffer dst, long dstOffset, CUdeviceptr src, long bytes) {
        makeCurrent();
        check(cuMemcpyDtoHAsync(dst.pointer().withByteOffset(dstOffset), src, bytes, stream),
                "cuMemcpyDtoHAsync(" + bytes + " bytes)");
    }

    /** Queues a device-to-device copy on the device's stream. */
    public void copyAsync(CUdeviceptr dst, CUdeviceptr src, long bytes) {
        makeCurrent();
        check(cuMemcpyDtoDAsync(dst, src, bytes, stream), "cuMemcpyDtoDAsync(" + bytes + " bytes)");
    }

    /**
     * Queues {@code kernel} on the default stream without waiting; launch errors are reported here,
     * execution errors at the next {@link #synchronize}.
     */
    public void launchAsync(String kernel, int grid, int block, int sharedBytes, Object... args) {
        makeCurrent();
        CUfunction f = function(kernel);
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = kernelArgument(args[i]);
        }
        String shape = kernel + "<<<" + grid + ", " + block + ", " + sharedBytes + ">>>";
        launchProfiled(kernel, () -> check(cuLaunchKernel(f, grid, 1, 1, block, 1, 1, sharedBytes, stream,
                Pointer.to(params), null), "launch " + shape));
    }

    /** As {@link #launchAsync(String, int, int, int, Object...)}, with a three-dimensional grid. */
    public void launchGrid(String kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes,
            Object... args) {
        makeCurrent();
        CUfunction f = function(kernel);
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = kernelArgument(args[i]);
        }
        String shape = kernel + "<<<(" + gridX + ", " + gridY + ", " + gridZ + "), " + block + ", " + sharedBytes
                + ">>>";
        launchProfiled(kernel, () -> check(cuLaunchKernel(f, gridX, gridY, gridZ, block, 1, 1, sharedBytes, stream,
                Pointer.to(params), null), "launch " + shape));
    }

    /**
     * As {@link #launchGrid} (a two-dimensional grid), with programmatic dependent launch: the kernel
     * may start before the kernel queued before it has finished, so it must wait (griddepcontrol.wait,
     * common.cuh's wait_prior_grid) before it reads or writes anything that kernel or an earlier one
     * reads or writes. Where cuLaunchKernelEx cannot be bound, or below compute capability 9.0, a plain launch.
     */
    public void launchDependent(String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
        if (!programmaticLaunch()) {
            launchGrid(kernel, gridX, gridY, 1, block, sharedBytes, args);
            return;
        }
        makeCurrent();
        CUfunction f = function(kernel);
        String shape = kernel + "<<<(" + gridX + ", " + gridY + "), " + block + ", " + sharedBytes
                + ">>> (programmatic)";
        launchProfiled(kernel, () -> check(ProgrammaticLaunch.launch(f, stream, gridX, gridY, block, sharedBytes,
                args), "launch " + shape));
    }

    /** Whether {@link #launchDependent} launches programmatically here (else plainly). */
    public boolean programmaticLaunch() {
        return computeCapability >= 90 && ProgrammaticLaunch.available();
    }

    private CUfunction function(String kernel) {
        CUfunction f = functions.get(kernel);
        if (f == null) {
            throw new CudaException("kernel " + kernel + " is not in the loaded fatbins");
        }
        return f;
    }

    private static Pointer kernelArgument(Object arg) {
        return switch (arg) {
            case CUdeviceptr p -> Pointer.to(p);
            case Integer n -> Pointer.to(new int[] {n});
            case Float x -> Pointer.to(new float[] {x});
            case Long x -> Pointer.to(new long[] {x});
            case byte[] b -> Pointer.to(b); // a structure by value (a tensor map)
            case null -> Pointer.to(new CUdeviceptr());
            default -> throw new IllegalArgumentException("unsupported kernel argument " + arg);
        };
    }

    public CUdeviceptr alloc(long bytes) {
        makeCurrent();
        CUdeviceptr p = new CUdeviceptr();
        check(cuMemAlloc(p, Math.max(bytes, 4)), "cuMemAlloc(" + bytes + " bytes)");
        return p;
    }

    public void free(CUdeviceptr p) {
        makeCurrent();
        check(cuMemFree(p), "cuMemFree");
    }

    public CUdeviceptr upload(float[] host, int count) {
        CUdeviceptr p = alloc(4L * count);
        check(cuMemcpyHtoD(p, Pointer.to(host), 4L * count), "cuMemcpyHtoD(" + 4L * count + " bytes)");
        return p;
    }

    public CUdeviceptr upload(int[] host) {
        CUdeviceptr p = alloc(4L * host.length);
        check(cuMemcpyHtoD(p, Pointer.to(host), 4L * host.length), "cuMemcpyHtoD(" + 4L * host.length + " bytes)");
        return p;
    }

    /** Copies {@code count} ints of {@code host} from {@code offset} to {@code dst} (synchronous). */
    public void write(CUdeviceptr dst, int[] host, int offset, int count) {
        makeCurrent();
        check(cuMemcpyHtoD(dst, Pointer.to(host).withByteOffset(4L * offset), 4L * count),
                "cuMemcpyHtoD(" + 4L * count + " bytes)");
    }

    public CUdeviceptr upload(short[] host) {
        CUdeviceptr p = alloc(2L * host.length);
        check(cuMemcpyHtoD(p, Pointer.to(host), 2L * host.length), "cuMemcpyHtoD(" + 2L * host.length + " bytes)");
        return p;
    }

    /** Uploads a weight as bf16: bf16 storage as is, f16 and f32 rounded to nearest even. */
    public CUdeviceptr uploadBf16(WeightTensor t) {
        return upload(bf16(t));
    }

    /** Uploads weights as bf16 one after another into one allocation (stacked matrices). */
    public CUdeviceptr uploadBf16(WeightTensor... parts) {
        long total = 0;
        for (WeightTensor t : parts) {
            total += t.size();
        }
        CUdeviceptr p = alloc(2 * total);
        long at = 0;
        try {
            for (WeightTensor t : parts) {
                short[] b = bf16(t);
                check(cuMemcpyHtoD(p.withByteOffset(2 * at), Pointer.to(b), 2L * b.length),
                        "cuMemcpyHtoD(" + 2L * b.length + " bytes)");
                at += b.length;
            }
        } catch (RuntimeException e) {
            free(p);
            throw e;
        }
        return p;
    }

    private static short[] bf16(WeightTensor t) {
        int n = Math.toIntExact(t.size());
        short[] bf16 = new short[n];
        if (t instanceof Bf16Tensor b) {
            MemorySegment.copy(b.segment(), SHORT_LE, 0, bf16, 0, n);
        } else {
            for (int i = 0; i < n; i++) {
                bf16[i] = Bf16Tensor.fromFloat(t.get(i));
            }
        }
        return bf16;
    }

    public void download(CUdeviceptr p, short[] host) {
        makeCurrent();
        check(cuMemcpyDtoH(Pointer.to(host), p, 2L * host.length), "cuMemcpyDtoH(" + 2L * host.length + " bytes)");
    }

    public void download(CUdeviceptr p, int[] host) {
        makeCurrent();
        check(cuMemcpyDtoH(Pointer.to(host), p, 4L * host.length), "cuMemcpyDtoH(" + 4L * host.length + " bytes)");
    }

    public void download(CUdeviceptr p, float[] host, int count) {
        makeCurrent();
        check(cuMemcpyDtoH(Pointer.to(host), p, 4L * count), "cuMemcpyDtoH(" + 4L * count + " bytes)");
    }

    /**
     * Device-to-device copy bandwidth, counting bytes read plus bytes written (best of
     * {@code repeats} copies of {@code bytes}), the bound a memory-bound kernel works against.
     */
    public double copyBandwidth(long bytes, int repeats) {
        CUdeviceptr a = alloc(bytes);
        CUdeviceptr b = alloc(bytes);
        try {
            double best = 0;
            for (int r = 0; r < repeats + 1; r++) {
                long t0 = System.nanoTime();
                check(jcuda.driver.JCudaDriver.cuMemcpyDtoD(b, a, bytes), "cuMemcpyDtoD(" + bytes + " bytes)");
                check(cuCtxSynchronize(), "cuMemcpyDtoD");
                double s = (System.nanoTime() - t0) / 1e9;
                if (r > 0) {
                    best = Math.max(best, 2.0 * bytes / s);
                }
            }
            return best;
        } finally {
            free(a);
            free(b);
        }
    }

    static void check(int result, String what) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException("CUDA " + what + " failed: " + CUresult.stringFor(result));
        }
    }

    private static byte[] resourceBytes(String path) {
        try (InputStream in = CudaDevice.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new CudaException("kernel image " + path + " is missing from the classpath");
            }
            byte[] data = in.readAllBytes();
            // a trailing NUL: cuModuleLoadData reads PTX images as C strings
            return java.util.Arrays.copyOf(data, data.length + 1);
        } catch (IOException e) {
            throw new CudaException("cannot read kernel image " + path, e);
        }
    }

    private static String resourceText(String path) {
        return new String(resourceBytes(path), StandardCharsets.UTF_8).replace("\0", "");
    }

    @Override
    public void close() {
        makeCurrent();
        check(cuStreamDestroy(stream), "cuStreamDestroy");
        check(cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
    }
}
