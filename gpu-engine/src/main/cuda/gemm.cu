// Prefill GEMM on tensor cores: out[t, o] = Σ_i w[o, i] · x[t, i], bf16 × bf16 products with float32
// accumulation (WMMA 16×16×16). x (tokens, cols) f32 is rounded to bf16 as it is staged, as a bf16
// model in PyTorch rounds its activations; w (rows, cols) bf16 row-major; out (tokens, rows) f32.
// Launch: grid = (ceil(rows / 128), ceil(tokens / 128)), block = 256 (8 warps, 2 along tokens × 4
// along rows, each a 64×32 output tile = 4×2 fragments); K is walked 32 at a time through two
// shared-memory stages: the next step's tiles are loaded from global memory into registers while
// the tensor cores work on the current stage (one barrier per step). Any sizes: out-of-range rows,
// tokens and columns are staged as zeros and never stored; full fragments are stored straight to
// global memory, edge fragments through shared memory.
// Variants: the first form (64×64 tiles, 4 warps, one stage, two barriers per step) ran at about
// 58 TFLOPS in an 8B prefill on the H100 (estimated from full vs Duo prefill times); this form at
// 128–133 TFLOPS on 8192×8192 × 4096 tokens (bench's gemm_bf16_tc_tflops). Hopper wgmma/TMA or
// cuBLAS through java.lang.foreign are the next steps.
#include "common.cuh"
#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

#define GT 128  // tile of tokens (M)
#define GR 128  // tile of rows (N)
#define GK 32   // K step
#define GLD (GK + 8)  // bf16 shared row stride (16-byte multiple, spreads banks)

// Global → registers for one K step: x 128×32 f32 (4 float4 per thread), w 128×32 bf16 (2 uint4).
struct GemmRegs {
    float4 x[4];
    uint4 w[2];
};

__device__ __forceinline__ void gemm_load(GemmRegs& g, const uint16_t* __restrict__ w, const float* __restrict__ x,
                                          int rows, int cols, int tokens, int r0, int t0, int k0, bool vec) {
#pragma unroll
    for (int u = 0; u < 4; u++) {
        const int e = threadIdx.x + u * 256;  // 128 tokens × 8 float4
        const int t = e >> 3, k = (e & 7) * 4;
        const int tt = t0 + t, kk = k0 + k;
        float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
        if (tt < tokens) {
            const float* src = x + (long long) tt * cols + kk;
            if (vec && kk + 3 < cols) {
                f = *reinterpret_cast<const float4*>(src);
            } else {
                f.x = kk < cols ? src[0] : 0.f;
                f.y = kk + 1 < cols ? src[1] : 0.f;
                f.z = kk + 2 < cols ? src[2] : 0.f;
                f.w = kk + 3 < cols ? src[3] : 0.f;
            }
        }
        g.x[u] = f;
    }
#pragma unroll
    for (int u = 0; u < 2; u++) {
        const int e = threadIdx.x + u * 256;  // 128 rows × 4 uint4
        const int r = e >> 2, k = (e & 3) * 8;
        const int rr = r0 + r, kk = k0 + k;
        uint4 packed = make_uint4(0, 0, 0, 0);
        if (rr < rows) {
            const uint16_t* src = w + (long long) rr * cols + kk;
            if (vec && kk + 7 < cols) {
                packed = __ldg(reinterpret_cast<const uint4*>(src));
            } else {
                union { uint4 v; uint16_t h[8]; } tail;
                for (int q = 0; q < 8; q++) tail.h[q] = kk + q < cols ? src[q] : 0;
                packed = tail.v;
            }
        }
        g.w[u] = packed;
    }
}

__device__ __forceinline__ uint32_t gemm_bf16x2(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ void gemm_store(const GemmRegs& g, __nv_bfloat16* xs, __nv_bfloat16* ws) {
#pragma unroll
    for (int u = 0; u < 4; u++) {
        const int e = threadIdx.x + u * 256;
        const int t = e >> 3, k = (e & 7) * 4;
        *reinterpret_cast<uint2*>(xs + t * GLD + k) =
            make_uint2(gemm_bf16x2(g.x[u].x, g.x[u].y), gemm_bf16x2(g.x[u].z, g.x[u].w));
    }
#pragma unroll
    for (int u = 0; u < 2; u++) {
        const int e = threadIdx.x + u * 256;
        const int r = e >> 2, k = (e & 3) * 8;
        *reinterpret_cast<uint4*>(ws + r * GLD + k) = g.w[u];
    }
}

extern "C" __global__ void __launch_bounds__(256) gemm_bf16_tc(const uint16_t* __restrict__ w,
                                                              const float* __restrict__ x,
                                                              float* __restrict__ out, int rows, int cols,
                                                              int tokens) {
    // two stages of x (GT × GLD) and w (GR × GLD) bf16; after the K loop, 8 warps × 16×16 f32 edge tiles
    __shared__ __align__(128) unsigned char smem[2 * (GT + GR) * GLD * 2];
    __nv_bfloat16* stage = reinterpret_cast<__nv_bfloat16*>(smem);
    const int r0 = blockIdx.x * GR, t0 = blockIdx.y * GT;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wt = (warp >> 2) * 64, wr = (warp & 3) * 32;  // this warp's 64×32 tile in the block tile

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    const bool vec = (cols & 7) == 0;
    GemmRegs g;
    gemm_load(g, w, x, rows, cols, tokens, r0, t0, 0, vec);
    gemm_store(g, stage, stage + GT * GLD);
    __syncthreads();
    int cur = 0;
    for (int k0 = 0; k0 < cols; k0 += GK) {
        const bool more = k0 + GK < cols;
        if (more) gemm_load(g, w, x, rows, cols, tokens, r0, t0, k0 + GK, vec);
        const __nv_bfloat16* xs = stage + cur * (GT + GR) * GLD;
        const __nv_bfloat16* ws = xs + GT * GLD;
#pragma unroll
        for (int kk = 0; kk < GK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b[2];
#pragma unroll
            for (int i = 0; i < 4; i++) wmma::load_matrix_sync(a[i], xs + (wt + 16 * i) * GLD + kk, GLD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], ws + (wr + 16 * j) * GLD + kk, GLD);
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        if (more) {
            // the other stage was last read in the previous step, before this step's barrier
            __nv_bfloat16* next = stage + (cur ^ 1) * (GT + GR) * GLD;
            gemm_store(g, next, next + GT * GLD);
        }
        __syncthreads();
        cur ^= 1;
    }
    // full fragments straight to global memory (needs a 32-byte aligned row stride), edges through shared
    float* edge = reinterpret_cast<float*>(smem) + warp * 256;
    const bool direct = (rows & 7) == 0;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int t = t0 + wt + 16 * i, r = r0 + wr + 16 * j;
            if (t >= tokens || r >= rows) continue;
            if (direct && t + 16 <= tokens && r + 16 <= rows) {
                wmma::store_matrix_sync(out + (long long) t * rows + r, acc[i][j], rows, wmma::mem_row_major);
            } else {
                wmma::store_matrix_sync(edge, acc[i][j], 16, wmma::mem_row_major);
                __syncwarp();
                for (int e = lane; e < 256; e += 32) {
                    const int tt = t + e / 16, rr = r + e % 16;
                    if (tt < tokens && rr < rows) out[(long long) tt * rows + rr] = edge[e];
                }
                __syncwarp();
            }
        }
}
