// out[t, o] = sum_i w[o, i] * x[t, i] with bf16 weights, float32 activations and accumulation.
// Shapes: w (rows, cols) bf16 row-major; x (tokens, cols) f32; out (tokens, rows) f32.
// Several projections of the same input in one launch: w holds rows0 + rows1 + rows2 rows (the
// matrices stacked), and output row o goes to out0 (o < rows0), out1 or out2, each (tokens, rows_k):
// q/k/v and gate/up are one launch each in decode.
// Launch: grid = ceil(rows / 8), block = 256 (8 warps, one output row per warp); each warp streams
// its weight row once with 16-byte loads and applies it to every token (tokens ≤ 8 per launch; the
// caller splits larger batches). This is the memory-bound decode path (matvec).
// Variants (H100, Llama-1B geometry decode, see src/docs/bench/cuda-decode.md): one 16-byte load
// per lane per step, used at once, reached ~700 GB/s of weights; issuing four loads before using
// them (more bytes in flight per warp) is the form below. Prefill's large batches want a
// tensor-core GEMM instead.
#include "common.cuh"

#define MAX_TOKENS 8
#define UNROLL 4

__device__ __forceinline__ void fma8(const uint4 packed, const float* __restrict__ x, long long cols, int tokens,
                                     float* acc) {
    const uint32_t* h = reinterpret_cast<const uint32_t*>(&packed);
    float wf[8];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        wf[2 * k] = __uint_as_float(h[k] << 16);
        wf[2 * k + 1] = __uint_as_float(h[k] & 0xffff0000u);
    }
#pragma unroll
    for (int t = 0; t < MAX_TOKENS; t++) {
        if (t < tokens) {
            const float4 a = *reinterpret_cast<const float4*>(x + t * cols);
            const float4 b = *reinterpret_cast<const float4*>(x + t * cols + 4);
            acc[t] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w
                    + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
        }
    }
}

extern "C" __global__ void matmul_bf16(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                       float* __restrict__ out0, float* __restrict__ out1, float* __restrict__ out2,
                                       int rows0, int rows1, int rows2, int cols, int tokens) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + warp;
    if (row >= rows0 + rows1 + rows2) return;
    float* out;
    int rows, orow;
    if (row < rows0) {
        out = out0; rows = rows0; orow = row;
    } else if (row < rows0 + rows1) {
        out = out1; rows = rows1; orow = row - rows0;
    } else {
        out = out2; rows = rows2; orow = row - rows0 - rows1;
    }
    const uint16_t* wr = w + (long long) row * cols;
    float acc[MAX_TOKENS];
#pragma unroll
    for (int t = 0; t < MAX_TOKENS; t++) acc[t] = 0.f;
    // vector part: 8 bf16 (16 bytes) per lane per step when rows and x start 16-byte aligned
    bool aligned = ((((uintptr_t) wr) & 15) == 0) && ((((uintptr_t) x) & 15) == 0) && (cols % 4 == 0);
    int vec_end = aligned ? (cols / 8) * 8 : 0;
    int i = lane * 8;
    for (; i + (UNROLL - 1) * 256 < vec_end; i += UNROLL * 256) {
        uint4 p[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) p[u] = __ldg(reinterpret_cast<const uint4*>(wr + i + u * 256));
#pragma unroll
        for (int u = 0; u < UNROLL; u++) fma8(p[u], x + i + u * 256, cols, tokens, acc);
    }
    for (; i < vec_end; i += 256) {
        fma8(__ldg(reinterpret_cast<const uint4*>(wr + i)), x + i, cols, tokens, acc);
    }
    for (int j = vec_end + lane; j < cols; j += 32) {
        float wf = bf16_to_float(wr[j]);
        for (int t = 0; t < tokens; t++) acc[t] += wf * x[(long long) t * cols + j];
    }
#pragma unroll
    for (int t = 0; t < MAX_TOKENS; t++) {
        if (t < tokens) {
            float s = warp_sum(acc[t]);
            if (lane == 0) out[(long long) t * rows + orow] = s;
        }
    }
}
