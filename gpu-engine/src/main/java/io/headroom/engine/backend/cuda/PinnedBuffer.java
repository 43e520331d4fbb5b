package io.headroom.engine.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;

/**
 * Page-locked host memory: what asynchronous copies between host and device need (a copy from
 * pageable memory is staged by the driver and blocks). Read and written through a little-endian
 * {@link ByteBuffer} view; the owner must not touch it while a queued copy may still use it.
 */
public final class PinnedBuffer implements AutoCloseable {

    private final CudaDevice device;
    private final Pointer pointer;
    private final ByteBuffer view;
    private boolean closed;

    PinnedBuffer(CudaDevice device, Pointer pointer, long bytes) {
        this.device = device;
        this.pointer = pointer;
        this.view = pointer.getByteBuffer(0, Math.max(bytes, 4)).order(ByteOrder.LITTLE_ENDIAN);
    }

    Pointer pointer() {
        return pointer;
    }

    /** The memory as a little-endian buffer (position 0, limit = size). */
    public ByteBuffer buffer() {
        return view.duplicate().order(ByteOrder.LITTLE_ENDIAN).clear();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            device.freePinned(pointer);
        }
    }
}
