package io.headroom.engine;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.SequenceKv;

/**
 * The KV state of one sequence, wherever the backend keeps it: a {@link SequenceKv} in the Java
 * heap for the CPU backends, a {@code CudaSequence} in device memory for the CUDA backend. Host
 * copies ({@link #toHost}) are what the session cache checksums, parks and spills.
 */
public interface KvCache extends AutoCloseable {

    /** Positions held. */
    int length();

    DuoLayout layout();

    /** Bytes of memory the cache holds where it lives. */
    long bytes();

    /** The whole state as a host cache (this object when it already is one). */
    SequenceKv toHost();

    /**
     * A host cache holding at least the streaming heads' state (what is persisted after every
     * turn); a device cache copies only its small sink and ring buffers.
     */
    SequenceKv streamingToHost();

    /** Releases the memory the cache holds outside the Java heap; it must not be used afterwards. */
    @Override
    void close();
}
