// DuoAttention prefill on tensor cores: flash_prefill_{f32kv,bf16kv}.
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
// Shared memory (hd 128): about 111 KB, two blocks per SM. Variants not yet tried: cp.async
// double-buffered K/V tiles, 128-row blocks, O kept in registers (mma.sync fragments), wgmma.
#include "common.cuh"
#include "duo_kv.cuh"
#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

#define FP_ROWS 64
#define FP_KEYS 64
#define FP_WARPS 4
// f32 row stride of the score strip: a 256-byte stride would put every row on the same banks
#define FP_SLD (FP_KEYS + 4)


// Eight consecutive elements (16-byte aligned) as eight bf16 in one uint4: float32 sources are
// scaled and rounded to nearest even, bf16 sources (scale 1) are copied bit for bit.
__device__ __forceinline__ uint32_t bf16x2(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ uint4 bf16x8(const float* __restrict__ p, float scale) {
    const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
    return make_uint4(bf16x2(a.x * scale, a.y * scale), bf16x2(a.z * scale, a.w * scale),
                      bf16x2(b.x * scale, b.y * scale), bf16x2(b.z * scale, b.w * scale));
}

__device__ __forceinline__ uint4 bf16x8(const uint16_t* __restrict__ p, float) {
    return *reinterpret_cast<const uint4*>(p);
}

// Stages the block's query rows (scaled, bf16) into qs (FP_ROWS × ld), 8 elements per 16-byte
// store; rows past `rows` are zeros.
__device__ __forceinline__ void fp_stage_q(__nv_bfloat16* qs, int ld, const float* __restrict__ q, float scale,
                                           int rows, int t0, int h0, int hpb, int heads, int hd) {
    const int vpr = hd >> 3;  // 8-element vectors per row
    for (int e = threadIdx.x; e < FP_ROWS * vpr; e += blockDim.x) {
        const int r = e / vpr, d = (e - r * vpr) * 8;
        uint4 packed = make_uint4(0, 0, 0, 0);
        if (r < rows) {
            const int t = t0 + r / hpb, h = h0 + r % hpb;
            packed = bf16x8(q + ((long long) t * heads + h) * hd + d, scale);
        }
        *reinterpret_cast<uint4*>(qs + r * ld + d) = packed;
    }
}

// Stages key tile [vt, vt + FP_KEYS) of the block's ranges: keys and values as bf16 rows (ks, vs:
// FP_KEYS × ld) and their positions (ps; past v_end: zeros and position INT_MAX, never visible).
// One (key row, 8-element vector) per thread and pass: the row's address is found once per vector
// (page table or ring), not per element. ASYNC (the double-buffered flash_prefill_mma): with bf16
// KV the cached rows go to shared memory by cp.async, one commit group per tile that the caller
// waits for, so the next tile's copies run while the current one is multiplied; chunk rows
// (float32, rounded here), rows past the range and float32 caches are stored directly.
template <typename KT, bool ASYNC = false>
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
        if constexpr (ASYNC && sizeof(KT) == 2) {
            if (vi < v_end && p < start) {
                const long long src =
                    duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd + d;
                cp_async16(ks + j * ld + d, (stream ? k_ring : k_pool) + src, true);
                cp_async16(vs + j * ld + d, (stream ? v_ring : v_pool) + src, true);
                continue;
            }
        }
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
    if constexpr (ASYNC) cp_async_commit();
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
// flash_prefill_mma_{f32kv,bf16kv}: the same contract, launch grid, block (128) and staging, with
// the products as mma.sync m16n8k16 (bf16 in, float32 accumulate) on register fragments, the
// FlashAttention-2 arrangement: a warp's Q strip (16 × HD), scores S (16 × 64), P and its output O
// (16 × HD) never leave registers; the softmax runs on the accumulator layout (lane = 4·group +
// tid: rows group and group + 8, columns 2·tid, 2·tid + 1 of every 8-column tile), and S's
// accumulators are re-packed as P·V's A operand without shuffles. V's B operand comes from the
// row-major V tile with ldmatrix.trans. Row sums stay per lane (the rescale is linear) and are
// reduced over the row's four lanes at the end. Shared memory is only Q, K, V tiles and positions.
// HD is a template parameter (16..128, step 16), so fragments are register arrays.
// K/V tiles are double-buffered: with bf16 KV the next tile's cached rows are copied with cp.async
// while the current tile is multiplied (Q + 2 × (K, V) tiles: about 87 KB at HD 128, two blocks per
// SM). Measured (H100, 8B geometry, 05bd05a, single-buffered form, 52 KB): 103 TFLOPS of prefill at
// 32K against 67 with the WMMA kernel, 91 TFLOPS at 128K; the default prefill attention with bf16 KV since 5563b71
// (CudaLlamaModel.PrefillAttention.TENSOR_CORES_MMA).

__device__ __forceinline__ void mma_bf16_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_word(const __nv_bfloat16* p) {
    return *reinterpret_cast<const uint32_t*>(p);
}

// Two 8×8 bf16 matrices, transposed, as a B fragment: lanes 0–7 address the rows of the first
// (keys k..k+7), lanes 8–15 those of the second (keys k+8..k+15); each row pointer 16-byte aligned.
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t& r0, uint32_t& r1, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r0), "=r"(r1)
                 : "r"(addr));
}

// Four 8×8 bf16 matrices: lanes 8·m .. 8·m + 7 address the rows of matrix m (16-byte aligned); lane
// l receives row l / 4, columns 2·(l % 4), +1 of each (r_m). Non-transposed from row-major K rows
// [key][dim] this is the B fragment pair (b0, b1) of two k-steps; transposed from V rows, of two
// 8-dim output tiles.
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// 2^x on the special-function unit (ex2.approx.ftz: about 2 ulp; 2^-inf = +0). The kernel works in
// the log2 domain: Q is staged scaled by scale · log2(e), so exp(s − m) = 2^(s' − m').
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Staging a K/V tile for flash_prefill_mma runs in two phases a tile apart, so that a key's cache
// row (page-table lookup, division by the page size) is found once, not once per 16-byte vector.
// Key phase: threads 0..FP_KEYS−1 write key vt + tid's position (INT_MAX past the range) to ps and,
// for a cached key, the element offset of its row in the pool or ring to rs.
__device__ __forceinline__ void fpm_stage_keys(int* ps, long long* rs, const DuoRanges& kr, int vt, int v_end,
                                               int start, int g, bool stream, int hd,
                                               const int* __restrict__ page_table, int max_pages, int page_tokens,
                                               int sink, int recent) {
    const int j = threadIdx.x;
    if (j >= FP_KEYS || vt >= v_end) return;
    const int vi = vt + j;
    const int p = vi < v_end ? duo_position(kr, vi) : 0x7fffffff;
    ps[j] = p;
    rs[j] = p < start ? duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd : 0;
}

// Vector phase: the tile's K and V rows as bf16 (ks, vs: FP_KEYS × ld), one 16-byte vector per thread
// and pass. Cached bf16 rows go by cp.async (one commit group per tile, which the caller waits for);
// float32 cached rows and rows of the current chunk (float32) are rounded and stored directly; keys
// past the range are zeros.
template <typename KT, int HD>
__device__ __forceinline__ void fpm_stage_vectors(__nv_bfloat16* ks, __nv_bfloat16* vs, const int* ps,
                                                  const long long* rs, int start, int g, int kv_heads,
                                                  const float* __restrict__ k_chunk, const float* __restrict__ v_chunk,
                                                  const KT* __restrict__ k_cache, const KT* __restrict__ v_cache) {
    constexpr int vpr = HD / 8, ld = HD + 8;
    for (int e = threadIdx.x; e < FP_KEYS * vpr; e += blockDim.x) {
        const int j = e / vpr, d = (e - j * vpr) * 8;
        const int p = ps[j];
        uint4 kb = make_uint4(0, 0, 0, 0), vb = make_uint4(0, 0, 0, 0);
        if (p < start) {
            if constexpr (sizeof(KT) == 2) {
                cp_async16(ks + j * ld + d, k_cache + rs[j] + d, true);
                cp_async16(vs + j * ld + d, v_cache + rs[j] + d, true);
                continue;
            }
            kb = bf16x8(k_cache + rs[j] + d, 1.f);
            vb = bf16x8(v_cache + rs[j] + d, 1.f);
        } else if (p != 0x7fffffff) {
            const long long src = ((long long) (p - start) * kv_heads + g) * HD + d;
            kb = bf16x8(k_chunk + src, 1.f);
            vb = bf16x8(v_chunk + src, 1.f);
        }
        *reinterpret_cast<uint4*>(ks + j * ld + d) = kb;
        *reinterpret_cast<uint4*>(vs + j * ld + d) = vb;
    }
    cp_async_commit();
}

template <typename KT, int HD>
__device__ void flash_prefill_mma(DUO_ATTENTION_ARGS_RESTRICT(KT)) {  // head_dim == HD (the dispatch below)
    static_assert(FP_KEYS == 64, "the all-visible test reads two positions per lane");
    extern __shared__ __align__(32) unsigned char fp_smem[];
    constexpr int ld = HD + 8;  // bf16 row stride: 16-byte rows for ldmatrix, conflict-free 32-bit reads
    __nv_bfloat16* qs = reinterpret_cast<__nv_bfloat16*>(fp_smem);  // FP_ROWS × ld
    __nv_bfloat16* kv_buf = qs + FP_ROWS * ld;                        // 2 × (K, V: FP_KEYS × ld each)
    long long* rs_buf = reinterpret_cast<long long*>(kv_buf + 4 * FP_KEYS * ld);  // 3 × FP_KEYS row offsets
    int* ps_buf = reinterpret_cast<int*>(rs_buf + 3 * FP_KEYS);                     // 3 × FP_KEYS positions
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int grp = lane >> 2, tig = lane & 3;  // accumulator layout: rows grp, grp + 8; columns 2·tig, +1

    const int start = *start_ptr;
    const DuoBlock blk = duo_block(heads, kv_heads, hpb, FP_ROWS, n, start);
    const int g = blk.g, h0 = blk.h0, t0 = blk.t0, rows = blk.rows;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, blk.i_first, blk.i_last, sink, recent, splits, blockIdx.z, FP_KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const KT* k_cache = stream ? k_ring : k_pool;
    const KT* v_cache = stream ? v_ring : v_pool;

    fp_stage_q(qs, ld, q, scale * 1.4426950408889634f, rows, t0, h0, hpb, heads, HD);  // log2 domain
    const int r0 = warp * 16;
    const int ra = r0 + grp, rb = ra + 8;                   // this lane's two rows
    const int ia = start + t0 + ra / hpb, ib = start + t0 + rb / hpb;  // their positions
    const bool va = ra < rows, vb = rb < rows;
    // the warp's first and last valid rows' positions: a tile whose keys all rows see needs no mask
    const int i_lo = start + t0 + r0 / hpb, i_hi = start + t0 + (min(r0 + 15, rows - 1)) / hpb;

    // Pipeline over tiles it = 0, 1, …: key phases run two tiles ahead (3 slots of ps/rs), vector
    // phases one tile ahead into the other K/V buffer (cp.async), so tile it + 1's copies run while
    // tile it is multiplied.
    auto slot_ps = [&](int it) { return ps_buf + (it % 3) * FP_KEYS; };
    auto slot_rs = [&](int it) { return rs_buf + (it % 3) * FP_KEYS; };
    auto keys = [&](int it) {
        fpm_stage_keys(slot_ps(it), slot_rs(it), kr, v_begin + it * FP_KEYS, v_end, start, g, stream, HD, page_table,
                       max_pages, page_tokens, sink, recent);
    };
    auto vectors = [&](int it) {
        __nv_bfloat16* ks = kv_buf + (it & 1) * 2 * FP_KEYS * ld;
        fpm_stage_vectors<KT, HD>(ks, ks + FP_KEYS * ld, slot_ps(it), slot_rs(it), start, g, kv_heads, k_chunk,
                                  v_chunk, k_cache, v_cache);
    };
    keys(0);
    keys(1);
    __syncthreads();  // Q and the first two tiles' keys staged
    if (v_begin < v_end) vectors(0);

    // Q strip as A fragments, one per 16 columns of HD
    uint32_t qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        qa[kk][0] = smem_word(qs + ra * ld + kk * 16 + 2 * tig);
        qa[kk][1] = smem_word(qs + rb * ld + kk * 16 + 2 * tig);
        qa[kk][2] = smem_word(qs + ra * ld + kk * 16 + 2 * tig + 8);
        qa[kk][3] = smem_word(qs + rb * ld + kk * 16 + 2 * tig + 8);
    }
    float o[HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.f, lb = 0.f;  // running maxima (log2 domain) and sums

    for (int vt = v_begin, it = 0; vt < v_end; vt += FP_KEYS, it++) {
        if (vt + FP_KEYS < v_end) vectors(it + 1); else cp_async_commit();
        cp_async_wait<1>();  // this thread's copies of tile it landed
        __syncthreads();     // and everyone's (and their direct stores)
        const __nv_bfloat16* ks = kv_buf + (it & 1) * 2 * FP_KEYS * ld;
        const __nv_bfloat16* vs = ks + FP_KEYS * ld;
        const int* ps = slot_ps(it);
        if (r0 < rows) {  // warp-uniform
            // every key of the tile visible to every row of the warp (causal, streaming window, range)?
            const int p0 = ps[lane], p1 = ps[lane + 32];
            const bool seen0 = p0 <= i_lo && (!stream || p0 < sink || p0 > i_hi - recent);
            const bool seen1 = p1 <= i_lo && (!stream || p1 < sink || p1 > i_hi - recent);
            const bool all_visible = __all_sync(0xffffffffu, seen0 && seen1);
            // S = Q_strip · K_tileᵀ: 8 tiles of 8 keys
            float s[FP_KEYS / 8][4];
#pragma unroll
            for (int nt = 0; nt < FP_KEYS / 8; nt++) {
                s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
                // K fragments of two k-steps per ldmatrix.x4: lanes 8·m + i address key nt·8 + i, dims 8·m
                const __nv_bfloat16* kaddr = ks + (nt * 8 + (lane & 7)) * ld + (lane >> 3) * 8;
#pragma unroll
                for (int kk = 0; kk + 1 < HD / 16; kk += 2) {
                    uint32_t b[4];
                    ldmatrix_x4(b, kaddr + kk * 16);
                    mma_bf16_16816(s[nt], qa[kk], b[0], b[1]);
                    mma_bf16_16816(s[nt], qa[kk + 1], b[2], b[3]);
                }
                if constexpr ((HD / 16) % 2 == 1) {  // the odd last k-step
                    const __nv_bfloat16* krow = ks + (nt * 8 + grp) * ld + 2 * tig + (HD - 16);
                    mma_bf16_16816(s[nt], qa[HD / 16 - 1], smem_word(krow), smem_word(krow + 8));
                }
            }
            if (!all_visible) {  // mask: causal, streaming window, past the range, rows past the block's
#pragma unroll
                for (int nt = 0; nt < FP_KEYS / 8; nt++) {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int p = ps[nt * 8 + 2 * tig + (e & 1)];
                        const int i = e < 2 ? ia : ib;
                        const bool vis = (e < 2 ? va : vb) && p <= i && (!stream || p < sink || p > i - recent);
                        s[nt][e] = vis ? s[nt][e] : -INFINITY;
                    }
                }
            }
            // the rows' new maxima
            float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < FP_KEYS / 8; nt++) {
                mxa = fmaxf(mxa, fmaxf(s[nt][0], s[nt][1]));
                mxb = fmaxf(mxb, fmaxf(s[nt][2], s[nt][3]));
            }
            mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
            mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
            mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
            mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
            const float na = fmaxf(ma, mxa), nb = fmaxf(mb, mxb);
            // subtrahends: a row with nothing visible yet (max −inf) subtracts 0, so its P stays 0 (2^−inf)
            // and its O and l stay 0 (alpha 2^−inf = 0)
            const float za = na == -INFINITY ? 0.f : na, zb = nb == -INFINITY ? 0.f : nb;
            const float aa = fast_exp2(ma - za), ab = fast_exp2(mb - zb);
            ma = na;
            mb = nb;
            float sa = 0.f, sb = 0.f;
#pragma unroll
            for (int nt = 0; nt < FP_KEYS / 8; nt++) {
                s[nt][0] = fast_exp2(s[nt][0] - za);
                s[nt][1] = fast_exp2(s[nt][1] - za);
                s[nt][2] = fast_exp2(s[nt][2] - zb);
                s[nt][3] = fast_exp2(s[nt][3] - zb);
                sa += s[nt][0] + s[nt][1];
                sb += s[nt][2] + s[nt][3];
            }
            la = la * aa + sa;
            lb = lb * ab + sb;
            // rescale O only where a row's maximum moved (after the first tiles, rarely)
            if (__any_sync(0xffffffffu, aa != 1.f || ab != 1.f)) {
#pragma unroll
                for (int nd = 0; nd < HD / 8; nd++) {
                    o[nd][0] *= aa;
                    o[nd][1] *= aa;
                    o[nd][2] *= ab;
                    o[nd][3] *= ab;
                }
            }
            // O += P · V: P's A fragments are S's accumulators of key tiles 2·kk and 2·kk + 1
#pragma unroll
            for (int kk = 0; kk < FP_KEYS / 16; kk++) {
                uint32_t pa[4];
                pa[0] = bf16x2(s[2 * kk][0], s[2 * kk][1]);
                pa[1] = bf16x2(s[2 * kk][2], s[2 * kk][3]);
                pa[2] = bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
                pa[3] = bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
                // two 8-dim tiles per ldmatrix.x4.trans: lanes 0–15 address V rows kk·16 + (lane & 15) at
                // dims nd·8, lanes 16–31 the same rows at dims nd·8 + 8 (HD / 8 is even)
                const __nv_bfloat16* vrow = vs + (kk * 16 + (lane & 15)) * ld + (lane >> 4) * 8;
#pragma unroll
                for (int nd = 0; nd < HD / 8; nd += 2) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, vrow + nd * 8);
                    mma_bf16_16816(o[nd], pa, b[0], b[1]);
                    mma_bf16_16816(o[nd + 1], pa, b[2], b[3]);
                }
            }
        }
        if (vt + 2 * FP_KEYS < v_end) keys(it + 2);  // into the slot tile it − 1 used
        __syncthreads();  // tile it consumed before its buffer is restaged; tile it + 2's keys visible
    }
    cp_async_wait<0>();

    // the row sums over the row's four lanes; then the strip (or this share's part) to global memory
    la += __shfl_xor_sync(0xffffffffu, la, 1);
    la += __shfl_xor_sync(0xffffffffu, la, 2);
    lb += __shfl_xor_sync(0xffffffffu, lb, 1);
    lb += __shfl_xor_sync(0xffffffffu, lb, 2);
    if (r0 >= rows) return;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int row = half == 0 ? ra : rb;
        if (row >= rows) continue;
        const float m = (half == 0 ? ma : mb) * 0.6931471805599453f, l = half == 0 ? la : lb;  // m: natural log
        const int t = t0 + row / hpb, h = h0 + row % hpb;
        const long long orow = (long long) t * heads + h;
        if (splits == 1) {
            float* dst = out + orow * HD;
#pragma unroll
            for (int nd = 0; nd < HD / 8; nd++) {
                const int d = nd * 8 + 2 * tig;
                dst[d] = l > 0.f ? o[nd][2 * half] / l : 0.f;
                dst[d + 1] = l > 0.f ? o[nd][2 * half + 1] / l : 0.f;
            }
        } else {
            float* pr = part + ((long long) blockIdx.z * n * heads + orow) * (HD + 2);
            if (tig == 0) {
                pr[0] = m;
                pr[1] = l;
            }
#pragma unroll
            for (int nd = 0; nd < HD / 8; nd++) {
                const int d = nd * 8 + 2 * tig;
                pr[2 + d] = o[nd][2 * half];
                pr[3 + d] = o[nd][2 * half + 1];
            }
        }
    }
}

template <typename KT>
__device__ __forceinline__ void flash_prefill_mma_dispatch(DUO_ATTENTION_ARGS(KT)) {
#define FP_MMA_CASE(D)                                       \
    case D:                                                  \
        flash_prefill_mma<KT, D>(DUO_ATTENTION_CALL);        \
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
// KV with tensor cores on). Same contract as duo_decode (duo_attention.cu): grid = (kv_heads,
// splits), block = 128, one query position, all G = heads / kv_heads query heads of a KV head in
// one block, partial results into out or part.
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
    const int G = heads / kv_heads, g = blockIdx.x, z = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane >> 2, tig = lane & 3;
    __nv_bfloat16* ring = reinterpret_cast<__nv_bfloat16*>(dm_smem) + warp * DEC_MMA_STAGES * TILE;
    float* red = reinterpret_cast<float*>(dm_smem);  // after the loop, over the rings
    const int start = *start_ptr;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, start, start, sink, recent, splits, z, DEC_MMA_WARPS * DEC_MMA_KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const int chunk_vi = kr.a1 + (kr.b1 - kr.b0) - 1;  // the last key is the current position
    const uint16_t* kbase = stream ? k_ring : k_pool;
    const uint16_t* vbase = stream ? v_ring : v_pool;

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
    duo_decode_merge(red, DEC_MMA_WARPS, G, HD, g, z, heads, splits, out, part);
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
