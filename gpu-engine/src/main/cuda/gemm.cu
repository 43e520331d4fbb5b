// Prefill GEMM on tensor cores: out[t, o] = Σ_i w[o, i] · x[t, i], bf16 × bf16 products with float32
// accumulation (WMMA 16×16×16). x (tokens, cols) f32 is rounded to bf16 as it is staged, as a bf16
// model in PyTorch rounds its activations; w (rows, cols) bf16 row-major; out (tokens, rows) f32.
// Launch: grid = (ceil(rows / 64), ceil(tokens / 64)), block = 128 (4 warps, 2×2 of them, each a
// 32×32 output tile = 2×2 fragments); K is walked 32 at a time through shared memory. Any sizes:
// out-of-range rows, tokens and columns are staged as zeros and never stored.
// Variants: this is the plain form (one shared-memory stage, no cp.async pipeline, no wgmma); it
// replaces up to 8-token matvec launches for chunks wider than 8 tokens. A Hopper wgmma/TMA kernel
// or cuBLAS through java.lang.foreign are the next steps for prefill throughput.
#include "common.cuh"
#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

#define GT 64   // tile of tokens (M)
#define GR 64   // tile of rows (N)
#define GK 32   // K step
#define GPAD 8  // bf16 padding per shared row (keeps 16-byte alignment, spreads banks)

extern "C" __global__ void __launch_bounds__(128) gemm_bf16_tc(const uint16_t* __restrict__ w,
                                                              const float* __restrict__ x,
                                                              float* __restrict__ out, int rows, int cols,
                                                              int tokens) {
    __shared__ __align__(32) __nv_bfloat16 xs[GT][GK + GPAD];
    __shared__ __align__(32) __nv_bfloat16 ws[GR][GK + GPAD];
    __shared__ __align__(32) float cs[4][32 * 32];
    const int r0 = blockIdx.x * GR, t0 = blockIdx.y * GT;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wt = (warp >> 1) * 32, wr = (warp & 1) * 32;  // this warp's 32×32 tile in the block tile

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    const bool vec = (cols & 7) == 0;
    for (int k0 = 0; k0 < cols; k0 += GK) {
        // stage x: 64 tokens × 32 columns, rounded to bf16
        for (int e = threadIdx.x; e < GT * GK / 4; e += blockDim.x) {
            int t = e / (GK / 4), k = (e % (GK / 4)) * 4;
            float v[4] = {0.f, 0.f, 0.f, 0.f};
            int tt = t0 + t;
            if (tt < tokens) {
                const float* src = x + (long long) tt * cols + k0 + k;
                if (vec && k0 + k + 3 < cols) {
                    float4 f = *reinterpret_cast<const float4*>(src);
                    v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
                } else {
                    for (int u = 0; u < 4; u++) v[u] = k0 + k + u < cols ? src[u] : 0.f;
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) xs[t][k + u] = __float2bfloat16_rn(v[u]);
        }
        // stage w: 64 rows × 32 columns, 8 bf16 per 16-byte load
        for (int e = threadIdx.x; e < GR * GK / 8; e += blockDim.x) {
            int r = e / (GK / 8), k = (e % (GK / 8)) * 8;
            int rr = r0 + r;
            uint4 packed = make_uint4(0, 0, 0, 0);
            if (rr < rows) {
                const uint16_t* src = w + (long long) rr * cols + k0 + k;
                if (vec && k0 + k + 7 < cols) {
                    packed = __ldg(reinterpret_cast<const uint4*>(src));
                } else {
                    union { uint4 v; uint16_t h[8]; } tail;
                    for (int u = 0; u < 8; u++) tail.h[u] = k0 + k + u < cols ? src[u] : 0;
                    packed = tail.v;
                }
            }
            *reinterpret_cast<uint4*>(&ws[r][k]) = packed;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b[2];
#pragma unroll
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], &xs[wt + 16 * i][kk], GK + GPAD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], &ws[wr + 16 * j][kk], GK + GPAD);
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    // through shared memory, so ragged edges are stored element by element
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(&cs[warp][(16 * i) * 32 + 16 * j], acc[i][j], 32, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < 32 * 32; e += 32) {
        int t = t0 + wt + e / 32, r = r0 + wr + e % 32;
        if (t < tokens && r < rows) out[(long long) t * rows + r] = cs[warp][e];
    }
}
