package io.headroom.engine.backend.cuda;

import io.headroom.engine.backend.HeadKv;
import io.headroom.engine.backend.Kernels;
import io.headroom.engine.backend.KvSpan;
import io.headroom.engine.tensor.WeightTensor;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.driver.CUdeviceptr;

/**
 * The {@link Kernels} contract executed by Headroom's CUDA kernels. Weights are uploaded once, in
 * bf16 (f16 and f32 checkpoints are converted on upload), and stay on the device; activations
 * travel between host arrays and the device around every op. That round trip makes this adapter a
 * correctness path — it proves each kernel against the CPU reference and runs whole models on the
 * device — not the fast path: a device-resident forward pass (activations and KV kept on the GPU,
 * decode captured in CUDA graphs) is the next step of the CUDA backend.
 */
public final class CudaKernels implements Kernels, AutoCloseable {

    private static final int MATMUL_TOKENS = 8; // tokens per matmul_bf16 launch (MAX_TOKENS in matmul.cu)

    private final CudaDevice device;
    private final Map<WeightTensor, CUdeviceptr> weights = new IdentityHashMap<>();

    public CudaKernels(CudaDevice device) {
        this.device = device;
    }

    /** Opens the first CUDA device; fails with the reason when CUDA cannot run here. */
    public static CudaKernels open() {
        return new CudaKernels(CudaDevice.open(0));
    }

    @Override
    public String name() {
        return "cuda(" + device.name() + ")";
    }

    /** The weight on the device in bf16, uploaded on first use. */
    private synchronized CUdeviceptr weight(WeightTensor w) {
        return weights.computeIfAbsent(w, device::uploadBf16);
    }

    @Override
    public void embed(float[] out, WeightTensor table, int[] tokens) {
        int dim = table.cols();
        CUdeviceptr t = device.upload(tokens);
        CUdeviceptr o = device.alloc(4L * tokens.length * dim);
        try {
            device.launch("embedding_bf16", tokens.length, 256, 0, weight(table), t, o, dim);
            device.download(o, out, tokens.length * dim);
        } finally {
            device.free(t);
            device.free(o);
        }
    }

    @Override
    public void matmul(float[] out, float[] x, WeightTensor w, int tokens) {
        int rows = w.rows();
        int cols = w.cols();
        CUdeviceptr dw = weight(w);
        CUdeviceptr dx = device.upload(x, tokens * cols);
        CUdeviceptr dout = device.alloc(4L * tokens * rows);
        try {
            for (int t0 = 0; t0 < tokens; t0 += MATMUL_TOKENS) {
                int n = Math.min(MATMUL_TOKENS, tokens - t0);
                CudaLlamaModel.matvec(device, dw, dx.withByteOffset(4L * t0 * cols),
                        dout.withByteOffset(4L * t0 * rows), rows, null, 0, null, 0, cols, n);
            }
            device.synchronize("matvec over " + tokens + " tokens of (" + rows + ", " + cols + ")");
            device.download(dout, out, tokens * rows);
        } finally {
            device.free(dx);
            device.free(dout);
        }
    }

    @Override
    public void rmsnorm(float[] out, float[] x, float[] weight, int tokens, int dim, float eps) {
        CUdeviceptr dx = device.upload(x, tokens * dim);
        CUdeviceptr dw = device.upload(weight, dim);
        CUdeviceptr dout = device.alloc(4L * tokens * dim);
        try {
            device.launch("rmsnorm_f32", tokens, 256, 0, dx, dw, dout, dim, eps);
            device.download(dout, out, tokens * dim);
        } finally {
            device.free(dx);
            device.free(dw);
            device.free(dout);
        }
    }

    @Override
    public void rope(float[] x, int tokens, int heads, int headDim, float[] cos, float[] sin) {
        int half = headDim / 2;
        CUdeviceptr dx = device.upload(x, tokens * heads * headDim);
        CUdeviceptr dc = device.upload(cos, tokens * half);
        CUdeviceptr ds = device.upload(sin, tokens * half);
        try {
            device.launch("rope_f32", tokens * heads, Math.max(32, (half + 31) / 32 * 32), 0, dx, dc, ds, heads,
                    headDim);
            device.download(dx, x, tokens * heads * headDim);
        } finally {
            device.free(dx);
            device.free(dc);
            device.free(ds);
        }
    }

    @Override
    public void attention(float[] out, float[] q, int tokens, int startPos, int numHeads, int headDim, float scale,
            HeadKv[] kv) {
        int kvHeads = kv.length;
        int maxPositions = 1;
        for (HeadKv h : kv) {
            maxPositions = Math.max(maxPositions, h.positions());
        }
        // gather each KV head's spans into dense (positions, headDim) blocks with their positions
        float[] k = new float[kvHeads * maxPositions * headDim];
        float[] v = new float[kvHeads * maxPositions * headDim];
        int[] pos = new int[kvHeads * maxPositions];
        int[] count = new int[kvHeads];
        int[] streaming = new int[kvHeads];
        int sink = 0;
        int recent = 1;
        for (int g = 0; g < kvHeads; g++) {
            HeadKv h = kv[g];
            streaming[g] = h.streaming() ? 1 : 0;
            if (h.streaming()) {
                sink = h.sink();
                recent = h.recent();
            }
            int n = 0;
            for (KvSpan s : h.spans()) {
                for (int i = 0; i < s.count(); i++, n++) {
                    int base = (g * maxPositions + n) * headDim;
                    System.arraycopy(s.keys(), s.offset() + i * s.stride(), k, base, headDim);
                    System.arraycopy(s.values(), s.offset() + i * s.stride(), v, base, headDim);
                    pos[g * maxPositions + n] = s.firstPosition() + i;
                }
            }
            count[g] = n;
        }
        int qn = tokens * numHeads * headDim;
        CUdeviceptr dq = device.upload(q, qn);
        CUdeviceptr dk = device.upload(k, k.length);
        CUdeviceptr dv = device.upload(v, v.length);
        CUdeviceptr dp = device.upload(pos);
        CUdeviceptr dc = device.upload(count);
        CUdeviceptr ds = device.upload(streaming);
        CUdeviceptr dout = device.alloc(4L * qn);
        try {
            device.launch("attention_f32", tokens * numHeads, 128, 4 * maxPositions, dq, dk, dv, dp, dc, ds, dout,
                    numHeads, kvHeads, headDim, maxPositions, startPos, sink, recent, scale);
            device.download(dout, out, qn);
        } finally {
            for (CUdeviceptr p : new CUdeviceptr[] {dq, dk, dv, dp, dc, ds, dout}) {
                device.free(p);
            }
        }
    }

    @Override
    public void siluGate(float[] gate, float[] up, int n) {
        CUdeviceptr dg = device.upload(gate, n);
        CUdeviceptr du = device.upload(up, n);
        try {
            device.launch("silu_gate_f32", (n + 255) / 256, 256, 0, dg, du, n);
            device.download(dg, gate, n);
        } finally {
            device.free(dg);
            device.free(du);
        }
    }

    @Override
    public void add(float[] acc, float[] x, int n) {
        CUdeviceptr da = device.upload(acc, n);
        CUdeviceptr dx = device.upload(x, n);
        try {
            device.launch("add_f32", (n + 255) / 256, 256, 0, da, dx, n);
            device.download(da, acc, n);
        } finally {
            device.free(da);
            device.free(dx);
        }
    }

    @Override
    public void addBias(float[] x, float[] bias, int tokens, int dim) {
        CUdeviceptr dx = device.upload(x, tokens * dim);
        CUdeviceptr db = device.upload(bias, dim);
        try {
            device.launch("add_bias_f32", (tokens * dim + 255) / 256, 256, 0, dx, db, tokens, dim);
            device.download(dx, x, tokens * dim);
        } finally {
            device.free(dx);
            device.free(db);
        }
    }

    @Override
    public synchronized void close() {
        weights.values().forEach(device::free);
        weights.clear();
        device.close();
    }
}
