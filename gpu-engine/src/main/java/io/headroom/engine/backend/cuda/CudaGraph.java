package io.headroom.engine.backend.cuda;

import jcuda.driver.CUgraphExec;

/**
 * An instantiated CUDA graph: a recorded sequence of launches replayed with one driver call on the
 * device's stream. Decode steps are replayed this way so their cost is the kernels', not ~10 µs of
 * JNI and driver work per launch.
 */
public final class CudaGraph implements AutoCloseable {

    private final CudaDevice device;
    private CUgraphExec exec;

    CudaGraph(CudaDevice device, CUgraphExec exec) {
        this.device = device;
        this.exec = exec;
    }

    /** Queues one replay on the device's stream. */
    public void launch() {
        if (exec == null) {
            throw new IllegalStateException("the CUDA graph was closed");
        }
        device.launchGraph(exec);
    }

    @Override
    public void close() {
        if (exec != null) {
            device.destroyGraph(exec);
            exec = null;
        }
    }
}
