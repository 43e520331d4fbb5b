// out[t, o] = sum_i w[o, i] * x[t, i] with bf16 weights, float32 activations and accumulation.
// Shapes: w (rows, cols) bf16 row-major; x (tokens, cols) f32; out (tokens, rows) f32.
// Launch: grid = ceil(rows / 8), block = 256 (8 warps, one output row per warp); each warp streams
// its weight row once with 16-byte loads and applies it to every token (tokens ≤ 8 per launch; the
// caller splits larger batches). This is the memory-bound decode path (matvec); prefill wants a
// tensor-core GEMM (cuBLAS through java.lang.foreign or an mma kernel), not written yet.
#include "common.cuh"

#define MAX_TOKENS 8

extern "C" __global__ void matmul_bf16(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                       float* __restrict__ out, int rows, int cols, int tokens) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + warp;
    if (row >= rows) return;
    const uint16_t* wr = w + (long long) row * cols;
    float acc[MAX_TOKENS];
    for (int t = 0; t < MAX_TOKENS; t++) acc[t] = 0.f;
    // vector part: 8 bf16 (16 bytes) per lane per step when the row start is 16-byte aligned
    int vec_end = ((((uintptr_t) wr) & 15) == 0) ? (cols / 8) * 8 : 0;
    for (int i = lane * 8; i < vec_end; i += 32 * 8) {
        uint4 packed = *reinterpret_cast<const uint4*>(wr + i);
        const uint16_t* h = reinterpret_cast<const uint16_t*>(&packed);
        float wf[8];
        for (int k = 0; k < 8; k++) wf[k] = bf16_to_float(h[k]);
        for (int t = 0; t < tokens; t++) {
            const float* xt = x + (long long) t * cols + i;
            float s = 0.f;
            for (int k = 0; k < 8; k++) s += wf[k] * xt[k];
            acc[t] += s;
        }
    }
    for (int i = vec_end + lane; i < cols; i += 32) {
        float wf = bf16_to_float(wr[i]);
        for (int t = 0; t < tokens; t++) acc[t] += wf * x[(long long) t * cols + i];
    }
    for (int t = 0; t < tokens; t++) {
        float s = warp_sum(acc[t]);
        if (lane == 0) out[(long long) t * rows + row] = s;
    }
}
