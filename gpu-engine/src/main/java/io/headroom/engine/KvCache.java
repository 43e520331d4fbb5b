package io.headroom.engine;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import java.lang.foreign.Arena;

/**
 * The KV state of one sequence, wherever the backend keeps it: a {@link SequenceKv} in the Java
 * heap for the CPU backends, a {@code CudaSequence} in device memory for the CUDA backend. Between
 * turns the session cache keeps a cache as its retrieval heads' block ({@link #exportRetrieval}) and
 * its streaming heads' state ({@link #streamingToHost}), and rebuilds it with
 * {@link ForwardModel#fromHost(SequenceKv, RetrievalBlock)}.
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

    /**
     * The streaming heads' state and the length as a {@link KvStateCodec} block, in the element type the
     * cache holds (what the session cache persists with every turn): float32 here.
     */
    default byte[] exportStreaming() {
        return KvStateCodec.export(streamingToHost(), KvStateCodec.Part.STREAMING);
    }

    /**
     * The retrieval heads' state as a block allocated in {@code arena}, in the element type the cache
     * holds (bf16 for a device cache with bf16 KV, float32 for a host cache); not yet sealed.
     */
    RetrievalBlock exportRetrieval(Arena arena);

    /** Releases the memory the cache holds outside the Java heap; it must not be used afterwards. */
    @Override
    void close();
}
