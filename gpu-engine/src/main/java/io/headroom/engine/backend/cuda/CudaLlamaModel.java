package io.headroom.engine.backend.cuda;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.tensor.WeightTensor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * The Llama forward pass with everything resident on the device: bf16 weights, float32
 * activations and the DuoAttention KV cache: retrieval heads' keys and values in pages of a pool
 * shared by the resident sequences ({@link CudaSequence}), streaming heads' in sink + ring buffers.
 *
 * <p>Per chunk the host writes one small block (first position, token ids, rotary tables) into a
 * pinned buffer, copies it to the device and queues the kernels without waiting between them; the
 * kernels read the position from device memory, so a decode step (one token) is captured once per
 * sequence as a CUDA graph and replayed. The last position's argmax is computed on the device;
 * the logits are copied back only when asked for. The memory plan ({@link DeviceMemoryPlan}) is
 * checked before anything is allocated.
 */
public final class CudaLlamaModel implements AutoCloseable {

    private static final int MATMUL_TOKENS = 8;
    private static final int ATT_ROWS = 16;
    private static final int MAX_SPLITS = 1024;
    /** Keys one split-K share of decode attention covers, at least (rounded to powers of two shares). */
    private static final int KEYS_PER_SPLIT = 128;
    /**
     * The same for the decode-specialised kernel on CUDA cores (duo_decode), whose per-block cost (q
     * staging, filling its copy pipeline, the warps' merge) wants more keys per block. (The first form
     * of duo_decode_mma measured 512 faster than 128 at 128K on the H100.)
     */
    private static final int DECODE_KERNEL_KEYS_PER_SPLIT = 1024;
    /**
     * The same for duo_decode_mma: 256 keys, four tiles per warp, before {@link #waveSplits} caps the
     * count at one wave of the card (from about 8K keys on for the 8B geometry on the H100).
     */
    private static final int DECODE_MMA_KEYS_PER_SPLIT = 256;
    /**
     * A streaming head's share on duo_decode_mma: 64 keys, one 16-key tile per warp (sink 64 + recent
     * 256: 5 shares), as the streaming heads' non-empty shares were before the grid listed only shares.
     */
    private static final int DECODE_MMA_STREAM_KEYS_PER_SPLIT = 64;

    /**
     * @param capacity   most positions one sequence may hold
     * @param maxChunk   most tokens one forward call takes (prefill chunk)
     * @param layout     which KV heads are retrieval heads (and the streaming sink/recent sizes)
     * @param kvType     element type of the KV cache
     * @param pageTokens positions per page of a retrieval head
     * @param sequences  how many sequences may be resident at once (sizes the page pool)
     * @param graphs     replay decode steps from a captured CUDA graph
     * @param tensorCores run projections of chunks wider than 8 tokens as tensor-core GEMMs, with
     *                   activations rounded to bf16 (as a bf16 PyTorch model does); off, they stay
     *                   float32 matvecs that match the CPU engine to 1e-5
     * @param prefillAttention which kernel runs prefill attention (chunks of more than one token):
     *                   the engine uses tensor cores with bf16 KV and CUDA cores in the exact (f32)
     *                   mode; the tensor-core kernels fall back to CUDA cores for head sizes they do
     *                   not serve
     * @param cublas     with tensor cores on, run the prefill GEMMs through cuBLAS (bf16 in, float32
     *                   out) where libcublas loads on the host; otherwise, and where it does not,
     *                   through gemm.cu's kernel
     * @param fusedDecode run decode steps (one token) on the fused kernels: the RMSNorm in the projection
     *                   that reads it, the SwiGLU gate in the gate/up projection, the residual add in
     *                   the projections that write the residual stream, the cache append with the
     *                   rotary embedding (7 launches per layer instead of 11); off, the per-op kernels
     *                   that chunks run (for side-by-side benchmarks)
     * @param decodeSplits split-K shares of each retrieval head in decode attention (1..1024; streaming
     *                   heads take as many as their window needs, at most these), or 0 for the
     *                   policy ({@link #decodeSplits(int, int)} capped by {@link #waveSplits}); fixed
     *                   counts are for benchmarks
     * @param programmaticLaunch launch the fused decode kernels after the first with programmatic
     *                   dependent launch (compute capability 9.0 and up): each may start while the one
     *                   before it finishes, streams its first weights or cached keys, then waits for
     *                   that kernel's results (griddepcontrol in the kernels); off, plain launches
     *                   (for side-by-side benchmarks)
     */
    public record Options(int capacity, int maxChunk, DuoLayout layout, DeviceKvType kvType, int pageTokens,
            int sequences, boolean graphs, boolean tensorCores, PrefillAttention prefillAttention, boolean cublas,
            boolean fusedDecode, int decodeSplits, boolean programmaticLaunch, boolean gateUpBf16,
            boolean pipelinedPrefill, boolean residualInGemm) {

        public Options(int capacity, int maxChunk, DuoLayout layout, DeviceKvType kvType, int pageTokens,
                int sequences, boolean graphs, boolean tensorCores) {
            this(capacity, maxChunk, layout, kvType, pageTokens, sequences, graphs, tensorCores,
                    PrefillAttention.CUDA_CORES, false, true, 0, true, false, false, false);
        }

        public Options {
            if (capacity < 1 || maxChunk < 1 || pageTokens < 1 || sequences < 1) {
                throw new IllegalArgumentException("capacity, chunk, page size and sequences must be positive");
            }
            java.util.Objects.requireNonNull(prefillAttention, "prefillAttention");
            if (decodeSplits < 0 || decodeSplits > MAX_SPLITS) {
                throw new IllegalArgumentException("decode splits must be 0 (the policy) or 1.." + MAX_SPLITS + ", not "
                        + decodeSplits);
            }
        }

        /** Full attention, f32 KV, one sequence, graphs on, float32 projections (exact). */
        public static Options full(ModelConfig c, int capacity, int maxChunk) {
            return new Options(capacity, maxChunk, DuoLayout.full(c.numLayers(), c.numKvHeads()), DeviceKvType.F32, 64,
                    1, true, false);
        }

        public Options withLayout(DuoLayout l) {
            return with(b -> b.layout = l);
        }

        public Options withKvType(DeviceKvType t) {
            return with(b -> b.kvType = t);
        }

        public Options withGraphs(boolean g) {
            return with(b -> b.graphs = g);
        }

        public Options withTensorCores(boolean t) {
            return with(b -> b.tensorCores = t);
        }

        public Options withPrefillAttention(PrefillAttention a) {
            return with(b -> b.prefillAttention = a);
        }

        /** Prefill GEMMs (with tensor cores on) through cuBLAS where libcublas loads, else gemm.cu's. */
        public Options withCublas(boolean c) {
            return with(b -> b.cublas = c);
        }

        /** Decode steps on the fused kernels (the default) or on the per-op kernels that chunks run. */
        public Options withFusedDecode(boolean f) {
            return with(b -> b.fusedDecode = f);
        }

        /** A fixed split-K share count for decode attention (1..1024), or 0 for the policy. */
        public Options withDecodeSplits(int splits) {
            return with(b -> b.decodeSplits = splits);
        }

        /** Fused decode kernels launched to overlap the one before them (programmatic dependent launch), or not. */
        public Options withProgrammaticLaunch(boolean p) {
            return with(b -> b.programmaticLaunch = p);
        }

        /**
         * Chunks (on cuBLAS) compute gate and up as one GEMM with bf16 outputs, which the SwiGLU then
         * reads (half the bytes of two float32 outputs; the rounding PyTorch's bf16 layers make; the engine's
         * default with bf16 KV), or as two GEMMs with float32 outputs.
         */
        public Options withGateUpBf16(boolean g) {
            return with(b -> b.gateUpBf16 = g);
        }

        /**
         * A prompt's chunks are queued back to back ({@link CudaLlamaModel#prefillGreedy}), the host
         * preparing each while the one before runs, with one wait at the end (the engine's default); or each
         * is waited for. The same kernels in the same order either way.
         */
        public Options withPipelinedPrefill(boolean p) {
            return with(b -> b.pipelinedPrefill = p);
        }

        /**
         * Chunks (on cuBLAS) add the attention output and MLP projections into the residual stream in
         * the GEMM itself (beta = 1), so the norm after each reads the stream alone (the engine's default
         * with bf16 KV); or the GEMMs write a separate output that the norm adds.
         */
        public Options withResidualInGemm(boolean r) {
            return with(b -> b.residualInGemm = r);
        }

        /** These options with {@code change} applied to a mutable copy (and validated again). */
        private Options with(java.util.function.Consumer<Copy> change) {
            Copy b = new Copy(this);
            change.accept(b);
            return new Options(b.capacity, b.maxChunk, b.layout, b.kvType, b.pageTokens, b.sequences, b.graphs,
                    b.tensorCores, b.prefillAttention, b.cublas, b.fusedDecode, b.decodeSplits, b.programmaticLaunch,
                    b.gateUpBf16, b.pipelinedPrefill, b.residualInGemm);
        }

        /** A mutable copy of every field, for {@link #with}. */
        private static final class Copy {
            int capacity;
            int maxChunk;
            DuoLayout layout;
            DeviceKvType kvType;
            int pageTokens;
            int sequences;
            boolean graphs;
            boolean tensorCores;
            PrefillAttention prefillAttention;
            boolean cublas;
            boolean fusedDecode;
            int decodeSplits;
            boolean programmaticLaunch;
            boolean gateUpBf16;
            boolean pipelinedPrefill;
            boolean residualInGemm;

            Copy(Options o) {
                capacity = o.capacity;
                maxChunk = o.maxChunk;
                layout = o.layout;
                kvType = o.kvType;
                pageTokens = o.pageTokens;
                sequences = o.sequences;
                graphs = o.graphs;
                tensorCores = o.tensorCores;
                prefillAttention = o.prefillAttention;
                cublas = o.cublas;
                fusedDecode = o.fusedDecode;
                decodeSplits = o.decodeSplits;
                programmaticLaunch = o.programmaticLaunch;
                gateUpBf16 = o.gateUpBf16;
                pipelinedPrefill = o.pipelinedPrefill;
                residualInGemm = o.residualInGemm;
            }
        }
    }

    private final CudaDevice dev;
    private final ModelConfig c;
    private final Options options;
    private final DeviceMemoryPlan plan;
    private final float[] invFreq;
    private final List<CUdeviceptr> owned = new ArrayList<>();
    private final CUdeviceptr embedding;
    private final CUdeviceptr lmHead;
    private final CUdeviceptr finalNorm;
    private final DeviceLayer[] layers;
    private final CUdeviceptr x;
    private final CUdeviceptr xb;
    private final CUdeviceptr q;
    private final CUdeviceptr k;
    private final CUdeviceptr v;
    private final CUdeviceptr att;
    private final CUdeviceptr proj;
    private final CUdeviceptr gate;
    private final CUdeviceptr up;
    private final CUdeviceptr logits;
    private final CUdeviceptr workspace;
    private final CUdeviceptr step;           // [start, argmax, tokens(maxChunk), cos, sin]
    private final PinnedBuffer stepHost;
    /** Recorded after each copy from stepHost: it may be refilled once that copy has run. */
    private final CudaDevice.Fence stepCopied;
    private final PagePool pool;
    private final CUdeviceptr poolKeys;
    private final CUdeviceptr poolValues;
    private final byte[] poolKeyMap;      // the pools' tensor maps for flash_prefill_ws128; null: cp.async only
    private final byte[] poolValueMap;
    private final int maxPages;
    private final Cublas cublas;          // null: prefill GEMMs through gemm.cu
    private final CUdeviceptr bf16In;     // a chunk's activations rounded to bf16, cuBLAS's input

    /** One layer's device tensors; wq|wk|wv and wg|wu are stacked so decode runs each trio/pair as one launch. */
    private record DeviceLayer(CUdeviceptr attnNorm, CUdeviceptr wqkv, CUdeviceptr wq, CUdeviceptr wk, CUdeviceptr wv,
            CUdeviceptr wo, CUdeviceptr bq, CUdeviceptr bk, CUdeviceptr bv, CUdeviceptr bo, CUdeviceptr mlpNorm,
            CUdeviceptr wgu, CUdeviceptr wg, CUdeviceptr wu, CUdeviceptr wd) {
    }

    public CudaLlamaModel(CudaDevice dev, ModelConfig config, LlamaWeights w, Options options) {
        if (options.layout().layers() != config.numLayers() || options.layout().kvHeads() != config.numKvHeads()) {
            throw new IllegalArgumentException("the head layout is " + options.layout().layers() + " x "
                    + options.layout().kvHeads() + ", the model has " + config.numLayers() + " layers x "
                    + config.numKvHeads() + " KV heads");
        }
        if (config.headDim() > 256) {
            throw new IllegalArgumentException("head_dim " + config.headDim() + " is above the 256 the CUDA "
                    + "attention kernel supports");
        }
        this.dev = dev;
        this.c = config;
        // wgmma is Hopper code (sm_90a) for head_dim 64 and 128; elsewhere the same kernel on mma.sync
        PrefillAttention prefill = (options.prefillAttention() == PrefillAttention.WGMMA
                || options.prefillAttention().warpSpecialized()) && !wgmmaFits(config, dev)
                ? PrefillAttention.TENSOR_CORES_MMA : options.prefillAttention();
        this.options = options.with(b -> {
            b.capacity = Math.min(options.capacity(), config.maxPositions());
            b.prefillAttention = prefill;
        });
        this.plan = DeviceMemoryPlan.of(config, this.options);
        plan.check(dev.memoryInfo()[0], dev.name());
        this.invFreq = config.ropeInverseFrequencies();
        this.maxPages = (this.options.capacity() + options.pageTokens() - 1) / options.pageTokens();
        PinnedBuffer pinned = null;
        try {
            this.embedding = bf16(w.embedding());
            this.lmHead = w.lmHead() == w.embedding() ? embedding : bf16(w.lmHead());
            this.finalNorm = f32(w.finalNorm());
            this.layers = new DeviceLayer[config.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                LlamaWeights.Layer lw = w.layers().get(l);
                CUdeviceptr qkv = own(dev.uploadBf16(lw.wq(), lw.wk(), lw.wv()));
                CUdeviceptr gu = own(dev.uploadBf16(lw.wGate(), lw.wUp()));
                long h = config.hiddenSize();
                layers[l] = new DeviceLayer(f32(lw.attnNorm()), qkv, qkv, qkv.withByteOffset(2L * config.qDim() * h),
                        qkv.withByteOffset(2L * (config.qDim() + config.kvDim()) * h), bf16(lw.wo()), f32(lw.bq()),
                        f32(lw.bk()), f32(lw.bv()), f32(lw.bo()), f32(lw.mlpNorm()), gu, gu,
                        gu.withByteOffset(2L * config.intermediateSize() * h), bf16(lw.wDown()));
            }
            int n = options.maxChunk();
            x = alloc(4L * n * c.hiddenSize());
            xb = alloc(4L * n * c.hiddenSize());
            q = alloc(4L * n * c.qDim());
            k = alloc(4L * n * c.kvDim());
            v = alloc(4L * n * c.kvDim());
            att = alloc(4L * n * c.qDim());
            proj = alloc(4L * n * c.hiddenSize());
            gate = alloc(4L * n * c.intermediateSize());
            up = alloc(4L * n * c.intermediateSize());
            logits = alloc(4L * c.vocabSize());
            workspace = alloc(4L * workspaceRows(c, n) * (c.headDim() + 2));
            step = alloc(stepBytes(c, n));
            pinned = dev.allocPinned(stepBytes(c, n));
            long pageBytes = (long) options.pageTokens() * c.headDim() * options.kvType().bytes();
            poolKeys = alloc(pageBytes * plan.pages());
            poolValues = alloc(pageBytes * plan.pages());
            pool = new PagePool(plan.pages());
            cublas = options.cublas() && options.tensorCores() ? Cublas.open(dev).orElse(null) : null;
            bf16In = cublas != null ? alloc(bf16InBytes(c, n)) : null;
            boolean maps = this.options.prefillAttention().warpSpecialized() && tensorMapsFit(dev);
            long poolRows = (long) plan.pages() * this.options.pageTokens();
            poolKeyMap = maps ? TensorMaps.bf16Rows(poolKeys, poolRows, c.headDim(), 64) : null;
            poolValueMap = maps ? TensorMaps.bf16Rows(poolValues, poolRows, c.headDim(), 64) : null;
        } catch (RuntimeException e) {
            if (pinned != null) {
                pinned.close();
            }
            close();
            throw e;
        }
        this.stepHost = pinned;
        CudaDevice.Fence fence;
        try {
            fence = dev.fence();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        this.stepCopied = fence;
    }

    /** What runs the prefill projections: cuBLAS (and which library) or gemm.cu's kernel, or matvecs. */
    public String prefillGemm() {
        if (!options.tensorCores()) {
            return "float32 matvec (exact)";
        }
        return cublas != null ? "cuBLAS bf16 GEMM (" + cublas.library() + ")" : "gemm_bf16_tc";
    }

    /** Bytes of the bf16 copy of a chunk's widest activations (cuBLAS's GEMM input). */
    static long bf16InBytes(ModelConfig c, int maxChunk) {
        return 2L * maxChunk * Math.max(Math.max(c.hiddenSize(), c.qDim()), c.intermediateSize());
    }

    /** Bytes of the per-chunk parameter block: start, argmax result, token ids, cos and sin tables. */
    static long stepBytes(ModelConfig c, int maxChunk) {
        return 4L * (2 + maxChunk + (long) maxChunk * c.headDim());
    }

    /**
     * Rows (query row × split) the split-K attention workspace holds: MAX_SPLITS decode shares, or
     * PREFILL_WAVE_SPLITS shares of a whole chunk (prefillWaveSplits).
     */
    static int workspaceRows(ModelConfig c, int maxChunk) {
        return Math.max(MAX_SPLITS, PREFILL_WAVE_SPLITS * maxChunk) * c.numHeads();
    }

    /** The most split-K shares prefillWaveSplits gives a chunk. */
    static final int PREFILL_WAVE_SPLITS = 2;
    /** Keys (the chunk's last position + 1) from which prefillWaveSplits splits. */
    static final int PREFILL_WAVE_SPLIT_KEYS = 32768;

    /**
     * Split-K shares for a warp-specialised prefill launch whose long blocks (its retrieval heads';
     * streaming heads' blocks are short) number {@code retrievalBlocks}: one block per SM, and blocks
     * of about equal length, so the launch takes about ceil(blocks / SMs) block times, and a layer
     * whose count fills its last wave poorly wastes the rest. DuoAttention layers have uneven
     * retrieval head counts (8B at 50%: 1 to 7 of 8 KV heads; 5 make 320 blocks, 2.4 waves run as 3).
     * Two shares per block halve the blocks' length: 640 blocks, 5 waves of half the length (2.5).
     * Returns 2 where that saves at least 5% of the launch's wave time, else 1 (full attention's 512
     * blocks: 3.9 waves either way). The shares cost about as much whatever the context (a second Q
     * staging per block, the partials written, a combine pass), the saving grows with it: below
     * PREFILL_WAVE_SPLIT_KEYS keys it did not pay (8B Duo 32K: 1.215 s with splits against 1.195 s
     * without, 7b8a171; 128K: 7.66 against 7.82 s).
     */
    static int prefillWaveSplits(int retrievalBlocks, int multiprocessors, int keys) {
        if (retrievalBlocks == 0 || keys < PREFILL_WAVE_SPLIT_KEYS) {
            return 1;
        }
        double one = Math.ceil((double) retrievalBlocks / multiprocessors);
        double two = Math.ceil(2.0 * retrievalBlocks / multiprocessors) / 2;
        return two <= 0.95 * one ? 2 : 1;
    }

    private CUdeviceptr own(CUdeviceptr p) {
        owned.add(p);
        return p;
    }

    private CUdeviceptr alloc(long bytes) {
        return own(dev.alloc(bytes));
    }

    private CUdeviceptr f32(float[] a) {
        return a == null ? null : own(dev.upload(a, a.length));
    }

    private CUdeviceptr bf16(WeightTensor t) {
        return own(dev.uploadBf16(t));
    }

    public ModelConfig config() {
        return c;
    }

    public Options options() {
        return options;
    }

    public DeviceMemoryPlan plan() {
        return plan;
    }

    PagePool pool() {
        return pool;
    }

    CUdeviceptr poolKeys(int page) {
        return poolKeys.withByteOffset((long) page * options.pageTokens() * c.headDim() * options.kvType().bytes());
    }

    CUdeviceptr poolValues(int page) {
        return poolValues.withByteOffset((long) page * options.pageTokens() * c.headDim() * options.kvType().bytes());
    }

    /** A new empty sequence with the model's head layout; its pages come from the pool as it grows. */
    public CudaSequence newSequence() {
        return newSequence(options.layout());
    }

    /**
     * A new empty sequence with its own head layout. The pool was sized for the model's layout: a
     * layout with more retrieval heads may run out of pages (a clear error when it does).
     */
    public CudaSequence newSequence(DuoLayout layout) {
        if (layout.layers() != c.numLayers() || layout.kvHeads() != c.numKvHeads()) {
            throw new IllegalArgumentException("the head layout is " + layout.layers() + " x " + layout.kvHeads()
                    + ", the model has " + c.numLayers() + " layers x " + c.numKvHeads() + " KV heads");
        }
        long ringBytes = (long) c.numKvHeads() * (layout.sink() + layout.recent()) * c.headDim()
                * options.kvType().bytes();
        return new CudaSequence(this, dev, layout, c.numKvHeads(), maxPages, ringBytes);
    }

    /** Runs {@code tokens} at positions {@code seq.length()..}; returns the last position's logits. */
    public float[] forward(CudaSequence seq, int[] tokens) {
        step(seq, tokens, options.graphs());
        return lastLogits();
    }

    /** Runs {@code tokens} and returns the argmax of the last position's logits (computed on the device). */
    public int forwardGreedy(CudaSequence seq, int[] tokens) {
        return step(seq, tokens, options.graphs());
    }

    /** The last forward call's logits (copied from the device). */
    public float[] lastLogits() {
        float[] out = new float[c.vocabSize()];
        dev.download(logits, out, out.length);
        return out;
    }

    /**
     * Device time per kernel over {@code steps} decode steps launched directly (not from the graph,
     * whose launches cannot be timed one by one): per kernel name {total ms, launches}. For
     * benchmarks; the sequence advances by {@code steps}.
     */
    public java.util.Map<String, double[]> profileDecode(CudaSequence seq, int token, int steps) {
        dev.startProfile();
        int next = token;
        for (int i = 0; i < steps; i++) {
            next = step(seq, new int[] {next}, false);
        }
        return dev.profile();
    }

    /**
     * Prefills {@code tokens} at positions {@code seq.length()..} in chunks of {@code chunk} tokens
     * queued back to back: the host computes each chunk's rotary tables and page table updates while
     * the chunk before runs, and waits once, at the end. Returns the argmax of the last position's
     * logits (lastLogits() gives them). The same kernels in the same order as a forwardGreedy per
     * chunk, so the same results. On an error the work already queued is waited for before it is
     * thrown (the sequence is then in no defined state: close it).
     */
    public int prefillGreedy(CudaSequence seq, int[] tokens, int chunk) {
        checkPrefill(tokens, chunk);
        int start = seq.length();
        try {
            for (int from = 0; from < tokens.length; from += chunk) {
                queueStep(seq, Arrays.copyOfRange(tokens, from, Math.min(tokens.length, from + chunk)), false);
            }
        } catch (RuntimeException e) {
            try {
                dev.synchronize("the chunks queued before a failed one");
            } catch (RuntimeException s) {
                e.addSuppressed(s);
            }
            throw e;
        }
        return finishSteps("prefill of " + tokens.length + " tokens at position " + start);
    }

    /**
     * Prefills {@code tokens} in chunks of {@code chunk} as the options say: queued back to back
     * ({@link #prefillGreedy}, the default) or each waited for (a forwardGreedy per chunk, the
     * side-by-side baseline). Returns the argmax of the last position's logits (lastLogits() gives them).
     */
    public int prefill(CudaSequence seq, int[] tokens, int chunk) {
        if (options.pipelinedPrefill()) {
            return prefillGreedy(seq, tokens, chunk);
        }
        checkPrefill(tokens, chunk);
        int token = 0;
        for (int from = 0; from < tokens.length; from += chunk) {
            token = forwardGreedy(seq, Arrays.copyOfRange(tokens, from, Math.min(tokens.length, from + chunk)));
        }
        return token;
    }

    private void checkPrefill(int[] tokens, int chunk) {
        if (chunk < 1 || chunk > options.maxChunk() || tokens.length == 0) {
            throw new IllegalArgumentException("prefill of " + tokens.length + " tokens in chunks of " + chunk
                    + "; this model takes chunks of 1.." + options.maxChunk() + " and at least one token");
        }
    }

    /** Runs one chunk (from a captured graph when it is a decode step and graphs are on); returns the argmax. */
    private int step(CudaSequence seq, int[] tokens, boolean graphs) {
        int start = seq.length();
        queueStep(seq, tokens, graphs);
        return finishSteps("forward of " + tokens.length + " tokens at position " + start);
    }

    /** Waits for the queued steps; the argmax of the last one's last position. */
    private int finishSteps(String what) {
        dev.synchronize(what);
        return stepHost.buffer().getInt(4);
    }

    /**
     * Queues one chunk: its inputs (position, tokens, rotary tables) through the pinned stepHost, its
     * kernels, and the copy of its argmax back into stepHost. The sequence's length advances at once.
     * The host waits only for the chunk before to have copied its inputs (stepCopied), so that it
     * may refill stepHost: it runs at most one chunk ahead of the device.
     */
    private void queueStep(CudaSequence seq, int[] tokens, boolean graphs) {
        int n = tokens.length;
        if (n < 1 || n > options.maxChunk()) {
            throw new IllegalArgumentException("chunk of " + n + " tokens; this model takes 1.." + options.maxChunk());
        }
        int start = seq.length();
        if (start + n > options.capacity()) {
            throw new IllegalStateException("context of " + (start + n) + " tokens exceeds the device KV capacity of "
                    + options.capacity());
        }
        int half = c.headDim() / 2;
        float[][] rotary = c.ropeTables(invFreq, start, n);
        seq.reserve(start + n);
        stepCopied.await("the inputs of the chunk before");
        ByteBuffer b = stepHost.buffer();
        b.putInt(0, start);
        for (int t = 0; t < n; t++) {
            b.putInt(8 + 4 * t, tokens[t]);
        }
        int cosAt = 8 + 4 * options.maxChunk();
        int sinAt = cosAt + 4 * options.maxChunk() * half;
        b.slice(cosAt, 4 * n * half).order(b.order()).asFloatBuffer().put(rotary[0], 0, n * half);
        b.slice(sinAt, 4 * n * half).order(b.order()).asFloatBuffer().put(rotary[1], 0, n * half);
        dev.copyAsync(step, stepHost, 0, sinAt + 4L * options.maxChunk() * half);
        stepCopied.record();
        if (n == 1 && graphs) {
            // one graph per split count: a sequence re-captures when its length doubles
            int splits = stepSplits(start + 1);
            CudaGraph graph = seq.decodeGraph(splits);
            if (graph == null) {
                graph = dev.capture(() -> queueForward(seq, 1, splits));
                seq.decodeGraph(splits, graph);
            }
            graph.launch();
        } else {
            int splits = n == 1 ? stepSplits(start + 1) : prefillSplits(n, start + n);
            queueForward(seq, n, splits);
        }
        // bytes 4..8 of stepHost: the host writes the next chunk's inputs around them meanwhile
        dev.copyAsync(stepHost, 4, step.withByteOffset(4), 4);
        seq.advance(n);
    }

    /** Queues one chunk's kernels; every position-dependent input is read from {@link #step}. */
    private void queueForward(CudaSequence seq, int n, int splits) {
        int h = c.hiddenSize();
        int hd = c.headDim();
        int half = hd / 2;
        CUdeviceptr start = step;
        CUdeviceptr argmax = step.withByteOffset(4);
        CUdeviceptr tokens = step.withByteOffset(8);
        CUdeviceptr cos = step.withByteOffset(8 + 4L * options.maxChunk());
        CUdeviceptr sin = cos.withByteOffset(4L * options.maxChunk() * half);
        DuoLayout layout = seq.layout();
        String attention = options.kvType().kernel("duo_attention");
        String append = options.kvType().kernel("kv_append");
        String decode = decodeKernel();
        int group = c.numHeads() / c.numKvHeads();
        int hpb = headsPerBlock(group);
        int tpb = ATT_ROWS / hpb;
        int gridX = (n + tpb - 1) / tpb;
        int gridY = c.numKvHeads() * (group / hpb);
        int smem = 4 * (ATT_ROWS * hd + 32 * (hd + 1) + 32 * hd + 32);
        int dimBlock = Math.max(32, (hd + 31) / 32 * 32);
        float scale = (float) (1 / Math.sqrt(hd));

        boolean fused = n == 1 && fusedDecode();
        boolean pdl = fused && programmaticLaunch(); // every kernel after the embedding overlaps the one before
        boolean direct = bf16Direct(n);
        float eps = c.rmsNormEps();
        dev.launchAsync("embedding_bf16", n, 256, 0, embedding, tokens, x, h);
        if (!fused) {
            norm(direct, null, layers[0].attnNorm, n);
        }
        for (int l = 0; l < layers.length; l++) {
            DeviceLayer layer = layers[l];
            CUdeviceptr flags = seq.streamingFlags(l);
            if (fused) {
                launchStep(pdl, "matmul_bf16_1t_norm", (c.qDim() + 2 * c.kvDim() + 15) / 16, 1, 256, 4 * h,
                        layer.wqkv, x, layer.attnNorm, eps, q, k, v, c.qDim(), c.kvDim(), c.kvDim(), h);
                launchStep(pdl, options.kvType().kernel("qkv_rope_append"), c.numHeads() + 2 * c.numKvHeads(), 1,
                        Math.max(32, (half + 31) / 32 * 32), 0, q, k, v, layer.bq, layer.bk, layer.bv, cos, sin,
                        poolKeys, poolValues, seq.pageTable(l), seq.ringKeys(l), seq.ringValues(l), flags, start,
                        c.numHeads(), c.numKvHeads(), hd, options.pageTokens(), maxPages, layout.sink(),
                        layout.recent(), layer.bq != null ? 1 : 0);
            } else if (n <= MATMUL_TOKENS) {
                matvec(layer.wqkv, xb, q, c.qDim(), k, c.kvDim(), v, c.kvDim(), h, n);
            } else {
                project(direct, layer.wq, q, c.qDim(), h, n);
                project(direct, layer.wk, k, c.kvDim(), h, n);
                project(direct, layer.wv, v, c.kvDim(), h, n);
            }
            if (!fused) {
                dev.launchAsync("qkv_bias_rope_f32", n * (c.numHeads() + 2 * c.numKvHeads()),
                        Math.max(32, (half + 31) / 32 * 32), 0, q, k, v, layer.bq, layer.bk, layer.bv, cos, sin,
                        c.numHeads(), c.numKvHeads(), hd, layer.bq != null ? 1 : 0);
            }
            PrefillAttention pa = options.prefillAttention();
            int splitsToCombine = splits;
            boolean flash = n > 1 && pa != PrefillAttention.CUDA_CORES && flashFits(pa, c, dev);
            // flash_prefill_ws128 with tensor maps copies the chunk's own whole tiles from the pool too: the
            // retrieval heads' pages are written before attention, the streaming heads' rings after
            boolean chunkInPool = flash && pa.warpSpecialized() && poolKeyMap != null;
            if (chunkInPool) {
                dev.launchAsync(append, n * c.numKvHeads(), dimBlock, 0, k, v, poolKeys, poolValues,
                        seq.pageTable(l), seq.ringKeys(l), seq.ringValues(l), flags, start, n, c.numKvHeads(), hd,
                        options.pageTokens(), maxPages, layout.sink(), layout.recent(), APPEND_RETRIEVAL);
            }
            if (flash) {
                int fhpb = headsPerBlock(group);
                int ftpb = flashRows(pa) / fhpb;
                int fgridX = (n + ftpb - 1) / ftpb;
                if (pa.warpSpecialized() && splits == 1) {
                    splitsToCombine = prefillWaveSplits(layout.retrievalHeads(l) * (group / fhpb) * fgridX,
                            dev.multiprocessors(), seq.length() + n);
                }
                Object[] args = {q, k, v, poolKeys, poolValues, seq.pageTable(l), seq.ringKeys(l), seq.ringValues(l),
                    flags, start, att, workspace, n, c.numHeads(), c.numKvHeads(), hd, options.pageTokens(), maxPages,
                    layout.sink(), layout.recent(), fhpb, splitsToCombine, scale};
                dev.launchGrid(options.kvType().kernel(pa.kernel()), fgridX,
                        c.numKvHeads() * (group / fhpb), splitsToCombine, flashThreads(pa), flashSmem(pa, c.headDim()),
                        pa.warpSpecialized() ? withMaps(args, poolKeyMap, poolValueMap, chunkInPool, seq.headOrder(l))
                                : args);
            } else if (n == 1 && decode != null) {
                int retrieval = layout.retrievalHeads(l);
                int streaming = c.numKvHeads() - retrieval;
                int ss = streamSplits(splits, layout);
                int rs = decodeMma() && options.decodeSplits() == 0
                        ? waveSplits(splits, retrieval, dev.multiprocessors()) : splits;
                int decodeSmem = decodeMma() ? decodeMmaSmem(hd) : decodeSmem(group, hd, options.kvType().bytes());
                launchStep(pdl, decode, retrieval * rs + streaming * ss, 1, 128, decodeSmem,
                        q, k, v, poolKeys, poolValues, seq.pageTable(l), seq.ringKeys(l), seq.ringValues(l),
                        flags, start, att, workspace, c.numHeads(), c.numKvHeads(), hd, options.pageTokens(),
                        maxPages, layout.sink(), layout.recent(), scale, seq.headOrder(l), retrieval, rs, ss);
                if (rs > 1 || ss > 1) {
                    combineDecode(dev, pdl, workspace, att, c.numHeads(), hd, rs, flags, group, ss);
                }
                splitsToCombine = 1;
            } else {
                dev.launchGrid(attention, gridX, gridY, splits, 128, smem, q, k, v, poolKeys, poolValues,
                        seq.pageTable(l), seq.ringKeys(l), seq.ringValues(l), flags, start, att, workspace, n,
                        c.numHeads(), c.numKvHeads(), hd, options.pageTokens(), maxPages, layout.sink(),
                        layout.recent(), hpb, splits, scale);
            }
            if (splitsToCombine > 1) {
                combine(dev, workspace, att, n * c.numHeads(), hd, splitsToCombine);
            }
            if (fused) {
                // the rest of the layer adds into x directly; the norms run inside the projections
                launchStep(pdl, "matmul_bf16_1t_residual", (h + 7) / 8, 1, 256, 0, layer.wo, att, layer.bo, x, h,
                        c.qDim());
                launchStep(pdl, "matmul_bf16_1t_norm_swiglu", (c.intermediateSize() + 7) / 8, 1, 256, 4 * h,
                        layer.wgu, x, layer.mlpNorm, eps, gate, c.intermediateSize(), h);
                launchStep(pdl, "matmul_bf16_1t_residual", (h + 7) / 8, 1, 256, 0, layer.wd, gate, null, x, h,
                        c.intermediateSize());
                continue;
            }
            dev.launchAsync(append, n * c.numKvHeads(), dimBlock, 0, k, v, poolKeys, poolValues, seq.pageTable(l),
                    seq.ringKeys(l), seq.ringValues(l), flags, start, n, c.numKvHeads(), hd, options.pageTokens(),
                    maxPages, layout.sink(), layout.recent(), chunkInPool ? APPEND_STREAMING : APPEND_ALL);
            // the o and down projections go into proj, which the norm after each adds into x, or (accumulate)
            // into x directly, and the norm reads x alone
            boolean accumulate = direct && options.residualInGemm() && c.qDim() % 8 == 0;
            CUdeviceptr delta = accumulate ? null : proj;
            if (accumulate) {
                toBf16In(att, n, c.qDim());
                cublasGemm(layer.wo, x, h, c.qDim(), n, true);
            } else {
                matmul(layer.wo, att, proj, h, c.qDim(), n);
            }
            if (layer.bo != null) {
                dev.launchAsync("add_bias_f32", (n * h + 255) / 256, 256, 0, accumulate ? x : proj, layer.bo, n, h);
            }
            norm(direct, delta, layer.mlpNorm, n);
            mlp(layer, direct, n, accumulate);
            boolean last = l + 1 == layers.length; // the LM head reads the last row as float32 (xb)
            norm(direct && !last, delta, last ? finalNorm : layers[l + 1].attnNorm, n);
        }
        if (fused) {
            launchStep(pdl, "matmul_bf16_1t_norm", (c.vocabSize() + 15) / 16, 1, 256, 4 * h, lmHead, x, finalNorm,
                    eps, logits, null, null, c.vocabSize(), 0, 0, h);
        } else {
            matmul(lmHead, xb.withByteOffset(4L * (n - 1) * h), logits, c.vocabSize(), h, 1);
        }
        launchStep(pdl, "argmax_f32", 1, 1, 1024, 0, logits, c.vocabSize(), argmax);
    }

    /**
     * proj = the chunk's MLP output (down · SwiGLU(gate, up)) of its normed rows (bf16In when direct,
     * else xb); with accumulate (direct only), x += that output instead.
     */
    private void mlp(DeviceLayer layer, boolean direct, int n, boolean accumulate) {
        int h = c.hiddenSize();
        int inter = c.intermediateSize();
        int ni = n * inter;
        if (!direct) {
            if (n <= MATMUL_TOKENS) {
                matvec(layer.wgu, xb, gate, inter, up, inter, null, 0, h, n);
            } else {
                matmul(layer.wg, xb, gate, inter, h, n);
                matmul(layer.wu, xb, up, inter, h, n);
            }
            dev.launchAsync("silu_gate_f32", (ni + 255) / 256, 256, 0, gate, up, ni);
            matmul(layer.wd, gate, proj, h, inter, n);
            return;
        }
        if (options.gateUpBf16()) {
            // gate and up side by side in one GEMM with bf16 outputs (into gate's buffer, the same bytes as
            // one float32 output); the SwiGLU reads them there and writes the down projection's input
            dev.timed("cublasGemmEx bf16 " + 2 * inter + "x" + h,
                    () -> cublas.gemmBf16Out(layer.wgu, bf16In, gate, 2 * inter, h, n));
            dev.launchAsync("silu_gate_pairs_bf16", (ni / 8 + 255) / 256, 256, 0, gate, bf16In, n, inter / 8);
        } else {
            cublasGemm(layer.wg, gate, inter, h, n, false);
            cublasGemm(layer.wu, up, inter, h, n, false);
            dev.launchAsync("silu_gate_bf16", (ni + 255) / 256, 256, 0, gate, up, bf16In, ni);
        }
        cublasGemm(layer.wd, accumulate ? x : proj, h, inter, n, accumulate);
    }

    /**
     * Whether decode steps' fused kernels are launched programmatically (each overlapping the one
     * before it): on in the options, fused decode, and a device that can (CudaDevice.launchDependent).
     */
    public boolean programmaticLaunch() {
        return options.programmaticLaunch() && fusedDecode() && dev.programmaticLaunch();
    }

    /**
     * Whether decode steps run on the fused kernels: on in the options, and the hidden row fits the
     * norm's shared-memory copy (48 KB without opting in) in whole 16-byte vectors.
     */
    public boolean fusedDecode() {
        int h = c.hiddenSize();
        return options.fusedDecode() && h % 8 == 0 && 4L * h <= 48 * 1024;
    }

    private int decodeKeysPerSplit() {
        return decodeMma() ? DECODE_MMA_KEYS_PER_SPLIT
                : decodeKernel() != null ? DECODE_KERNEL_KEYS_PER_SPLIT : KEYS_PER_SPLIT;
    }

    /**
     * The decode-specialised attention kernel this model runs, or null for the general one:
     * duo_decode_mma_bf16kv (tensor cores) with bf16 KV and tensor cores on, else duo_decode.
     */
    public String decodeKernel() {
        if (decodeMma()) {
            return "duo_decode_mma_bf16kv";
        }
        return decodeKernelFits(c) ? options.kvType().kernel("duo_decode") : null;
    }

    private boolean decodeMma() {
        return options.tensorCores() && options.kvType() == DeviceKvType.BF16 && decodeMmaFits(c);
    }

    /** Whether the tensor-core decode kernel serves this geometry. */
    static boolean decodeMmaFits(ModelConfig c) {
        return c.headDim() % 16 == 0 && c.headDim() <= 128 && c.numHeads() / c.numKvHeads() <= 8;
    }

    /** Dynamic shared memory of duo_decode_mma: 4 warps' rings of 3 tiles of 16 K and 16 V rows (bf16, padded). */
    static int decodeMmaSmem(int hd) {
        return 4 * 3 * 2 * 16 * (hd + 8) * 2;
    }

    private static final int FLASH_ROWS = 64;
    /** flash_prefill_ws128's K and V rings (WS128_STAGES) of 128-key tiles. */
    private static final int WS128_STAGES = 2;

    /** Query rows (tokens × packed heads) one block of a tensor-core prefill kernel serves. */
    static int flashRows(PrefillAttention kernel) {
        return kernel.warpSpecialized() ? 2 * FLASH_ROWS : FLASH_ROWS;
    }

    /** Threads of one block of a tensor-core prefill kernel: 4 warps; flash_prefill_ws128's three warpgroups. */
    static int flashThreads(PrefillAttention kernel) {
        return kernel.warpSpecialized() ? 384 : 128;
    }

    /** Whether the wgmma prefill kernel serves this geometry on this device (sm_90a code, head_dim 64 or 128). */
    static boolean wgmmaFits(ModelConfig c, CudaDevice dev) {
        return dev.computeCapability() == 90 && (c.headDim() == 64 || c.headDim() == 128);
    }

    /** The prefill attention kernel this model runs (the options' choice, wgmma only where it fits). */
    public PrefillAttention prefillKernel() {
        return options.prefillAttention();
    }

    /** Dynamic shared memory of a tensor-core prefill kernel (layouts in flash_prefill.cu, flash_prefill_mma.cuh). */
    static int flashSmem(PrefillAttention kernel, int hd) {
        int ld = hd + 8;
        if (kernel == PrefillAttention.WARP_SPECIALIZED) {
            // 2 · WS128_STAGES swizzled 128-key tiles from a 1024-byte boundary, Q (128 rows, swizzled, unpadded),
            // WS128_STAGES × 128 (rows, positions), 4 · WS128_STAGES mbarriers
            return WS128_STAGES * (2 * 128 * hd * 2 + 128 * (8 + 4) + 4 * 8) + 1008 + 2 * FLASH_ROWS * hd * 2;
        }
        if (kernel == PrefillAttention.WGMMA) {
            // unpadded swizzled K/V tiles from a 1024-byte boundary (up to 1008 bytes of slack), Q among them
            return 4 * 64 * hd * 2 + 1008 + 3 * 64 * (8 + 4);
        }
        if (kernel == PrefillAttention.TENSOR_CORES_MMA) {
            return 4 * 64 * ld * 2 + 3 * 64 * (8 + 4); // 2 K/V tile pairs (Q staged in the 2nd), 3 × (rows, positions)
        }
        int perWarp = 16 * (64 + 4) + 16 * 72 / 2 + 16 * (hd + 4) + 32;
        return (FLASH_ROWS + 2 * 64) * ld * 2 + 64 * 4 + 4 * perWarp * 4;
    }

    /**
     * Whether flash_prefill_ws128 copies whole cached tiles with the tensor-copy engine here: bf16 KV,
     * pages of whole 64-key boxes, the wgmma kernel's geometry, and cuTensorMapEncodeTiled bound.
     */
    private boolean tensorMapsFit(CudaDevice d) {
        return options.kvType() == DeviceKvType.BF16 && options.pageTokens() % 64 == 0 && wgmmaFits(c, d)
                && TensorMaps.available();
    }

    /**
     * flash_prefill_ws128's arguments: the shared list, then the pool's key and value tensor maps (by
     * value) and whether to use them (1: for cached positions; 2: for the chunk's as well, whose rows
     * kv_append wrote to the retrieval heads' pages before attention; without maps, zeros and 0: every
     * tile by cp.async), and the layer's KV heads in block order (retrieval heads first, so that their
     * long blocks start before the streaming heads' short ones).
     */
    static Object[] withMaps(Object[] args, byte[] keyMap, byte[] valueMap, boolean chunkInPool,
            CUdeviceptr headOrder) {
        Object[] all = java.util.Arrays.copyOf(args, args.length + 4);
        boolean maps = keyMap != null && valueMap != null;
        all[args.length] = maps ? keyMap : NO_MAP;
        all[args.length + 1] = maps ? valueMap : NO_MAP;
        all[args.length + 2] = maps ? chunkInPool ? 2 : 1 : 0;
        all[args.length + 3] = headOrder;
        return all;
    }

    /** The maps' place when there are none: zeros, which the kernel never reads (tma 0); only read by the driver. */
    private static final byte[] NO_MAP = new byte[TensorMaps.BYTES];

    /** kv_append's heads_of: every head, only retrieval heads (before attention), only streaming heads. */
    static final int APPEND_ALL = 0;
    static final int APPEND_RETRIEVAL = 1;
    static final int APPEND_STREAMING = 2;

    /** Whether a tensor-core prefill kernel serves this geometry on this device. */
    static boolean flashFits(PrefillAttention kernel, ModelConfig c, CudaDevice dev) {
        return c.headDim() % 16 == 0 && c.headDim() <= 128
                && flashSmem(kernel, c.headDim()) <= dev.maxSharedMemoryOptin();
    }

    /** Whether the decode-specialised attention kernel serves this geometry (else the general one does). */
    static boolean decodeKernelFits(ModelConfig c) {
        return c.headDim() % 32 == 0 && c.headDim() <= 128 && c.numHeads() / c.numKvHeads() <= 8;
    }

    /**
     * Dynamic shared memory of duo_decode (layout in duo_attention.cu): a ring of 3 tiles of 128 /
     * kvBytes keys (K rows padded by 16 bytes, V rows), q and the probabilities; the warps' partial
     * results overlay the ring at the end.
     */
    static int decodeSmem(int group, int hd, int kvBytes) {
        int tileKeys = 128 / kvBytes;
        int ring = 3 * tileKeys * (2 * hd + 16 / kvBytes) * kvBytes;
        int merge = 4 * 4 * group * (hd + 2);
        return Math.max(ring, merge) + 4 * (group * hd + 4 * group * (tileKeys / 4));
    }

    /** Query heads of one KV head a block serves: the largest divisor of the group size up to 16. */
    static int headsPerBlock(int group) {
        for (int d = Math.min(group, ATT_ROWS); d > 1; d--) {
            if (group % d == 0) {
                return d;
            }
        }
        return 1;
    }

    /**
     * Split-K shares for a decode step over {@code keys} positions (flash-decoding): one per
     * {@link #KEYS_PER_SPLIT} keys, rounded up to a power of two so that a captured graph serves
     * until the context doubles; the kernel reads the true length on the device and divides it.
     */
    static int decodeSplits(int keys) {
        return decodeSplits(keys, KEYS_PER_SPLIT);
    }

    /** This model's split-K share count for a decode step over {@code keys} keys (before per-layer caps). */
    private int stepSplits(int keys) {
        return options.decodeSplits() > 0 ? options.decodeSplits() : decodeSplits(keys, decodeKeysPerSplit());
    }

    /**
     * Split-K shares of each retrieval head in one layer's decode attention on duo_decode_mma: the
     * context's power-of-two count ({@code splits}), capped where the retrieval heads' shares fill one
     * wave of the card at two blocks per SM (the streaming heads' short shares come on top). Past one
     * wave, shares only add a second wave's pipeline fill and more partials to merge (ncu, H100, 8B
     * geometry at 32K: 64 shares, 1.94 waves, 2.1 TB/s of KV against the card's 3.0). Rounded down:
     * rounded up, the 7B geometry's 32 KV heads took 9 shares, 288 blocks for 264 places, and its 32K
     * step was 4% slower than with 64 shares.
     */
    static int waveSplits(int splits, int retrievalHeads, int multiprocessors) {
        if (retrievalHeads == 0) {
            return splits; // no retrieval blocks: the count is not used
        }
        return Math.max(1, Math.min(splits, 2 * multiprocessors / retrievalHeads));
    }

    /**
     * Split-K shares of each streaming head in a decode step: its sink and window (and the current
     * position) in shares of {@link #DECODE_MMA_STREAM_KEYS_PER_SPLIT} keys on duo_decode_mma, else of
     * the kernel's keys per share; at least one and at most {@code splits}. Fixed by the layout, so a
     * captured graph's grid does not depend on the context.
     */
    int streamSplits(int splits, DuoLayout layout) {
        int window = layout.sink() + layout.recent() + 1;
        int keys = decodeMma() ? DECODE_MMA_STREAM_KEYS_PER_SPLIT : decodeKeysPerSplit();
        return Math.max(1, Math.min(splits, window / keys));
    }

    /** A layer's KV heads in the decode kernels' grid order: its retrieval heads, then its streaming heads. */
    static int[] headOrder(DuoLayout layout, int layer) {
        int[] order = new int[layout.kvHeads()];
        int i = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (layout.isRetrieval(layer, h) == (pass == 0)) {
                    order[i++] = h;
                }
            }
        }
        return order;
    }

    static int decodeSplits(int keys, int keysPerSplit) {
        int want = (keys + keysPerSplit - 1) / keysPerSplit;
        return Math.min(MAX_SPLITS, Integer.highestOneBit(Math.max(1, want - 1)) << (want > 1 ? 1 : 0));
    }

    /** Split-K shares for a prefill chunk: only when its row blocks alone would not fill the card twice. */
    private int prefillSplits(int n, int keys) {
        int group = c.numHeads() / c.numKvHeads();
        int hpb = headsPerBlock(group);
        int blocks = (n + ATT_ROWS / hpb - 1) / (ATT_ROWS / hpb) * c.numKvHeads() * (group / hpb);
        int want = Math.min((2 * dev.multiprocessors() + blocks - 1) / blocks, (keys + KEYS_PER_SPLIT - 1)
                / KEYS_PER_SPLIT);
        int fit = workspaceRows(c, options.maxChunk()) / (n * c.numHeads());
        return Math.max(1, Math.min(Math.min(want, MAX_SPLITS), fit));
    }

    /** The most shares attention_combine_rows merges (COMBINE_ROWS_MAX_SPLITS in duo_attention.cu). */
    static final int COMBINE_ROWS_MAX_SPLITS = 8;

    /**
     * Queues the merge of {@code splits} split-K shares of {@code rows} attention rows (part: (splits,
     * rows, hd + 2)) into out (rows, hd): attention_combine_rows (a warp per row) for up to
     * COMBINE_ROWS_MAX_SPLITS shares, attention_combine (a block per row and 32 dims) for more.
     */
    public static void combine(CudaDevice dev, CUdeviceptr part, CUdeviceptr out, int rows, int hd, int splits) {
        if (splits <= COMBINE_ROWS_MAX_SPLITS) {
            dev.launchAsync("attention_combine_rows", (rows + 7) / 8, 256, 0, part, out, rows, hd, splits);
        } else {
            dev.launchGrid("attention_combine", rows, (hd + 31) / 32, 1, 256, 0, part, out, rows, hd, splits, null, 1,
                    0);
        }
    }

    /**
     * Queues attention_combine after a decode attention kernel: the {@code heads} rows of retrieval
     * heads have {@code splits} shares, those of streaming heads ({@code streaming}: a flag per KV
     * head, {@code group} query heads each) {@code streamSplits}, and none to merge where that is one.
     */
    public static void combineDecode(CudaDevice dev, boolean programmatic, CUdeviceptr part, CUdeviceptr out,
            int heads, int hd, int splits, CUdeviceptr streaming, int group, int streamSplits) {
        launchStep(dev, programmatic, "attention_combine", heads, (hd + 31) / 32, 256, 0, part, out, heads, hd, splits,
                streaming, group, streamSplits);
    }

    private void launchStep(boolean programmatic, String kernel, int gridX, int gridY, int block, int sharedBytes,
            Object... args) {
        launchStep(dev, programmatic, kernel, gridX, gridY, block, sharedBytes, args);
    }

    /**
     * Queues one of a decode step's fused kernels: with programmatic dependent launch (it overlaps
     * the kernel before it and waits for its results itself), or plainly.
     */
    private static void launchStep(CudaDevice dev, boolean programmatic, String kernel, int gridX, int gridY,
            int block, int sharedBytes, Object... args) {
        if (programmatic) {
            dev.launchDependent(kernel, gridX, gridY, block, sharedBytes, args);
        } else {
            dev.launchGrid(kernel, gridX, gridY, 1, block, sharedBytes, args);
        }
    }

    /** Queues gemm_bf16_tc: out (tokens, rows) f32 = in (tokens, cols) f32 · wᵀ (w: rows × cols bf16). */
    public static void gemm(CudaDevice dev, CUdeviceptr w, CUdeviceptr in, CUdeviceptr out, int rows, int cols,
            int tokens) {
        dev.launchGrid("gemm_bf16_tc", (rows + 127) / 128, (tokens + 127) / 128, 1, 256, 0, w, in, out, rows, cols,
                tokens);
    }

    /**
     * Whether a chunk of n tokens runs its projections on cuBLAS with the inputs written in bf16 by
     * the kernels before them (the norms, the SwiGLU) into bf16In, rather than in float32 to xb and
     * then converted: only the attention output still goes through f32_to_bf16. The same values.
     */
    private boolean bf16Direct(int n) {
        return n > MATMUL_TOKENS && options.tensorCores() && cublas != null && c.hiddenSize() % 8 == 0
                && c.intermediateSize() % 8 == 0;
    }

    /** x += delta (when not null), then the chunk's normed rows: in bf16 into bf16In, or float32 into xb. */
    private void norm(boolean bf16, CUdeviceptr delta, CUdeviceptr weight, int n) {
        CUdeviceptr out = bf16 ? bf16In : xb;
        if (delta == null) {
            dev.launchAsync(bf16 ? "rmsnorm_bf16" : "rmsnorm_f32", n, 256, 0, x, weight, out, c.hiddenSize(),
                    c.rmsNormEps());
        } else {
            dev.launchAsync(bf16 ? "rmsnorm_residual_bf16" : "rmsnorm_residual_f32", n, 256, 0, x, delta, weight, out,
                    c.hiddenSize(), c.rmsNormEps());
        }
    }

    /** out = the chunk's normed rows · wᵀ: from bf16In on cuBLAS (bf16Direct) or from xb. */
    private void project(boolean bf16, CUdeviceptr w, CUdeviceptr out, int rows, int cols, int tokens) {
        if (bf16) {
            cublasGemm(w, out, rows, cols, tokens, false);
        } else {
            matmul(w, xb, out, rows, cols, tokens);
        }
    }

    /** bf16In = in (tokens, cols, float32) rounded to bf16: cuBLAS's input where no kernel wrote it directly. */
    private void toBf16In(CUdeviceptr in, int tokens, int cols) {
        long pairs = (long) tokens * cols / 2;
        dev.launchAsync("f32_to_bf16", (int) Math.min(4096, (pairs + 255) / 256), 256, 0, in, bf16In, pairs);
    }

    /**
     * cuBLAS: out (tokens, rows) f32 = bf16In (tokens, cols) · wᵀ, or out += that (accumulate); a
     * profiled entry named by its shape.
     */
    private void cublasGemm(CUdeviceptr w, CUdeviceptr out, int rows, int cols, int tokens, boolean accumulate) {
        if (accumulate) {
            dev.timed("cublasGemmEx " + rows + "x" + cols + " +=",
                    () -> cublas.gemmAccumulate(w, bf16In, out, rows, cols, tokens));
        } else {
            dev.timed("cublasGemmEx " + rows + "x" + cols, () -> cublas.gemm(w, bf16In, out, rows, cols, tokens));
        }
    }

    private void matmul(CUdeviceptr w, CUdeviceptr in, CUdeviceptr out, int rows, int cols, int tokens) {
        if (tokens > MATMUL_TOKENS && options.tensorCores()) {
            if (cublas != null && cols % 8 == 0) {
                toBf16In(in, tokens, cols);
                cublasGemm(w, out, rows, cols, tokens, false);
            } else {
                gemm(dev, w, in, out, rows, cols, tokens);
            }
            return;
        }
        for (int t0 = 0; t0 < tokens; t0 += MATMUL_TOKENS) {
            int nt = Math.min(MATMUL_TOKENS, tokens - t0);
            matvec(w, in.withByteOffset(4L * t0 * cols), out.withByteOffset(4L * t0 * rows), rows, null, 0, null, 0,
                    cols, nt);
        }
    }

    /** Up to three stacked projections of the same (at most 8-token) input in one matvec launch. */
    private void matvec(CUdeviceptr w, CUdeviceptr in, CUdeviceptr out0, int rows0, CUdeviceptr out1, int rows1,
            CUdeviceptr out2, int rows2, int cols, int tokens) {
        matvec(dev, w, in, out0, rows0, out1, rows1, out2, rows2, cols, tokens);
    }

    /**
     * Queues a matvec (matmul.cu): out_k (tokens, rows_k) f32 = in (tokens ≤ 8, cols) f32 · the stacked
     * bf16 weights' rows; one token (decode) takes matmul_bf16_1t (two rows per warp), more take
     * matmul_bf16 (one row per warp).
     */
    public static void matvec(CudaDevice dev, CUdeviceptr w, CUdeviceptr in, CUdeviceptr out0, int rows0,
            CUdeviceptr out1, int rows1, CUdeviceptr out2, int rows2, int cols, int tokens) {
        matvec(dev, null, w, in, out0, rows0, out1, rows1, out2, rows2, cols, tokens);
    }

    /**
     * The same with a given kernel (null: the default for the token count): bench's matvec probe times
     * the two forms side by side at one token.
     */
    public static void matvec(CudaDevice dev, String kernel, CUdeviceptr w, CUdeviceptr in, CUdeviceptr out0,
            int rows0, CUdeviceptr out1, int rows1, CUdeviceptr out2, int rows2, int cols, int tokens) {
        if (tokens < 1 || tokens > MATMUL_TOKENS) {
            throw new IllegalArgumentException("a matvec launch serves 1.." + MATMUL_TOKENS + " tokens, not " + tokens);
        }
        String k = kernel != null ? kernel : tokens == 1 ? "matmul_bf16_1t" : "matmul_bf16";
        if (tokens > 1 && !k.equals("matmul_bf16")) {
            throw new IllegalArgumentException(k + " serves one token, not " + tokens);
        }
        int rows = rows0 + rows1 + rows2;
        int perBlock = k.equals("matmul_bf16") ? 8 : 16;
        dev.launchAsync(k, (rows + perBlock - 1) / perBlock, 256, 0, w, in, out0, out1, out2, rows0, rows1, rows2,
                cols, tokens);
    }

    @Override
    public void close() {
        if (stepHost != null) {
            stepHost.close();
        }
        if (stepCopied != null) {
            stepCopied.close();
        }
        try {
            if (cublas != null) {
                cublas.close();
            }
        } finally {
            owned.forEach(dev::free);
            owned.clear();
        }
    }

    /** Free list of the KV pool's page ids. */
    static final class PagePool {

        private final int[] free;
        private int top;

        PagePool(int pages) {
            free = new int[pages];
            for (int i = 0; i < pages; i++) {
                free[i] = pages - 1 - i;
            }
            top = pages;
        }

        synchronized int[] allocate(int n) {
            if (n > top) {
                throw new IllegalStateException("the device KV pool is out of pages (" + n + " wanted, " + top
                        + " free of " + free.length + "): too many resident sequences for its capacity");
            }
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = free[--top];
            }
            return out;
        }

        synchronized void release(int[] pages) {
            for (int p : pages) {
                free[top++] = p;
            }
        }
    }
}
