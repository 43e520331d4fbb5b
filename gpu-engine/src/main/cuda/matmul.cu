// out[t, o] = sum_i w[o, i] * x[t, i] with bf16 weights, float32 activations and accumulation.
// Shapes: w (rows, cols) bf16 row-major; x (tokens, cols) f32; out (tokens, rows) f32.
// Several projections of the same input in one launch: w holds rows0 + rows1 + rows2 rows (the
// matrices stacked), and output row o goes to out0 (o < rows0), out1 or out2, each (tokens, rows_k):
// q/k/v and gate/up are one launch each in decode.
// Launch: matmul_bf16 (up to 8 tokens): grid = ceil(rows / 8), block = 256, one output row per
// warp; matmul_bf16_1t (decode, one token): grid = ceil(rows / 16), block = 256, two rows per warp.
// Each warp streams its weight rows once with 16-byte loads and applies them to every token (the
// caller splits larger batches). This is the memory-bound decode path (matvec).
// Variants (H100): one 16-byte load per lane per step, used at once, reached ~700 GB/s of weights
// (Llama-1B geometry, src/docs/bench/cuda-decode.md); issuing four loads before using them reached
// ~1.75 TB/s at the 8B geometry (79 registers for the 8-token accumulators: 24 warps per SM). The
// one-token form with two rows per warp (8 loads in flight per lane, 60 registers, 32 warps per SM)
// read 2.84 / 2.46 TB/s on 28672×4096 / 4096×14336 where the 8-token form read 1.88 / 1.21 (bench's
// matvec probe, 5563b71, same run). Prefill's large batches take the tensor-core GEMM (gemm.cu).
#include "common.cuh"

#define MAX_TOKENS 8
#define UNROLL 4

// this lane's 8 weights of each of R rows (16 bytes each) applied to x[t, i .. i + 8) for every token:
// x is read once for the R rows
template <int R, int T>
__device__ __forceinline__ void fma8(const uint4* packed, const float* __restrict__ x, long long cols, int tokens,
                                     float (*acc)[T]) {
    float wf[R][8];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const uint32_t* h = reinterpret_cast<const uint32_t*>(&packed[r]);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            wf[r][2 * k] = __uint_as_float(h[k] << 16);
            wf[r][2 * k + 1] = __uint_as_float(h[k] & 0xffff0000u);
        }
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
        if (t < tokens) {
            const float4 a = *reinterpret_cast<const float4*>(x + t * cols);
            const float4 b = *reinterpret_cast<const float4*>(x + t * cols + 4);
#pragma unroll
            for (int r = 0; r < R; r++) {
                acc[r][t] += wf[r][0] * a.x + wf[r][1] * a.y + wf[r][2] * a.z + wf[r][3] * a.w
                           + wf[r][4] * b.x + wf[r][5] * b.y + wf[r][6] * b.z + wf[r][7] * b.w;
            }
        }
    }
}

// A matvec without a prologue (see NormPrologue).
struct NoPrologue {
    static constexpr bool PEELED = false, BLOCK_WIDE = false;
    __device__ void operator()() const {}
};

// The prologue of a fused decode kernel that reads x as it is: wait for the kernel that wrote it
// (programmatic dependent launch, common.cuh) while the first weight loads are in flight.
struct GridWait {
    static constexpr bool PEELED = true, BLOCK_WIDE = false;
    __device__ void operator()() const { wait_prior_grid(); }
};

// The warp's dot products of R weight rows (wr) with up to T tokens of x, per lane (acc; warp_sum
// completes them): U · R 16-byte weight loads in flight per lane, x read once per R rows. `pre` runs
// once, after the first batch of weight loads is issued and before x is read: a prologue that makes
// x (decode's fused RMSNorm) overlaps those loads; PEELED: there is one. A BLOCK_WIDE prologue is
// reached by every thread. allow_next_grid once the weights are read (the next kernel may start).
template <int R, int T, int U = UNROLL, class Pre = NoPrologue>
__device__ __forceinline__ void matvec_acc(const uint16_t* const (&wr)[R], const float* __restrict__ x, int cols,
                                           int tokens, float (&acc)[R][T], Pre pre = Pre()) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int t = 0; t < T; t++) acc[r][t] = 0.f;
    }
    // vector part: 8 bf16 (16 bytes) per lane per step when rows and x start 16-byte aligned (all R
    // rows are rows of one matrix: with cols % 8 == 0 they are aligned when the first is)
    const bool aligned = ((((uintptr_t) wr[0]) & 15) == 0) && ((((uintptr_t) x) & 15) == 0) && (cols % 8 == 0);
    const int vec_end = aligned ? cols : 0;
    int i = lane * 8;
    // one batch: U · R loads issued together, then used
    auto load = [&](uint4 (&p)[U][R]) {
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int r = 0; r < R; r++) p[u][r] = __ldg(reinterpret_cast<const uint4*>(wr[r] + i + u * 256));
        }
    };
    auto use = [&](const uint4 (&p)[U][R]) {
#pragma unroll
        for (int u = 0; u < U; u++) fma8<R, T>(p[u], x + i + u * 256, cols, tokens, acc);
    };
    if constexpr (Pre::PEELED) {  // peeled only where there is a prologue (registers of the others)
        uint4 p[U][R];
        const bool batch = i + (U - 1) * 256 < vec_end;
        if (batch) load(p);
        pre();
        if (batch) {
            use(p);
            i += U * 256;
        }
    }
    for (; i + (U - 1) * 256 < vec_end; i += U * 256) {
        uint4 p[U][R];
        load(p);
        use(p);
    }
    for (; i < vec_end; i += 256) {
        uint4 p[R];
#pragma unroll
        for (int r = 0; r < R; r++) p[r] = __ldg(reinterpret_cast<const uint4*>(wr[r] + i));
        fma8<R, T>(p, x + i, cols, tokens, acc);
    }
    for (int j = vec_end + lane; j < cols; j += 32) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            const float wf = bf16_to_float(wr[r][j]);
            for (int t = 0; t < tokens; t++) acc[r][t] += wf * x[(long long) t * cols + j];
        }
    }
    allow_next_grid();
}

// R consecutive output rows per warp, up to T tokens; rows past the end repeat the last row's loads
// and write nothing. ADD: out += the product (the residual add of decode's fused forms), else out =.
// `bias` (may be null, only with ADD and one token): added to the product first.
template <int R, int T, bool ADD = false, int U = UNROLL, class Pre = NoPrologue>
__device__ __forceinline__ void matvec_rows(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                            float* __restrict__ out0, float* __restrict__ out1,
                                            float* __restrict__ out2, int rows0, int rows1, int rows2, int cols,
                                            int tokens, const float* __restrict__ bias = nullptr, Pre pre = Pre()) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int total = rows0 + rows1 + rows2;
    const int first = (blockIdx.x * (blockDim.x >> 5) + warp) * R;
    if (!Pre::BLOCK_WIDE && first >= total) return;  // a block-wide prologue needs every warp
    const uint16_t* wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = w + (long long) min(first + r, total - 1) * cols;
    float acc[R][T];
    matvec_acc<R, T, U>(wr, x, cols, tokens, acc, pre);
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int row = first + r;
        float* out;
        int rows, orow;
        if (row < rows0) {
            out = out0; rows = rows0; orow = row;
        } else if (row < rows0 + rows1) {
            out = out1; rows = rows1; orow = row - rows0;
        } else {
            out = out2; rows = rows2; orow = row - rows0 - rows1;
        }
#pragma unroll
        for (int t = 0; t < T; t++) {
            if (t < tokens) {
                const float s = warp_sum(acc[r][t]);
                if (lane == 0 && row < total) {
                    float* o = out + (long long) t * rows + orow;
                    if constexpr (ADD) {
                        *o += bias != nullptr ? s + bias[orow] : s;
                    } else {
                        *o = s;
                    }
                }
            }
        }
    }
}

// grid = ceil(rows / 8), block = 256: one row per warp, up to 8 tokens
extern "C" __global__ void matmul_bf16(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                       float* __restrict__ out0, float* __restrict__ out1, float* __restrict__ out2,
                                       int rows0, int rows1, int rows2, int cols, int tokens) {
    matvec_rows<1, MAX_TOKENS>(w, x, out0, out1, out2, rows0, rows1, rows2, cols, tokens);
}

// The decode form (one token): grid = ceil(rows / 16), block = 256, two rows per warp. Fewer
// registers than matmul_bf16 (no 8-token accumulators), so more warps per SM, each with twice the
// weight bytes in flight. (Also tried, e92736a: one row × 8 loads and two rows × 8 loads in flight
// per lane, timed per projection at model load: all three within 3% on the H100, so only this one
// is kept.)
extern "C" __global__ void matmul_bf16_1t(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                          float* __restrict__ out0, float* __restrict__ out1,
                                          float* __restrict__ out2, int rows0, int rows1, int rows2, int cols,
                                          int tokens) {
    matvec_rows<2, 1>(w, x, out0, out1, out2, rows0, rows1, rows2, cols, 1);
}

// ---------------------------------------------------------------------------------------------
// Decode's fused forms (one token). A decode step of the 8B geometry was 11 launches per layer, 7 of
// them small kernels; these take the RMSNorm into the projection that reads it (every block
// normalises the one row of x into shared memory: 16 KB of x and of the norm weight from L2, against
// 128 KB of weights per block), the SwiGLU gate into the gate/up projection, and the residual add into
// the projections that write the residual stream: 7 launches per layer, the same arithmetic in the
// same order (the tests compare them bit for bit). Measured (H100, 8B at 32K, graph replay): the
// fusion alone did not change the step (8.23 ms either way, 381be0d; in a graph the small kernels
// cost little, and the norm delayed each block's weight loads); what did is below: the prologue
// overlapping the first loads, and one row per warp in the residual form
// (src/docs/bench/cuda-resident.md, "Decode: fused kernels and one-wave split-K"); and launching
// them programmatically (common.cuh: each issues its first weight loads, then waits for the kernel
// before it), 8B full 32K 7.68 vs 7.94 ms plain, cc9e58e ("Decode: programmatic dependent launch").

// out (shared, cols floats) = rmsnorm(x) · nw, in the same arithmetic as rmsnorm.cu's rows:
// w · (x · rsqrt(mean(x²) + eps)). Every thread of the block takes part; cols % 4 == 0 and x, nw
// 16-byte aligned (the host checks).
__device__ __forceinline__ void rmsnorm_to_shared(const float* __restrict__ x, const float* __restrict__ nw,
                                                  float* xs, int cols, float eps) {
    __shared__ float scratch[32];
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float ss = 0.f;
    for (int i = threadIdx.x; i < cols / 4; i += blockDim.x) {
        const float4 v = x4[i];
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    ss = block_sum(ss, scratch);
    const float inv = rsqrtf(ss / cols + eps);
    for (int i = threadIdx.x; i < cols / 4; i += blockDim.x) {
        const float4 v = x4[i], w = reinterpret_cast<const float4*>(nw)[i];
        reinterpret_cast<float4*>(xs)[i] =
            make_float4(w.x * (v.x * inv), w.y * (v.y * inv), w.z * (v.z * inv), w.w * (v.w * inv));
    }
    __syncthreads();
}

// The fused RMSNorm as a matvec prologue: runs while the block's first weight loads are in flight
// (ncu, H100, 8B q|k|v at 6144 × 4096: 1.96 TB/s with the norm before any load).
struct NormPrologue {
    static constexpr bool PEELED = true, BLOCK_WIDE = true;
    const float* x;
    const float* nw;
    float* xs;
    int cols;
    float eps;
    __device__ void operator()() const {
        wait_prior_grid();  // x is the previous kernel's (programmatic dependent launch)
        rmsnorm_to_shared(x, nw, xs, cols, eps);
    }
};

// out_k = W_k · (rmsnorm(x) · nw) for stacked projections (q|k|v, or the LM head): grid = ceil(rows / 16),
// block = 256, dynamic shared memory 4 · cols bytes.
extern "C" __global__ void matmul_bf16_1t_norm(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                               const float* __restrict__ nw, float eps, float* __restrict__ out0,
                                               float* __restrict__ out1, float* __restrict__ out2, int rows0,
                                               int rows1, int rows2, int cols) {
    extern __shared__ float4 mv_xs[];
    float* xs = reinterpret_cast<float*>(mv_xs);
    matvec_rows<2, 1>(w, xs, out0, out1, out2, rows0, rows1, rows2, cols, 1, nullptr,
                      NormPrologue{x, nw, xs, cols, eps});
}

// act[i] = silu(g_i) · u_i with g = W_gate · xn, u = W_up · xn, xn = rmsnorm(x) · nw; w stacks W_gate
// (ni rows) over W_up (ni rows), and warp i takes rows i and ni + i. grid = ceil(ni / 8), block = 256,
// dynamic shared memory 4 · cols bytes.
extern "C" __global__ void matmul_bf16_1t_norm_swiglu(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                                      const float* __restrict__ nw, float eps,
                                                      float* __restrict__ act, int ni, int cols) {
    extern __shared__ float4 mv_xs[];
    float* xs = reinterpret_cast<float*>(mv_xs);
    const int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int row = min(i, ni - 1);  // every warp reaches the prologue's barrier; past ni it writes nothing
    const uint16_t* wr[2] = {w + (long long) row * cols, w + ((long long) ni + row) * cols};
    float acc[2][1];
    matvec_acc<2, 1>(wr, xs, cols, 1, acc, NormPrologue{x, nw, xs, cols, eps});
    const float g = warp_sum(acc[0][0]), u = warp_sum(acc[1][0]);
    if ((threadIdx.x & 31) == 0 && i < ni) act[i] = g / (1.f + expf(-g)) * u;  // silu_gate_f32's arithmetic
}

// acc[o] += (W · x)[o] (+ bias[o] when bias is not null): the output and down projections adding
// into the residual stream. One row per warp with 8 loads in flight per lane: these matrices have
// few rows (4096 in the 8B geometry), and two rows per warp left 16 warps per SM (ncu, H100, down
// projection 4096 × 14336: 2.45 TB/s, 23% achieved occupancy). grid = ceil(rows / 8), block = 256.
extern "C" __global__ void matmul_bf16_1t_residual(const uint16_t* __restrict__ w, const float* __restrict__ x,
                                                   const float* __restrict__ bias, float* __restrict__ acc,
                                                   int rows, int cols) {
    matvec_rows<1, 1, true, 8>(w, x, acc, nullptr, nullptr, rows, 0, 0, cols, 1, bias, GridWait{});
}
