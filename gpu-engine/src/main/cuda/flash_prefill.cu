// DuoAttention prefill on tensor cores: flash_prefill_{f32kv,bf16kv} (WMMA), flash_prefill_mma_{f32kv,bf16kv}
// (mma.sync; flash_prefill_mma.cuh) and the tensor-core decode kernel duo_decode_mma_bf16kv.
//
// Same contract as duo_attention (see duo_attention.cu: positions, KV addressing, the two key
// ranges, split-K shares and the part layout for attention_combine) with the two products on
// tensor cores: S = Q·Kᵀ and O += P·V as WMMA 16×16×16 bf16 products with float32 accumulation.
// Q, K and V are rounded to bf16 as they are staged (as a bf16 PyTorch model computes attention);
// the softmax (running max m, sum l per row) stays float32.
// Tiles: a block serves 64 query rows (tokens × the hpb query heads of one KV head that it packs,
// hpb = 64 / tokens-per-block) and walks 64-key tiles; each of its 4 warps owns a 16-row strip.
// Per tile a warp computes its 16×64 scores into shared memory, masks and exponentiates them
// (running max/sum per row), writes P as bf16 and accumulates P·V into its float32 output strip
// (kept in shared memory so the per-row rescale is plain indexing; WMMA accumulators are loaded
// from and stored back to it). K/V tiles are staged 8 elements per 16-byte load, the cache row of
// each (key, vector) found once: per-element staging with its page-table arithmetic made the
// first version bound by address math (about 6 TFLOPS at 32K on the H100).
// Requires head_dim % 16 == 0 and head_dim ≤ 128 (tokens per block = 64 / hpb, rounded down).
// Launch: grid = (ceil(n / tpb), kv_heads · group / hpb, splits), block = 128,
// dynamic shared memory = flash_prefill_smem (host: CudaLlamaModel.flashSmem).
// Shared memory (hd 128): about 111 KB, two blocks per SM. Its successors keep O in registers:
// flash_prefill_mma (flash_prefill_mma.cuh; kernels below) and flash_prefill_wgmma
// (flash_prefill_wgmma.cu, Hopper).
#include "duo_kv.cuh"
#include "flash_common.cuh"
#include "flash_prefill_mma.cuh"
#include <mma.h>

using namespace nvcuda;

// f32 row stride of the score strip: a 256-byte stride would put every row on the same banks
#define FP_SLD (FP_KEYS + 4)

// Stages key tile [vt, vt + FP_KEYS) of the block's ranges: keys and values as bf16 rows (ks, vs:
// FP_KEYS × ld) and their positions (ps; past v_end: zeros and position INT_MAX, never visible).
// One (key row, 8-element vector) per thread and pass: the row's address is found once per vector
// (page table or ring), not per element.
template <typename KT>
__device__ __forceinline__ void fp_stage_kv(__nv_bfloat16* ks, __nv_bfloat16* vs, int* ps, int ld, const DuoRanges& kr,
                                            int vt, int v_end, int start, int g, bool stream, int kv_heads, int hd,
                                            const float* __restrict__ k_chunk, const float* __restrict__ v_chunk,
                                            const KT* __restrict__ k_pool, const KT* __restrict__ v_pool,
                                            const KT* __restrict__ k_ring, const KT* __restrict__ v_ring,
                                            const int* __restrict__ page_table, int max_pages, int page_tokens,
                                            int sink, int recent) {
    const int vpr = hd >> 3;
    for (int e = threadIdx.x; e < FP_KEYS * vpr; e += blockDim.x) {
        const int j = e / vpr, d = (e - j * vpr) * 8;
        const int vi = vt + j;
        const int p = vi < v_end ? duo_position(kr, vi) : 0x7fffffff;
        if (d == 0) ps[j] = p;
        uint4 kb = make_uint4(0, 0, 0, 0), vb = make_uint4(0, 0, 0, 0);
        if (vi < v_end) {
            if (p >= start) {
                const long long src = ((long long) (p - start) * kv_heads + g) * hd + d;
                kb = bf16x8(k_chunk + src, 1.f);
                vb = bf16x8(v_chunk + src, 1.f);
            } else {
                const long long src =
                    duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd + d;
                kb = bf16x8((stream ? k_ring : k_pool) + src, 1.f);
                vb = bf16x8((stream ? v_ring : v_pool) + src, 1.f);
            }
        }
        *reinterpret_cast<uint4*>(ks + j * ld + d) = kb;
        *reinterpret_cast<uint4*>(vs + j * ld + d) = vb;
    }
}


template <typename KT>
__device__ void flash_prefill(DUO_ATTENTION_ARGS_RESTRICT(KT)) {
    extern __shared__ __align__(32) unsigned char fp_smem[];
    const int hd = head_dim, ld = hd + 8;  // bf16 row stride (16-byte multiple, spreads banks)
    const int ldo = hd + 4;                // f32 row stride of the output strip, likewise
    __nv_bfloat16* qs = reinterpret_cast<__nv_bfloat16*>(fp_smem);   // FP_ROWS × ld
    __nv_bfloat16* ks = qs + FP_ROWS * ld;                             // FP_KEYS × ld
    __nv_bfloat16* vs = ks + FP_KEYS * ld;                             // FP_KEYS × ld
    int* ps = reinterpret_cast<int*>(vs + FP_KEYS * ld);               // FP_KEYS positions
    float* wbase = reinterpret_cast<float*>(ps + FP_KEYS);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // per warp: scores (16 × FP_SLD f32), P (16 × 72 bf16), O (16 × ldo f32), m, l
    const int scratch_floats = 16 * FP_SLD;
    const int per_warp = scratch_floats + 16 * 72 / 2 + 16 * ldo + 32;
    float* sw = wbase + warp * per_warp;
    __nv_bfloat16* pw = reinterpret_cast<__nv_bfloat16*>(sw + scratch_floats);
    float* ow = sw + scratch_floats + 16 * 72 / 2;
    float* mw = ow + 16 * ldo;
    float* lw = mw + 16;

    const int start = *start_ptr;
    const DuoBlock blk = duo_block(heads, kv_heads, hpb, FP_ROWS, n, start);
    const int g = blk.g, h0 = blk.h0, t0 = blk.t0, rows = blk.rows;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, blk.i_first, blk.i_last, sink, recent, splits, blockIdx.z, FP_KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;

    fp_stage_q(qs, ld, q, scale, rows, t0, h0, hpb, heads, hd);
    for (int e = lane; e < 16 * ldo; e += 32) ow[e] = 0.f;
    if (lane < 16) { mw[lane] = -INFINITY; lw[lane] = 0.f; }
    __syncwarp();  // an empty share goes straight to the write-out below

    for (int vt = v_begin; vt < v_end; vt += FP_KEYS) {
        __syncthreads();  // previous tile consumed (and Q staged, first time)
        fp_stage_kv(ks, vs, ps, ld, kr, vt, v_end, start, g, stream, kv_heads, hd, k_chunk, v_chunk, k_pool, v_pool,
                    k_ring, v_ring, page_table, max_pages, page_tokens, sink, recent);
        __syncthreads();
        const int r0 = warp * 16;
        if (r0 >= rows) continue;  // warp-uniform; the block barrier at the loop top is still reached
        // S = Q_strip · K_tileᵀ (16 × 64)
        for (int c = 0; c < FP_KEYS / 16; c++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> s;
            wmma::fill_fragment(s, 0.f);
            for (int kk = 0; kk < hd; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
                wmma::load_matrix_sync(a, qs + r0 * ld + kk, ld);
                wmma::load_matrix_sync(b, ks + (16 * c) * ld + kk, ld);
                wmma::mma_sync(s, a, b, s);
            }
            wmma::store_matrix_sync(sw + 16 * c, s, FP_SLD, wmma::mem_row_major);
        }
        __syncwarp();
        // online softmax, two lanes per row (32 columns each)
        {
            const int r = lane >> 1, half = lane & 1;
            const int row = r0 + r;
            const bool valid_row = row < rows;
            const int i = start + t0 + row / hpb;
            float mx = -INFINITY;
            for (int c = half * 32; c < half * 32 + 32; c++) {
                const int p = ps[c];
                const bool vis = valid_row && p <= i && (!stream || p < sink || p > i - recent);
                const float s = vis ? sw[r * FP_SLD + c] : -INFINITY;
                sw[r * FP_SLD + c] = s;
                mx = fmaxf(mx, s);
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            const float m_old = mw[r];
            const float m_new = fmaxf(m_old, mx);
            float sum = 0.f;
            for (int c = half * 32; c < half * 32 + 32; c++) {
                const float s = sw[r * FP_SLD + c];
                const float e = (s == -INFINITY) ? 0.f : __expf(s - m_new);
                sum += e;
                pw[r * 72 + c] = __float2bfloat16_rn(e);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            const float alpha = (m_old == -INFINITY) ? 0.f : __expf(m_old - m_new);
            __syncwarp();
            if (half == 0) {
                lw[r] = lw[r] * alpha + sum;
                mw[r] = m_new == -INFINITY ? m_old : m_new;
            }
            // rescale this row's output strip (not needed while the row's maximum holds)
            if (m_new != -INFINITY && alpha != 1.f) {
                for (int d = half; d < hd; d += 2) ow[r * ldo + d] *= alpha;
            }
        }
        __syncwarp();
        // O_strip += P·V (16 × hd): the accumulator fragments are loaded from and stored back to the strip
        for (int c = 0; c < hd / 16; c++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
            wmma::load_matrix_sync(o, ow + 16 * c, ldo, wmma::mem_row_major);
            for (int kk = 0; kk < FP_KEYS; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
                wmma::load_matrix_sync(a, pw + kk, 72);
                wmma::load_matrix_sync(b, vs + kk * ld + 16 * c, ld);
                wmma::mma_sync(o, a, b, o);
            }
            wmma::store_matrix_sync(ow + 16 * c, o, ldo, wmma::mem_row_major);
        }
        __syncwarp();
    }

    // write the strip
    const int r0 = warp * 16;
    for (int e = lane; e < 16 * hd; e += 32) {
        const int r = e / hd, d = e % hd, row = r0 + r;
        if (row >= rows) continue;
        const int t = t0 + row / hpb, h = h0 + row % hpb;
        const long long orow = (long long) t * heads + h;
        if (splits == 1) {
            out[orow * hd + d] = lw[r] > 0.f ? ow[r * ldo + d] / lw[r] : 0.f;
        } else {
            float* pr = part + ((long long) blockIdx.z * n * heads + orow) * (hd + 2);
            if (d == 0) { pr[0] = mw[r]; pr[1] = lw[r]; }
            pr[2 + d] = ow[r * ldo + d];
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) flash_prefill_f32kv(DUO_ATTENTION_ARGS(float)) {
    flash_prefill<float>(DUO_ATTENTION_CALL);
}

extern "C" __global__ void __launch_bounds__(128) flash_prefill_bf16kv(DUO_ATTENTION_ARGS(uint16_t)) {
    flash_prefill<uint16_t>(DUO_ATTENTION_CALL);
}

// ---------------------------------------------------------------------------------------------
// flash_prefill_mma_{f32kv,bf16kv}: flash_prefill_mma.cuh on mma.sync (every GPU from sm_80; the
// default prefill attention with bf16 KV where wgmma is not available). HD is a template parameter
// (16..128, step 16), so fragments are register arrays.

template <typename KT>
__device__ __forceinline__ void flash_prefill_mma_dispatch(DUO_ATTENTION_ARGS(KT)) {
#define FP_MMA_CASE(D)                                       \
    case D:                                                  \
        flash_prefill_mma<KT, D, MmaSyncProducts<D>>(DUO_ATTENTION_CALL); \
        break;
    switch (head_dim) {
        FP_MMA_CASE(16)
        FP_MMA_CASE(32)
        FP_MMA_CASE(48)
        FP_MMA_CASE(64)
        FP_MMA_CASE(80)
        FP_MMA_CASE(96)
        FP_MMA_CASE(112)
        FP_MMA_CASE(128)
        default: break;  // the host launches it only for head_dim % 16 == 0, ≤ 128
    }
#undef FP_MMA_CASE
}

extern "C" __global__ void __launch_bounds__(128) flash_prefill_mma_f32kv(DUO_ATTENTION_ARGS(float)) {
    flash_prefill_mma_dispatch<float>(DUO_ATTENTION_CALL);
}

extern "C" __global__ void __launch_bounds__(128) flash_prefill_mma_bf16kv(DUO_ATTENTION_ARGS(uint16_t)) {
    flash_prefill_mma_dispatch<uint16_t>(DUO_ATTENTION_CALL);
}

// ---------------------------------------------------------------------------------------------
// Decode attention on tensor cores: duo_decode_mma_bf16kv (bf16 KV; the host's default for bf16
// KV with tensor cores on). Same contract as duo_decode (duo_attention.cu): a one-dimensional grid
// of the layer's (KV head, share) pairs (decode_share), block = 128, one query position, all
// G = heads / kv_heads query heads of a KV head in one block, partial results into out or part.
// Why: duo_decode on CUDA cores spends ~150 instructions per key and KV head (Q·K per lane with q
// from shared memory, a warp reduction per head and tile, P·V per key), and at 2–3 warps per
// scheduler it is latency-bound: ncu (H200, 1B geometry, 120K context) showed 0.39 instructions
// issued per scheduler cycle, 11% of DRAM bandwidth. Here the G heads are the rows of an m16n8k16
// A operand (rows ≥ G zero), so a 16-key tile is 2·HD/16 mma for S = Q·Kᵀ and HD/8 for O += P·V,
// with the softmax on the accumulator layout (a row's max and sum over its four lanes).
// Memory: each warp owns every fourth 16-key tile of the block's share and streams it through
// its own ring of DEC_MMA_STAGES shared-memory buffers with cp.async (one cache-row lookup per
// key, passed to the copying lanes by shuffle), so warps never wait on each other inside the loop
// (one block barrier, before the merge). The current position's key and value come from the chunk
// (float32), rounded to bf16 like Q and P (the tensor-core rounding of flash_prefill_mma).
// Requires head_dim % 16 == 0, head_dim ≤ 128, G ≤ 8. Dynamic shared memory:
// CudaLlamaModel.decodeMmaSmem = 4 warps × DEC_MMA_STAGES × 2 · 16 · (HD + 8) bf16.
#define DEC_MMA_WARPS 4
#define DEC_MMA_KEYS 16
#define DEC_MMA_STAGES 3

template <int HD>
__device__ void duo_decode_mma(DUO_DECODE_ARGS_RESTRICT(uint16_t)) {
    constexpr int ld = HD + 8, CPR = HD / 8;  // bf16 row stride; 16-byte chunks per row
    constexpr int TILE = 2 * DEC_MMA_KEYS * ld;
    extern __shared__ __align__(16) unsigned char dm_smem[];
    const DecodeShare share = decode_share(head_order, retrieval, splits, stream_splits);
    const int G = heads / kv_heads, g = share.g, z = share.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane >> 2, tig = lane & 3;
    __nv_bfloat16* ring = reinterpret_cast<__nv_bfloat16*>(dm_smem) + warp * DEC_MMA_STAGES * TILE;
    float* red = reinterpret_cast<float*>(dm_smem);  // after the loop, over the rings
    const int start = *start_ptr;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr =
        duo_ranges(stream, start, start, sink, recent, share.shares, z, DEC_MMA_WARPS * DEC_MMA_KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const int chunk_vi = kr.a1 + (kr.b1 - kr.b0) - 1;  // the last key is the current position
    const uint16_t* kbase = stream ? k_ring : k_pool;
    const uint16_t* vbase = stream ? v_ring : v_pool;

    // this warp's tiles: w, w + 4, w + 8, ... of the share's 16-key tiles
    const int ntiles = (v_end - v_begin + DEC_MMA_KEYS - 1) / DEC_MMA_KEYS;
    const int mine = ntiles > warp ? (ntiles - warp + DEC_MMA_WARPS - 1) / DEC_MMA_WARPS : 0;
    auto stage = [&](int j) {  // this warp's j-th tile into ring slot j % DEC_MMA_STAGES
        __nv_bfloat16* ks = ring + (j % DEC_MMA_STAGES) * TILE;
        __nv_bfloat16* vs = ks + DEC_MMA_KEYS * ld;
        const int vb = v_begin + (warp + j * DEC_MMA_WARPS) * DEC_MMA_KEYS;
        const int my_vi = vb + (lane & 15);
        const long long my_row = my_vi < v_end && my_vi != chunk_vi
            ? duo_cache_row(stream, duo_position(kr, my_vi), g, page_table, max_pages, page_tokens, sink, recent) : 0;
#pragma unroll
        for (int e = lane; e < DEC_MMA_KEYS * CPR; e += 32) {  // 2·HD chunks: a multiple of 32
            const int key = e / CPR, c = (e % CPR) * 8, vi = vb + key;
            const long long row = __shfl_sync(0xffffffffu, my_row, key);
            if (vi == chunk_vi) {
                wait_prior_grid();  // the chunk's key and value are the previous kernel's
                const float* kc = k_chunk + (long long) g * HD + c;
                const float* vc = v_chunk + (long long) g * HD + c;
                uint4 kp, vp;
                kp.x = bf16x2(kc[0], kc[1]); kp.y = bf16x2(kc[2], kc[3]);
                kp.z = bf16x2(kc[4], kc[5]); kp.w = bf16x2(kc[6], kc[7]);
                vp.x = bf16x2(vc[0], vc[1]); vp.y = bf16x2(vc[2], vc[3]);
                vp.z = bf16x2(vc[4], vc[5]); vp.w = bf16x2(vc[6], vc[7]);
                *reinterpret_cast<uint4*>(ks + key * ld + c) = kp;
                *reinterpret_cast<uint4*>(vs + key * ld + c) = vp;
            } else {
                const bool copy = vi < v_end;  // past the share: zero-filled (and masked)
                cp_async16(ks + key * ld + c, kbase + row * HD + c, copy);
                cp_async16(vs + key * ld + c, vbase + row * HD + c, copy);
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int j = 0; j < DEC_MMA_STAGES - 1; j++) {
        if (j < mine) stage(j); else cp_async_commit();
    }
    // programmatic dependent launch: the copies above read cached keys only (stage waits before it
    // reads the chunk's); q is the previous kernel's
    wait_prior_grid();

    // the G heads' q·scale as A fragments (row grp; rows ≥ G and the upper 8 rows zero)
    uint32_t qa[HD / 16][4];
    {
        const bool live = grp < G;
        const float* qg = q + (long long) (g * G + (live ? grp : 0)) * HD;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            const float2 x0 = live ? *reinterpret_cast<const float2*>(qg + kk * 16 + 2 * tig) : make_float2(0.f, 0.f);
            const float2 x1 = live ? *reinterpret_cast<const float2*>(qg + kk * 16 + 2 * tig + 8)
                                   : make_float2(0.f, 0.f);
            qa[kk][0] = bf16x2(x0.x * scale, x0.y * scale);
            qa[kk][1] = 0u;
            qa[kk][2] = bf16x2(x1.x * scale, x1.y * scale);
            qa[kk][3] = 0u;
        }
    }

    float o[HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.f;
    float m = -INFINITY, l = 0.f;  // row grp's running max and (this lane's columns') sum
    for (int j = 0; j < mine; j++) {
        __syncwarp();  // every lane is done reading the slot tile j + STAGES − 1 goes into
        if (j + DEC_MMA_STAGES - 1 < mine) stage(j + DEC_MMA_STAGES - 1); else cp_async_commit();
        cp_async_wait<DEC_MMA_STAGES - 1>();  // this lane's copies of tile j landed
        __syncwarp();                         // and every lane's
        const __nv_bfloat16* ks = ring + (j % DEC_MMA_STAGES) * TILE;
        const __nv_bfloat16* vs = ks + DEC_MMA_KEYS * ld;
        const int vb = v_begin + (warp + j * DEC_MMA_WARPS) * DEC_MMA_KEYS;
        // S = Q · K_tileᵀ: two tiles of 8 keys
        float s[2][4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
            const __nv_bfloat16* krow = ks + (nt * 8 + grp) * ld + 2 * tig;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                mma_bf16_16816(s[nt], qa[kk], smem_word(krow + kk * 16), smem_word(krow + kk * 16 + 8));
            }
        }
        // keys past the share masked; the row's max over its four lanes (finite: key vb is valid)
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                if (vb + nt * 8 + 2 * tig + e >= v_end) s[nt][e] = -INFINITY;
                mx = fmaxf(mx, s[nt][e]);
            }
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mn = fmaxf(m, mx);
        const float alpha = __expf(m - mn);  // 0 while m is −∞
        m = mn;
        float ps = 0.f;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            s[nt][0] = __expf(s[nt][0] - mn);
            s[nt][1] = __expf(s[nt][1] - mn);
            ps += s[nt][0] + s[nt][1];
        }
        l = l * alpha + ps;
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            o[nd][0] *= alpha;
            o[nd][1] *= alpha;
        }
        // O += P · V (P's upper 8 rows zero)
        uint32_t pa[4];
        pa[0] = bf16x2(s[0][0], s[0][1]);
        pa[1] = 0u;
        pa[2] = bf16x2(s[1][0], s[1][1]);
        pa[3] = 0u;
        const __nv_bfloat16* vrow = vs + (lane & 15) * ld;
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            uint32_t b0, b1;
            ldmatrix_x2_trans(b0, b1, vrow + nd * 8);
            mma_bf16_16816(o[nd], pa, b0, b1);
        }
    }
    allow_next_grid();
    cp_async_wait<0>();
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    __syncthreads();  // every warp is done with its ring: the merge buffer overlays them
    if (grp < G) {
        float* r = red + (warp * G + grp) * (HD + 2);
        if (tig == 0) { r[0] = m; r[1] = l; }
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            r[2 + nd * 8 + 2 * tig] = o[nd][0];
            r[3 + nd * 8 + 2 * tig] = o[nd][1];
        }
    }
    __syncthreads();
    duo_decode_merge(red, DEC_MMA_WARPS, G, HD, g, z, heads, share.shares, out, part);
}

extern "C" __global__ void __launch_bounds__(128, 2) duo_decode_mma_bf16kv(DUO_DECODE_ARGS(uint16_t)) {
#define DM_CASE(D)                                       \
    case D:                                              \
        duo_decode_mma<D>(DUO_DECODE_CALL);              \
        break;
    switch (head_dim) {
        DM_CASE(16)
        DM_CASE(32)
        DM_CASE(48)
        DM_CASE(64)
        DM_CASE(80)
        DM_CASE(96)
        DM_CASE(112)
        DM_CASE(128)
        default: break;  // the host launches it only for head_dim % 16 == 0, ≤ 128
    }
#undef DM_CASE
}
