package io.headroom.engine.backend.cuda;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.model.ModelConfig;
import java.util.Locale;

/**
 * What a {@link CudaLlamaModel} will allocate on the device, computed before anything is: bf16
 * weights (norms and biases in f32), activations for the largest chunk, the split-K attention
 * workspace, the retrieval-head page pool (every retrieval head of every resident sequence at full
 * capacity) and the streaming heads' sink + ring buffers. {@link #check} refuses a configuration
 * that does not fit the free memory, naming the parts.
 */
public record DeviceMemoryPlan(long weights, long activations, long workspace, long retrievalKv, long streamingKv,
        int pages) {

    /** Memory left to the driver, the allocator's rounding and other users of the card. */
    public static final long RESERVE = 512L << 20;

    public static DeviceMemoryPlan of(ModelConfig c, CudaLlamaModel.Options o) {
        long bf16Params = c.parameterCount() - (long) c.numLayers() * 2 * c.hiddenSize() - c.hiddenSize();
        long f32 = ((long) c.numLayers() * 2 + 1) * c.hiddenSize();
        if (c.qkvBias()) {
            f32 += (long) c.numLayers() * (c.qDim() + 2L * c.kvDim());
        }
        if (c.outputBias()) {
            f32 += (long) c.numLayers() * c.hiddenSize();
        }
        long weights = 2 * bf16Params + 4 * f32;
        long n = o.maxChunk();
        long activations = 4 * (n * (3L * c.hiddenSize() + 2L * c.qDim() + 2L * c.kvDim()
                + 2L * c.intermediateSize()) + c.vocabSize()) + CudaLlamaModel.stepBytes(c, o.maxChunk())
                + (o.cublas() && o.tensorCores() ? CudaLlamaModel.bf16InBytes(c, o.maxChunk()) : 0);
        long workspace = 4L * CudaLlamaModel.workspaceRows(c, o.maxChunk()) * (c.headDim() + 2);
        DuoLayout layout = o.layout();
        int pagesPerHead = (o.capacity() + o.pageTokens() - 1) / o.pageTokens();
        long pages = (long) o.sequences() * layout.retrievalCount() * pagesPerHead;
        if (pages > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a KV pool of " + pages + " pages is too large");
        }
        long pageBytes = 2L * o.pageTokens() * c.headDim() * o.kvType().bytes();
        long slots = layout.sink() + layout.recent();
        long streaming = (long) o.sequences() * c.numLayers() * c.numKvHeads() * slots * c.headDim() * 2
                * o.kvType().bytes();
        return new DeviceMemoryPlan(weights, activations, workspace, pages * pageBytes, streaming, (int) pages);
    }

    public long total() {
        return weights + activations + workspace + retrievalKv + streamingKv;
    }

    /** Throws when {@link #total()} plus {@link #RESERVE} exceeds {@code freeBytes}. */
    public void check(long freeBytes, String deviceName) {
        if (total() + RESERVE > freeBytes) {
            throw new CudaException(String.format(Locale.ROOT, "the model does not fit on %s: it needs %s (%s) "
                    + "plus a %s reserve, and %s is free; lower the context capacity, the resident sequences or "
                    + "the retrieval-head share, or use bf16 KV", deviceName, gib(total()), this, gib(RESERVE),
                    gib(freeBytes)));
        }
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }

    @Override
    public String toString() {
        return "weights " + gib(weights) + ", activations " + gib(activations) + ", attention workspace "
                + gib(workspace) + ", retrieval KV " + gib(retrievalKv) + " (" + pages + " pages), streaming KV "
                + gib(streamingKv);
    }
}
