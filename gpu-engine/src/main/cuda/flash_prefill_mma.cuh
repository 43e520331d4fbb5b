// flash_prefill_mma: DuoAttention prefill with the products on register fragments, FlashAttention-2's
// arrangement, shared by two instruction families (policies below): mma.sync m16n8k16
// (MmaSyncProducts: flash_prefill_mma_{f32kv,bf16kv} in flash_prefill.cu, every NVIDIA GPU from
// sm_80) and Hopper's warpgroup wgmma (WgmmaProducts: flash_prefill_wgmma_{f32kv,bf16kv} in
// flash_prefill_wgmma.cu, sm_90a only).
//
// Same contract, launch grid (block 128) and part layout as duo_attention (duo_attention.cu). A
// block serves FP_ROWS = 64 query rows (tokens × the hpb query heads of one KV head that it packs);
// warp w owns rows 16w..16w + 15. Per FP_KEYS = 64-key tile: S = Q·Kᵀ (bf16 in, float32 accumulate),
// the online softmax on the accumulator layout (lane = 4·grp + tig: rows grp and grp + 8, columns
// 2·tig, 2·tig + 1 of every 8-column tile), P re-packed from S's accumulators as the A operand of
// O += P·V without shuffles. Q's fragments, S, P and O never leave registers; row sums stay per lane
// (the rescale is linear) and are reduced over the row's four lanes at the end.
// The softmax runs in the log2 domain: Q is staged scaled by scale · log2(e), exponentials are
// ex2.approx, and m is converted back to natural log for the part layout. A tile whose keys every
// row of the warp sees (below the causal diagonal, inside a streaming head's window) skips the mask;
// O is rescaled only when a row's maximum moved.
// K/V tiles are double-buffered: with bf16 KV the next tile's cached rows are copied with cp.async
// while the current tile is multiplied, one barrier per tile. Staging runs in two phases a tile apart
// so that a key's cache row (page-table lookup, a division by the page size) is found once per key,
// not once per 16-byte vector (the per-vector form spent more instructions on addresses than on
// products).
// Shared memory: 2 × (K, V) tiles (policy layout; Q, 64 × (HD + 8) bf16, is staged in the second pair's
// space before the tiles), 3 slots of the keys' positions and row offsets.
// Measured on the H100 (8B geometry, bf16 KV, 32K prompt), mma.sync: 103 TFLOPS of prefill at 05bd05a
// (single-buffered), 225 at 818ba57 (double-buffered, ldmatrix.x4), 291 at c73cc72 (this staging,
// fast path and log2 softmax); wgmma: 356 at 175660c (2.07 s; PyTorch 2.64 s in the same call). The
// steps between: src/docs/bench/cuda-resident.md, "Prefill attention on Hopper wgmma".
#pragma once
#include "duo_kv.cuh"
#include "flash_common.cuh"

// 2^x on the special-function unit (ex2.approx.ftz: about 2 ulp; 2^-inf = +0).
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// The products of flash_prefill_mma, one policy per instruction family. Each defines
//   TILE: bf16 elements of one staged K or V tile (FP_KEYS keys × HD); ALIGN: the tiles' alignment in bytes;
//   chunk(c, j, d): key j and dims d..d+7 of the c-th 16-byte piece of a tile, and at(j, d) where in
//     the tile it goes;
//   COLLECTIVE: whether every warp of the block must run the products (wgmma is warpgroup-wide) even
//     where its rows are past the block's;
//   before_barrier(): what makes this thread's tile writes visible to the products' reads;
//   scores(s, qa, ks): the warp's S strip = Q_strip · K_tileᵀ (16 × FP_KEYS, accumulator layout);
//   accumulate(o, pa, vs): o += P_strip · V_tile.
// mma.sync: tiles row-major with rows padded to HD + 8 (16-byte rows for ldmatrix, conflict-free); K's
// B fragments by ldmatrix.x4 (two k-steps per load), V's by ldmatrix.x4.trans (two 8-dim tiles).
template <int HD>
struct MmaSyncProducts {
    static constexpr int KEYS = FP_KEYS;
    static constexpr int LD = HD + 8;
    static constexpr int TILE = FP_KEYS * LD;
    static constexpr int ALIGN = 16;
    static constexpr bool COLLECTIVE = false;
    __device__ static __forceinline__ void chunk(int c, int& j, int& d) {
        j = c / (HD / 8);
        d = (c - j * (HD / 8)) * 8;
    }
    __device__ static __forceinline__ int at(int j, int d) { return j * LD + d; }
    __device__ static __forceinline__ void before_barrier() {}

    __device__ static __forceinline__ void scores(float (&s)[FP_KEYS / 8][4], const uint32_t (&qa)[HD / 16][4],
                                                  const __nv_bfloat16* ks) {
        const int lane = threadIdx.x & 31, grp = lane >> 2, tig = lane & 3;
#pragma unroll
        for (int nt = 0; nt < FP_KEYS / 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
            // K fragments of two k-steps per ldmatrix.x4: lanes 8·m + i address key nt·8 + i, dims 8·m
            const __nv_bfloat16* kaddr = ks + (nt * 8 + (lane & 7)) * LD + (lane >> 3) * 8;
#pragma unroll
            for (int kk = 0; kk + 1 < HD / 16; kk += 2) {
                uint32_t b[4];
                ldmatrix_x4(b, kaddr + kk * 16);
                mma_bf16_16816(s[nt], qa[kk], b[0], b[1]);
                mma_bf16_16816(s[nt], qa[kk + 1], b[2], b[3]);
            }
            if constexpr ((HD / 16) % 2 == 1) {  // the odd last k-step
                const __nv_bfloat16* krow = ks + (nt * 8 + grp) * LD + 2 * tig + (HD - 16);
                mma_bf16_16816(s[nt], qa[HD / 16 - 1], smem_word(krow), smem_word(krow + 8));
            }
        }
    }

    __device__ static __forceinline__ void accumulate(float (&o)[HD / 8][4], const uint32_t (&pa)[FP_KEYS / 16][4],
                                                      const __nv_bfloat16* vs) {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int kk = 0; kk < FP_KEYS / 16; kk++) {
            // two 8-dim tiles per ldmatrix.x4.trans: lanes 0–15 address V rows kk·16 + (lane & 15) at
            // dims nd·8, lanes 16–31 the same rows at dims nd·8 + 8 (HD / 8 is even)
            const __nv_bfloat16* vrow = vs + (kk * 16 + (lane & 15)) * LD + (lane >> 4) * 8;
#pragma unroll
            for (int nd = 0; nd < HD / 8; nd += 2) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, vrow + nd * 8);
                mma_bf16_16816(o[nd], pa[kk], b[0], b[1]);
                mma_bf16_16816(o[nd + 1], pa[kk], b[2], b[3]);
            }
        }
    }
};

// Key phase of staging a tile: threads 0..KEYS−1 write key vt + tid's position (INT_MAX past the
// range) to ps and, for a cached key, the element offset of its row in the pool or ring to rs.
template <int KEYS = FP_KEYS>
__device__ __forceinline__ void fpm_stage_keys(int* ps, long long* rs, const DuoRanges& kr, int vt, int v_end,
                                               int start, int g, bool stream, int hd,
                                               const int* __restrict__ page_table, int max_pages, int page_tokens,
                                               int sink, int recent) {
    const int j = threadIdx.x;
    if (j >= KEYS || vt >= v_end) return;
    const int vi = vt + j;
    const int p = vi < v_end ? duo_position(kr, vi) : 0x7fffffff;
    ps[j] = p;
    rs[j] = p < start ? duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd : 0;
}

// Vector phase: the tile's K and V as bf16 in the policy's layout (ks, vs), one 16-byte piece per
// thread and pass. Cached bf16 rows go by cp.async (one commit group per tile, which the caller waits
// for); float32 cached rows and rows of the current chunk (float32) are rounded and stored directly;
// keys past the range are zeros.
template <typename KT, int HD, class P>
__device__ __forceinline__ void fpm_stage_vectors(__nv_bfloat16* ks, __nv_bfloat16* vs, const int* ps,
                                                  const long long* rs, int start, int g, int kv_heads,
                                                  const float* __restrict__ k_chunk, const float* __restrict__ v_chunk,
                                                  const KT* __restrict__ k_cache, const KT* __restrict__ v_cache) {
    static_assert(P::KEYS * (HD / 8) % FP_THREADS == 0, "whole passes");
#pragma unroll
    for (int pass = 0; pass < P::KEYS * (HD / 8) / FP_THREADS; pass++) {  // unrolled: the thread's dims and
        const int c = threadIdx.x + pass * FP_THREADS;                       // its keys' offsets fold
        int j, d;
        P::chunk(c, j, d);
        const int at = P::at(j, d);
        const int p = ps[j];
        uint4 kb = make_uint4(0, 0, 0, 0), vb = make_uint4(0, 0, 0, 0);
        if (p < start) {
            if constexpr (sizeof(KT) == 2) {
                cp_async16(ks + at, k_cache + rs[j] + d, true);
                cp_async16(vs + at, v_cache + rs[j] + d, true);
                continue;
            }
            kb = bf16x8(k_cache + rs[j] + d, 1.f);
            vb = bf16x8(v_cache + rs[j] + d, 1.f);
        } else if (p != 0x7fffffff) {
            const long long src = ((long long) (p - start) * kv_heads + g) * HD + d;
            kb = bf16x8(k_chunk + src, 1.f);
            vb = bf16x8(v_chunk + src, 1.f);
        }
        *reinterpret_cast<uint4*>(ks + at) = kb;
        *reinterpret_cast<uint4*>(vs + at) = vb;
    }
    cp_async_commit();
}

// A warp's 16-row strip of a block's query rows (`rows` valid, from token t0 at position start, hpb
// heads per token): lane 4·grp + tig holds rows ra = r0 + grp and rb = ra + 8 (the accumulator
// layout: columns 2·tig, 2·tig + 1 of every 8-column tile), at positions ia, ib, valid va, vb; i_lo,
// i_hi are the strip's first and last valid rows' positions (a tile whose keys all its rows see
// needs no mask).
struct FpmRows {
    int r0, ra, rb, ia, ib, i_lo, i_hi;
    bool va, vb;
};

__device__ __forceinline__ FpmRows fpm_rows(int warp, int rows, int start, int t0, int hpb) {
    FpmRows r;
    r.r0 = warp * 16;
    r.ra = r.r0 + ((threadIdx.x & 31) >> 2);
    r.rb = r.ra + 8;
    r.ia = start + t0 + r.ra / hpb;
    r.ib = start + t0 + r.rb / hpb;
    r.va = r.ra < rows;
    r.vb = r.rb < rows;
    r.i_lo = start + t0 + r.r0 / hpb;
    r.i_hi = start + t0 + (min(r.r0 + 15, rows - 1)) / hpb;
    return r;
}

// A warp's strip before its first tile: Q fragments (one per 16 columns of HD) of the lane's rows
// ra, rb from the staged qs (ld: row stride), O and the softmax state empty.
template <int HD>
__device__ __forceinline__ void fpm_strip_start(uint32_t (&qa)[HD / 16][4], float (&o)[HD / 8][4], float& ma,
                                                float& mb, float& la, float& lb, const __nv_bfloat16* qs, int ld,
                                                int ra, int rb) {
    const int tig = threadIdx.x & 3;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        qa[kk][0] = smem_word(qs + ra * ld + kk * 16 + 2 * tig);
        qa[kk][1] = smem_word(qs + rb * ld + kk * 16 + 2 * tig);
        qa[kk][2] = smem_word(qs + ra * ld + kk * 16 + 2 * tig + 8);
        qa[kk][3] = smem_word(qs + rb * ld + kk * 16 + 2 * tig + 8);
    }
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.f;
    ma = mb = -INFINITY;
    la = lb = 0.f;
}

// Turns on the tensor core for fpm_tile's two products: before() runs ahead of each, after() once
// it has completed. One warpgroup per block has the tensor core to itself: no turns.
struct NoTurns {
    __device__ void before() const {}
    __device__ void after() {}
};

// Whether every key of a tile (positions ps, INT_MAX past the range) is visible to every row of the
// warp's strip rw (causal, streaming window, range): then the tile needs no mask.
template <int KEYS = FP_KEYS>
__device__ __forceinline__ bool fpm_all_visible(const FpmRows& rw, const int* ps, bool stream, int sink, int recent) {
    static_assert(KEYS % 64 == 0, "two positions per lane and pass");
    const int lane = threadIdx.x & 31, i_lo = rw.i_lo, i_hi = rw.i_hi;
    const int p0 = ps[lane], p1 = ps[lane + 32];
    const bool seen0 = p0 <= i_lo && (!stream || p0 < sink || p0 > i_hi - recent);
    const bool seen1 = p1 <= i_lo && (!stream || p1 < sink || p1 > i_hi - recent);
    bool seen = seen0 && seen1;
#pragma unroll
    for (int k = 64; k < KEYS; k += 32) {  // 128-key tiles: two more positions per lane
        const int p = ps[k + lane];
        seen = seen && p <= i_lo && (!stream || p < sink || p > i_hi - recent);
    }
    return __all_sync(0xffffffffu, seen);
}

// The online softmax of one tile's scores s (the strip's 16 × FP_KEYS accumulators, log2 domain): the
// mask unless all_visible, the rows' new maxima (ma, mb), s turned into P = 2^(s − m), the running sums
// (la, lb) rescaled and added to; aa, ab: the factors O must be rescaled by before P · V is added.
template <int KEYS = FP_KEYS>
__device__ __forceinline__ void fpm_softmax(float (&s)[KEYS / 8][4], float& ma, float& mb, float& la, float& lb,
                                            float& aa, float& ab, const FpmRows& rw, const int* ps, bool stream,
                                            int sink, int recent, bool all_visible) {
    const int tig = threadIdx.x & 3;
    const int ia = rw.ia, ib = rw.ib;
    const bool va = rw.va, vb = rw.vb;
    if (!all_visible) {  // mask: causal, streaming window, past the range, rows past the block's
#pragma unroll
        for (int nt = 0; nt < KEYS / 8; nt++) {
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
    for (int nt = 0; nt < KEYS / 8; nt++) {
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
    aa = fast_exp2(ma - za);
    ab = fast_exp2(mb - zb);
    ma = na;
    mb = nb;
    float sa = 0.f, sb = 0.f;
#pragma unroll
    for (int nt = 0; nt < KEYS / 8; nt++) {
        s[nt][0] = fast_exp2(s[nt][0] - za);
        s[nt][1] = fast_exp2(s[nt][1] - za);
        s[nt][2] = fast_exp2(s[nt][2] - zb);
        s[nt][3] = fast_exp2(s[nt][3] - zb);
        sa += s[nt][0] + s[nt][1];
        sb += s[nt][2] + s[nt][3];
    }
    la = la * aa + sa;
    lb = lb * ab + sb;
}

// O rescaled by the rows' factors (aa, ab from fpm_softmax), only where a row's maximum moved (after
// the first tiles, rarely).
template <int HD>
__device__ __forceinline__ void fpm_rescale(float (&o)[HD / 8][4], float aa, float ab) {
    if (__any_sync(0xffffffffu, aa != 1.f || ab != 1.f)) {
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            o[nd][0] *= aa;
            o[nd][1] *= aa;
            o[nd][2] *= ab;
            o[nd][3] *= ab;
        }
    }
}

// P's A fragments for O += P · V (bf16): S's accumulators of key tiles 2·kk and 2·kk + 1.
template <int KEYS = FP_KEYS>
__device__ __forceinline__ void fpm_pack(uint32_t (&pa)[KEYS / 16][4], const float (&s)[KEYS / 8][4]) {
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; kk++) {
        pa[kk][0] = bf16x2(s[2 * kk][0], s[2 * kk][1]);
        pa[kk][1] = bf16x2(s[2 * kk][2], s[2 * kk][3]);
        pa[kk][2] = bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[kk][3] = bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
}

// One staged K/V tile into a warp's 16-row strip (rw): S = Q·Kᵀ (ks in the policy's layout), the
// mask where some key (positions ps, INT_MAX past the range) is hidden from some row, the online
// softmax (ma, mb, la, lb), O += P·V (vs), each product in its turn (turns). Every warp of a
// COLLECTIVE policy's warpgroup calls it.
template <int HD, class P, class Turns = NoTurns>
__device__ __forceinline__ void fpm_tile(const uint32_t (&qa)[HD / 16][4], float (&o)[HD / 8][4], float& ma,
                                         float& mb, float& la, float& lb, const FpmRows& rw, const __nv_bfloat16* ks,
                                         const __nv_bfloat16* vs, const int* ps, bool stream, int sink, int recent,
                                         Turns&& turns = Turns()) {
    const bool all_visible = fpm_all_visible(rw, ps, stream, sink, recent);
    float s[FP_KEYS / 8][4];
    turns.before();
    P::scores(s, qa, ks);
    turns.after();
    float aa, ab;
    fpm_softmax(s, ma, mb, la, lb, aa, ab, rw, ps, stream, sink, recent, all_visible);
    fpm_rescale<HD>(o, aa, ab);
    uint32_t pa[FP_KEYS / 16][4];
    fpm_pack(pa, s);
    turns.before();
    P::accumulate(o, pa, vs);
    turns.after();
}

// The end of a warp's strip: the row sums over each row's four lanes, then its rows (of the block's
// `rows`; none where the strip is past them) to out (one share) or share z's part, m back to
// natural log.
template <int HD>
__device__ __forceinline__ void fpm_store(const float (&o)[HD / 8][4], float ma, float mb, float la, float lb,
                                          const FpmRows& rw, int rows, int t0, int h0, int hpb, int n, int heads,
                                          int splits, int z, float* __restrict__ out, float* __restrict__ part) {
    const int tig = threadIdx.x & 3, r0 = rw.r0, ra = rw.ra, rb = rw.rb;
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
            float* pr = part + ((long long) z * n * heads + orow) * (HD + 2);
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

// Dynamic shared memory (host: CudaLlamaModel.flashSmem): two (K, V) tile pairs (from the first P::ALIGN
// boundary: up to P::ALIGN − 16 bytes of slack; Q is staged in the second pair's space), 3 × (row
// offsets, positions).

template <typename KT, int HD, class P>
__device__ void flash_prefill_mma(DUO_ATTENTION_ARGS_RESTRICT(KT)) {  // head_dim == HD (the dispatch)
    static_assert(FP_KEYS == 64, "the all-visible test reads two positions per lane");
    extern __shared__ __align__(128) unsigned char fpm_smem[];
    constexpr int ld = HD + 8;  // Q's bf16 row stride: conflict-free 32-bit fragment reads
    __nv_bfloat16* kv_buf = reinterpret_cast<__nv_bfloat16*>(fpm_smem);  // 2 × (K, V: P::TILE each)
    if constexpr (P::ALIGN > 16) {  // the dynamic window is 16-byte aligned; tiles go to the next P::ALIGN
        const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(kv_buf));
        kv_buf += ((P::ALIGN - (a & (P::ALIGN - 1))) & (P::ALIGN - 1)) / 2;
    }
    // Q (FP_ROWS × ld) is staged in the second K/V pair's space, free until the first tile is multiplied:
    // without a Q region of its own, three blocks fit an SM's shared memory
    __nv_bfloat16* qs = kv_buf + 2 * P::TILE;
    static_assert(FP_ROWS * ld <= 2 * P::TILE, "Q fits a K/V pair");
    long long* rs_buf = reinterpret_cast<long long*>(kv_buf + 4 * P::TILE);  // 3 × FP_KEYS row offsets
    int* ps_buf = reinterpret_cast<int*>(rs_buf + 3 * FP_KEYS);                // 3 × FP_KEYS positions
    const int warp = threadIdx.x >> 5;

    const int start = *start_ptr;
    const DuoBlock blk = duo_block(heads, kv_heads, hpb, FP_ROWS, n, start);
    const int g = blk.g, h0 = blk.h0, t0 = blk.t0, rows = blk.rows;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, blk.i_first, blk.i_last, sink, recent, splits, blockIdx.z, FP_KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const KT* k_cache = stream ? k_ring : k_pool;
    const KT* v_cache = stream ? v_ring : v_pool;

    fp_stage_q(qs, ld, q, scale * 1.4426950408889634f, rows, t0, h0, hpb, heads, HD);  // log2 domain
    const FpmRows rw = fpm_rows(warp, rows, start, t0, hpb);
    const bool active = P::COLLECTIVE || rw.r0 < rows;  // warp-uniform

    // Pipeline over tiles it = 0, 1, …, one barrier per tile: after it (tile it landed, tile it − 1
    // consumed by every warp), tile it + 1's vector phase goes into tile it − 1's K/V buffer and runs
    // while tile it is multiplied, and tile it + 2's key phase into tile it − 1's slot (3 slots of ps/rs).
    auto slot_ps = [&](int it) { return ps_buf + (it % 3) * FP_KEYS; };
    auto slot_rs = [&](int it) { return rs_buf + (it % 3) * FP_KEYS; };
    auto keys = [&](int it) {
        fpm_stage_keys(slot_ps(it), slot_rs(it), kr, v_begin + it * FP_KEYS, v_end, start, g, stream, HD, page_table,
                       max_pages, page_tokens, sink, recent);
    };
    auto vectors = [&](int it) {
        __nv_bfloat16* ks = kv_buf + (it & 1) * 2 * P::TILE;
        fpm_stage_vectors<KT, HD, P>(ks, ks + P::TILE, slot_ps(it), slot_rs(it), start, g, kv_heads, k_chunk, v_chunk,
                                     k_cache, v_cache);
    };
    keys(0);
    keys(1);
    __syncthreads();  // Q and the first two tiles' keys staged
    if (v_begin < v_end) vectors(0);  // into the first pair (Q is in the second)

    uint32_t qa[HD / 16][4];
    float o[HD / 8][4];
    float ma, mb, la, lb;  // running maxima (log2 domain) and sums
    fpm_strip_start<HD>(qa, o, ma, mb, la, lb, qs, ld, rw.ra, rw.rb);

    for (int vt = v_begin, it = 0; vt < v_end; vt += FP_KEYS, it++) {
        cp_async_wait<0>();  // this thread's copies of tile it landed
        P::before_barrier();
        __syncthreads();     // and everyone's (and their direct stores); tile it − 1 (and Q) consumed
        if (vt + FP_KEYS < v_end) vectors(it + 1);
        if (vt + 2 * FP_KEYS < v_end) keys(it + 2);  // seen by tile it + 2's vector phase after the next barrier
        const __nv_bfloat16* ks = kv_buf + (it & 1) * 2 * P::TILE;
        const __nv_bfloat16* vs = ks + P::TILE;
        if (active) {
            fpm_tile<HD, P>(qa, o, ma, mb, la, lb, rw, ks, vs, slot_ps(it), stream, sink, recent);
        }
    }

    fpm_store<HD>(o, ma, mb, la, lb, rw, rows, t0, h0, hpb, n, heads, splits, blockIdx.z, out, part);
}
