package io.headroom.engine.backend.cuda;

import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.tensor.WeightTensor;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * The Llama forward pass with everything resident on the device: bf16 weights, float32
 * activations and a full-attention KV cache ({@code (kvHeads, capacity, headDim)} per layer). Per
 * chunk the host uploads only the token ids and the rotary tables, queues the kernels without
 * waiting between them, and downloads the last position's logits. Full attention only for now
 * (every head a retrieval head); DuoAttention on the device runs through {@link CudaKernels}.
 */
public final class CudaLlamaModel implements AutoCloseable {

    private static final int MATMUL_TOKENS = 8;

    private final CudaDevice dev;
    private final ModelConfig c;
    private final int capacity;
    private final int maxChunk;
    private final float[] invFreq;
    private final List<CUdeviceptr> owned = new ArrayList<>();
    private final CUdeviceptr embedding;
    private final CUdeviceptr lmHead;
    private final CUdeviceptr finalNorm;
    private final DeviceLayer[] layers;
    // activations, sized for maxChunk tokens
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
    private final CUdeviceptr positions; // (kvHeads, capacity): slot j holds position j
    private final CUdeviceptr counts;    // (kvHeads)
    private int length;
    private CUdeviceptr streamingFlags; // (kvHeads) zeros, uploaded on first use

    private record DeviceLayer(CUdeviceptr attnNorm, CUdeviceptr wq, CUdeviceptr wk, CUdeviceptr wv, CUdeviceptr wo,
            CUdeviceptr bq, CUdeviceptr bk, CUdeviceptr bv, CUdeviceptr bo, CUdeviceptr mlpNorm, CUdeviceptr wg,
            CUdeviceptr wu, CUdeviceptr wd, CUdeviceptr keys, CUdeviceptr values) {
    }

    public CudaLlamaModel(CudaDevice dev, ModelConfig config, LlamaWeights w, int capacity, int maxChunk) {
        this.dev = dev;
        this.c = config;
        this.capacity = Math.min(capacity, config.maxPositions());
        this.maxChunk = maxChunk;
        this.invFreq = config.ropeInverseFrequencies();
        this.embedding = bf16(w.embedding());
        this.lmHead = w.lmHead() == w.embedding() ? embedding : bf16(w.lmHead());
        this.finalNorm = f32(w.finalNorm());
        this.layers = new DeviceLayer[config.numLayers()];
        long kvBytes = 4L * config.numKvHeads() * this.capacity * config.headDim();
        for (int l = 0; l < layers.length; l++) {
            LlamaWeights.Layer lw = w.layers().get(l);
            layers[l] = new DeviceLayer(f32(lw.attnNorm()), bf16(lw.wq()), bf16(lw.wk()), bf16(lw.wv()), bf16(lw.wo()),
                    f32(lw.bq()), f32(lw.bk()), f32(lw.bv()), f32(lw.bo()), f32(lw.mlpNorm()), bf16(lw.wGate()),
                    bf16(lw.wUp()), bf16(lw.wDown()), own(dev.alloc(kvBytes)), own(dev.alloc(kvBytes)));
        }
        int n = maxChunk;
        x = own(dev.alloc(4L * n * c.hiddenSize()));
        xb = own(dev.alloc(4L * n * c.hiddenSize()));
        q = own(dev.alloc(4L * n * c.qDim()));
        k = own(dev.alloc(4L * n * c.kvDim()));
        v = own(dev.alloc(4L * n * c.kvDim()));
        att = own(dev.alloc(4L * n * c.qDim()));
        proj = own(dev.alloc(4L * n * c.hiddenSize()));
        gate = own(dev.alloc(4L * n * c.intermediateSize()));
        up = own(dev.alloc(4L * n * c.intermediateSize()));
        logits = own(dev.alloc(4L * c.vocabSize()));
        int[] pos = new int[c.numKvHeads() * this.capacity];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = i % this.capacity;
        }
        positions = own(dev.upload(pos));
        counts = own(dev.alloc(4L * c.numKvHeads()));
    }

    private CUdeviceptr own(CUdeviceptr p) {
        owned.add(p);
        return p;
    }

    private CUdeviceptr f32(float[] a) {
        return a == null ? null : own(dev.upload(a, a.length));
    }

    private CUdeviceptr bf16(WeightTensor t) {
        return own(dev.uploadBf16(t));
    }

    public int length() {
        return length;
    }

    /** Runs {@code tokens} (at most maxChunk) at positions {@code length()..}; returns the last row's logits. */
    public float[] forward(int[] tokens) {
        int n = tokens.length;
        if (n < 1 || n > maxChunk) {
            throw new IllegalArgumentException("chunk of " + n + " tokens; this model takes 1.." + maxChunk);
        }
        if (length + n > capacity) {
            throw new IllegalStateException("context of " + (length + n) + " tokens exceeds the device KV capacity of "
                    + capacity);
        }
        int h = c.hiddenSize();
        int hd = c.headDim();
        int half = hd / 2;
        float[][] rotary = c.ropeTables(invFreq, length, n);
        float[] cos = rotary[0];
        float[] sin = rotary[1];
        CUdeviceptr dTokens = dev.upload(tokens);
        CUdeviceptr dCos = dev.upload(cos, cos.length);
        CUdeviceptr dSin = dev.upload(sin, sin.length);
        int[] count = new int[c.numKvHeads()];
        java.util.Arrays.fill(count, length + n);
        CUdeviceptr dCount = dev.upload(count);
        try {
            dev.launchAsync("embedding_bf16", n, 256, 0, embedding, dTokens, x, h);
            float scale = (float) (1 / Math.sqrt(hd));
            for (DeviceLayer layer : layers) {
                dev.launchAsync("rmsnorm_f32", n, 256, 0, x, layer.attnNorm, xb, h, c.rmsNormEps());
                matmul(layer.wq, xb, q, c.qDim(), h, n);
                matmul(layer.wk, xb, k, c.kvDim(), h, n);
                matmul(layer.wv, xb, v, c.kvDim(), h, n);
                if (layer.bq != null) {
                    bias(q, layer.bq, n, c.qDim());
                    bias(k, layer.bk, n, c.kvDim());
                    bias(v, layer.bv, n, c.kvDim());
                }
                int ropeBlock = Math.max(32, (half + 31) / 32 * 32);
                dev.launchAsync("rope_f32", n * c.numHeads(), ropeBlock, 0, q, dCos, dSin, c.numHeads(), hd);
                dev.launchAsync("rope_f32", n * c.numKvHeads(), ropeBlock, 0, k, dCos, dSin, c.numKvHeads(), hd);
                dev.launchAsync("kv_write_f32", n * c.numKvHeads(), Math.max(32, (hd + 31) / 32 * 32), 0, k, v,
                        layer.keys, layer.values, c.numKvHeads(), hd, capacity, length);
                dev.launchAsync("attention_f32", n * c.numHeads(), 128, 4 * (length + n), q, layer.keys, layer.values,
                        positions, dCount, allRetrievalFlags(), att, c.numHeads(), c.numKvHeads(), hd, capacity,
                        length, 0, 1, scale);
                matmul(layer.wo, att, proj, h, c.qDim(), n);
                if (layer.bo != null) {
                    bias(proj, layer.bo, n, h);
                }
                dev.launchAsync("add_f32", (n * h + 255) / 256, 256, 0, x, proj, n * h);
                dev.launchAsync("rmsnorm_f32", n, 256, 0, x, layer.mlpNorm, xb, h, c.rmsNormEps());
                matmul(layer.wg, xb, gate, c.intermediateSize(), h, n);
                matmul(layer.wu, xb, up, c.intermediateSize(), h, n);
                int ni = n * c.intermediateSize();
                dev.launchAsync("silu_gate_f32", (ni + 255) / 256, 256, 0, gate, up, ni);
                matmul(layer.wd, gate, proj, h, c.intermediateSize(), n);
                dev.launchAsync("add_f32", (n * h + 255) / 256, 256, 0, x, proj, n * h);
            }
            CUdeviceptr last = x.withByteOffset(4L * (n - 1) * h);
            dev.launchAsync("rmsnorm_f32", 1, 256, 0, last, finalNorm, xb, h, c.rmsNormEps());
            matmul(lmHead, xb, logits, c.vocabSize(), h, 1);
            float[] out = new float[c.vocabSize()];
            dev.download(logits, out, out.length); // synchronous: waits for the queued work
            dev.synchronize("forward of " + n + " tokens at position " + length);
            length += n;
            return out;
        } finally {
            dev.free(dTokens);
            dev.free(dCos);
            dev.free(dSin);
            dev.free(dCount);
        }
    }

    /** Per-KV-head streaming flags: all zero (full attention). */
    private CUdeviceptr allRetrievalFlags() {
        if (streamingFlags == null) {
            streamingFlags = own(dev.upload(new int[c.numKvHeads()]));
        }
        return streamingFlags;
    }

    private void matmul(CUdeviceptr w, CUdeviceptr in, CUdeviceptr out, int rows, int cols, int tokens) {
        for (int t0 = 0; t0 < tokens; t0 += MATMUL_TOKENS) {
            int nt = Math.min(MATMUL_TOKENS, tokens - t0);
            dev.launchAsync("matmul_bf16", (rows + 7) / 8, 256, 0, w, in.withByteOffset(4L * t0 * cols),
                    out.withByteOffset(4L * t0 * rows), rows, cols, nt);
        }
    }

    private void bias(CUdeviceptr xs, CUdeviceptr b, int tokens, int dim) {
        dev.launchAsync("add_bias_f32", (tokens * dim + 255) / 256, 256, 0, xs, b, tokens, dim);
    }

    @Override
    public void close() {
        owned.forEach(dev::free);
        owned.clear();
    }
}
