package io.headroom.engine.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Driver functions that JCuda 12.0 does not bind, called through the Foreign Function API on
 * libcuda.so.1 (the library JCuda itself loads): cuLaunchKernelEx ({@link ProgrammaticLaunch}) and
 * cuTensorMapEncodeTiled ({@link TensorMaps}).
 */
final class LibCuda {

    private LibCuda() {
    }

    /**
     * A handle on the named driver function with this C signature, or null where there is none to
     * bind: no libcuda.so.1, a driver without the function, or native access refused. The callers
     * then fall back (plain launches, no tensor maps).
     */
    static MethodHandle function(String name, FunctionDescriptor signature) {
        try {
            Linker linker = Linker.nativeLinker();
            return SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find(name)
                    .map(s -> linker.downcallHandle(s, signature)).orElse(null);
        } catch (IllegalArgumentException | IllegalCallerException | UnsupportedOperationException e) {
            return null;
        }
    }
}
