package io.headroom.engine.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import jcuda.NativePointerObject;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Kernel launches with programmatic dependent launch (compute capability 9.0 and up): the driver
 * may start the kernel while the kernel queued before it on the stream is still running, and the
 * kernel waits for that one's results itself (PTX griddepcontrol.wait, common.cuh). Launched so, a
 * decode step's kernels stream their first weights while the kernel before them drains. JCuda 12.0
 * has no binding for cuLaunchKernelEx, so this calls libcuda through the Foreign Function API with
 * the handles JCuda holds. Captured into a CUDA graph, such launches become programmatic edges.
 */
final class ProgrammaticLaunch {

    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuda.h). */
    private static final int PROGRAMMATIC_STREAM_SERIALIZATION = 6;
    /** sizeof(CUlaunchAttribute): the id, padding to 8 bytes, a 64-byte value union. */
    private static final long ATTRIBUTE_BYTES = 72;
    /** sizeof(CUlaunchConfig): 7 unsigned ints, the stream at 32, the attributes at 40, their count at 48. */
    private static final long CONFIG_BYTES = 56;

    private static final MethodHandle LAUNCH_KERNEL_EX = LibCuda.function("cuLaunchKernelEx",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));

    private ProgrammaticLaunch() {
    }

    /** Whether cuLaunchKernelEx could be bound. */
    static boolean available() {
        return LAUNCH_KERNEL_EX != null;
    }

    /**
     * Queues {@code f} on {@code stream} (the current context's) with the programmatic-serialization
     * attribute; arguments as {@link CudaDevice#launchAsync}'s. Returns the CUresult.
     */
    static int launch(CUfunction f, CUstream stream, int gridX, int gridY, int block, int sharedBytes,
            Object[] args) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attribute = arena.allocate(ATTRIBUTE_BYTES, 8);
            attribute.set(JAVA_INT, 0, PROGRAMMATIC_STREAM_SERIALIZATION);
            attribute.set(JAVA_INT, 8, 1); // programmaticStreamSerializationAllowed
            MemorySegment config = arena.allocate(CONFIG_BYTES, 8);
            config.set(JAVA_INT, 0, gridX);
            config.set(JAVA_INT, 4, gridY);
            config.set(JAVA_INT, 8, 1);
            config.set(JAVA_INT, 12, block);
            config.set(JAVA_INT, 16, 1);
            config.set(JAVA_INT, 20, 1);
            config.set(JAVA_INT, 24, sharedBytes);
            config.set(JAVA_LONG, 32, Handle.of(stream));
            config.set(ADDRESS, 40, attribute);
            config.set(JAVA_INT, 48, 1);
            // kernelParams: one pointer per argument to a copy of its value (the driver copies them at the call)
            MemorySegment params = arena.allocate(ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                MemorySegment value = arena.allocate(8, 8);
                switch (args[i]) {
                    case CUdeviceptr p -> value.set(JAVA_LONG, 0, DeviceAddress.of(p));
                    case Integer n -> value.set(JAVA_INT, 0, n);
                    case Float x -> value.set(JAVA_FLOAT, 0, x);
                    case Long x -> value.set(JAVA_LONG, 0, x);
                    case null -> value.set(JAVA_LONG, 0, 0L);
                    default -> throw new IllegalArgumentException("unsupported kernel argument " + args[i]);
                }
                params.setAtIndex(ADDRESS, i, value);
            }
            return (int) LAUNCH_KERNEL_EX.invokeExact(config, MemorySegment.ofAddress(Handle.of(f)), params,
                    MemorySegment.NULL);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuLaunchKernelEx could not be called: " + t);
        }
    }

    /** The native handle JCuda holds for a function or stream (its pointer is only visible to subclasses). */
    private static final class Handle extends NativePointerObject {
        private Handle(NativePointerObject o) {
            super(o);
        }

        static long of(NativePointerObject o) {
            return new Handle(o).getNativePointer();
        }
    }

    /** A device pointer's address, its byte offset included. */
    private static final class DeviceAddress extends CUdeviceptr {
        private DeviceAddress(CUdeviceptr p) {
            super(p);
        }

        static long of(CUdeviceptr p) {
            DeviceAddress a = new DeviceAddress(p);
            return a.getNativePointer() + a.getByteOffset();
        }
    }
}
