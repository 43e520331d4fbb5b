// DuoAttention over the device KV cache: one kernel for chunked prefill and for decode.
//
// Math. Query row (t, h) sits at absolute position i = start + t, h's KV head is g = h / group.
// Keys visible to it: positions p ≤ i, and for a streaming head only p < sink or p > i − recent.
//   out[t, h, :] = Σ_p softmax_p(scale · q[t, h, :]·K[g, p, :]) V[g, p, :] over visible p.
// Where the keys live. Positions p < start are in the cache: a retrieval head's in pages of the
// pool (page_table[g, p / page_tokens], slot p % page_tokens); a streaming head's in its sink
// (slot p for p < sink) or ring (slot sink + p mod recent, as the CPU cache). Positions p ≥ start are the
// current chunk's keys and values (k_chunk, v_chunk, float32, already rotated), which kv_append
// writes to the cache only after attention: a streaming head therefore reads its ring as it was
// before the chunk, so results do not depend on the chunk size (the CPU SequenceKv's rule).
// Shapes. q, out (n, heads, head_dim) f32; k_chunk, v_chunk (n, kv_heads, head_dim) f32;
// k_pool, v_pool (pages, page_tokens, head_dim) of KT; page_table (kv_heads, max_pages) int for
// this layer; k_ring, v_ring (kv_heads, sink + recent, head_dim) of KT for this layer; streaming
// (kv_heads) int; start_ptr → the chunk's first position (device memory, so decode steps can be
// replayed from a CUDA graph); part (splits, n·heads, head_dim + 2) f32 when splits > 1.
// Launch. block = 128 (4 warps), dynamic shared memory = attention_smem_bytes(head_dim);
// grid = (ceil(n / tpb), kv_heads · group / hpb, splits): a block serves hpb query heads of one KV
// head (GQA: each K/V tile is loaded once for all of them) × tpb = 16 / hpb tokens, and one of
// `splits` equal shares of the keys (flash-decoding; attention_combine merges the shares).
// Work. The keys a block needs are at most two position ranges: retrieval [0, i_last]; streaming
// the sink [0, min(sink, i_last + 1)) and the window (i_first − recent, i_last]. A streaming head's
// cost is therefore linear in the chunk length (block-sparse), a retrieval head's is causal.
// Tiles of 32 keys go to shared memory (float32; loaded 8 elements per 16/32-byte load when
// head_dim is a multiple of 8); each warp owns 4 query rows; lane j scores key j, then the online
// softmax (running max m, sum l, accumulator over head_dim / 32 dims per lane).
// Variants. This is the CUDA-core (float32 FMA) form: exact enough to match the CPU reference
// within 1e-5. The tensor-core form (bf16 mma for Q·Kᵀ and P·V) keeps this tiling and work split.
#include "common.cuh"
#include "duo_kv.cuh"
#include "qkv_rope.cuh"
#include <cuda_bf16.h>

#define ATT_ROWS 16
#define ATT_WARPS 4
#define ATT_TILE 32
#define ATT_MAX_DPL 8   // head_dim ≤ 256


__device__ __forceinline__ void load8(const float* p, float* out) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p));
    const float4 b = __ldg(reinterpret_cast<const float4*>(p + 4));
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}
__device__ __forceinline__ void load8(const uint16_t* p, float* out) {
    const uint4 a = __ldg(reinterpret_cast<const uint4*>(p));
    const uint32_t* h = reinterpret_cast<const uint32_t*>(&a);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        out[2 * k] = __uint_as_float(h[k] << 16);
        out[2 * k + 1] = __uint_as_float(h[k] & 0xffff0000u);
    }
}

template <typename KT>
__device__ void duo_attention(DUO_ATTENTION_ARGS_RESTRICT(KT)) {
    extern __shared__ float smem[];
    const int hd = head_dim;
    float* qs = smem;                          // ATT_ROWS × hd
    float* ks = qs + ATT_ROWS * hd;            // ATT_TILE × (hd + 1): padded, lanes read different rows
    float* vs = ks + ATT_TILE * (hd + 1);      // ATT_TILE × hd
    int* ps = reinterpret_cast<int*>(vs + ATT_TILE * hd);  // ATT_TILE positions

    const int start = *start_ptr;
    const DuoBlock blk = duo_block(heads, kv_heads, hpb, ATT_ROWS, n, start);
    const int g = blk.g, h0 = blk.h0, t0 = blk.t0, rows = blk.rows;
    const bool stream = streaming[g] != 0;

    const DuoRanges kr = duo_ranges(stream, blk.i_first, blk.i_last, sink, recent, splits, blockIdx.z, ATT_TILE);
    const int v_begin = kr.v_begin, v_end = kr.v_end;

    for (int e = threadIdx.x; e < ATT_ROWS * hd; e += blockDim.x) {
        int r = e / hd, d = e % hd;
        float val = 0.f;
        if (r < rows) {
            int t = t0 + r / hpb, h = h0 + r % hpb;
            val = q[((long long) t * heads + h) * hd + d];
        }
        qs[e] = val;
    }

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float m[4], l[4], acc[4][ATT_MAX_DPL];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        m[k] = -INFINITY; l[k] = 0.f;
#pragma unroll
        for (int c = 0; c < ATT_MAX_DPL; c++) acc[k][c] = 0.f;
    }

    for (int vt = v_begin; vt < v_end; vt += ATT_TILE) {
        __syncthreads();  // previous tile consumed (and qs written, first time)
        if ((hd & 7) == 0) {
            // 8 elements (16 bytes of bf16, 32 of f32) per load; the position lookup once per 8
            const int chunks = hd >> 3;
            for (int e = threadIdx.x; e < ATT_TILE * chunks; e += blockDim.x) {
                const int j = e / chunks, d = (e % chunks) << 3;
                const int vi = vt + j;
                float kf[8], vf[8];
                int p = 0x7fffffff;
                if (vi < v_end) {
                    p = duo_position(kr, vi);
                    if (p >= start) {
                        const long long src = ((long long) (p - start) * kv_heads + g) * hd + d;
                        load8(k_chunk + src, kf);
                        load8(v_chunk + src, vf);
                    } else {
                        const long long src =
                            duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd + d;
                        load8((stream ? k_ring : k_pool) + src, kf);
                        load8((stream ? v_ring : v_pool) + src, vf);
                    }
                } else {
#pragma unroll
                    for (int u = 0; u < 8; u++) { kf[u] = 0.f; vf[u] = 0.f; }
                }
#pragma unroll
                for (int u = 0; u < 8; u++) {
                    ks[j * (hd + 1) + d + u] = kf[u];
                    vs[j * hd + d + u] = vf[u];
                }
                if (d == 0) ps[j] = p;
            }
        } else {
            for (int e = threadIdx.x; e < ATT_TILE * hd; e += blockDim.x) {
                const int j = e / hd, d = e % hd;
                const int vi = vt + j;
                float kv = 0.f, vv = 0.f;
                int p = 0x7fffffff;
                if (vi < v_end) {
                    p = duo_position(kr, vi);
                    duo_kv_element(p, d, start, g, stream, kv_heads, hd, k_chunk, v_chunk, k_pool, v_pool, k_ring,
                                   v_ring, page_table, max_pages, page_tokens, sink, recent, kv, vv);
                }
                ks[j * (hd + 1) + d] = kv;
                vs[j * hd + d] = vv;
                if (d == 0) ps[j] = p;
            }
        }
        __syncthreads();
        const int p = ps[lane];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const int r = warp + ATT_WARPS * k;
            if (r >= rows) continue;  // warp-uniform
            const int i = start + t0 + r / hpb;
            const bool visible = p <= i && (!stream || p < sink || p > i - recent);
            float s = -INFINITY;
            if (visible) {
                const float* qr = qs + r * hd;
                const float* kr = ks + lane * (hd + 1);
                float dot = 0.f;
                for (int d = 0; d < hd; d++) dot += qr[d] * kr[d];
                s = dot * scale;
            }
            const float m_new = fmaxf(m[k], warp_max(s));
            if (m_new == -INFINITY) continue;  // nothing visible to this row yet
            const float pj = visible ? expf(s - m_new) : 0.f;
            const float alpha = m[k] == -INFINITY ? 0.f : expf(m[k] - m_new);
            l[k] = l[k] * alpha + warp_sum(pj);
            m[k] = m_new;
#pragma unroll
            for (int c = 0; c < ATT_MAX_DPL; c++) acc[k][c] *= alpha;
            for (int jj = 0; jj < ATT_TILE; jj++) {
                const float w = __shfl_sync(0xffffffffu, pj, jj);
                if (w == 0.f) continue;  // warp-uniform: w is the same in every lane
                const float* vr = vs + jj * hd;
#pragma unroll
                for (int c = 0; c < ATT_MAX_DPL; c++) {
                    int d = lane + 32 * c;
                    if (d < hd) acc[k][c] += w * vr[d];
                }
            }
        }
    }

#pragma unroll
    for (int k = 0; k < 4; k++) {
        const int r = warp + ATT_WARPS * k;
        if (r >= rows) continue;
        const int t = t0 + r / hpb, h = h0 + r % hpb;
        const long long row = (long long) t * heads + h;
        if (splits == 1) {
            const float inv = l[k] > 0.f ? 1.f / l[k] : 0.f;
#pragma unroll
            for (int c = 0; c < ATT_MAX_DPL; c++) {
                int d = lane + 32 * c;
                if (d < hd) out[row * hd + d] = acc[k][c] * inv;
            }
        } else {
            float* pr = part + ((long long) blockIdx.z * n * heads + row) * (hd + 2);
            if (lane == 0) { pr[0] = m[k]; pr[1] = l[k]; }
#pragma unroll
            for (int c = 0; c < ATT_MAX_DPL; c++) {
                int d = lane + 32 * c;
                if (d < hd) pr[2 + d] = acc[k][c];
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) duo_attention_f32kv(DUO_ATTENTION_ARGS(float)) {
    duo_attention<float>(DUO_ATTENTION_CALL);
}

extern "C" __global__ void __launch_bounds__(128) duo_attention_bf16kv(DUO_ATTENTION_ARGS(uint16_t)) {
    duo_attention<uint16_t>(DUO_ATTENTION_CALL);
}

// Merges the split shares of duo_attention: out[row, :] = Σ_z e^{m_z − M} acc_z / Σ_z e^{m_z − M} l_z.
// part (splits, rows, head_dim + 2); out (rows, head_dim). grid = (rows, ceil(head_dim / 32)),
// block = 256; splits ≤ COMBINE_MAX_SPLITS (the host's MAX_SPLITS). After a decode kernel, a
// streaming head's rows (streaming non-null: row r's KV head is r / group) have stream_splits
// shares. A row of one share has nothing to merge (the kernel wrote out). A block serves 32 dims of one
// row: the shares' weights are computed once, in parallel; then warp w sums shares z ≡ w (mod 8)
// for its lane's dim with independent loads, and the 8 warps' sums are added. (Forms before, H100,
// 8B geometry: one block per row walking the shares twice with one dependent load per step, about
// 21 µs per launch at 64 shares; one block per row with parallel weights, 40 µs at 256 shares.
// Tried in decode, 4df7f99: no combine launch, the last share of each head to finish (an atomic
// count per head) merging the head's shares inside the attention kernel; slower, 7B full 32K
// 12.26 vs 12.05 ms with this kernel, its merge a chain of L2 round trips at the kernel's end.)
#define COMBINE_MAX_SPLITS 1024
#define COMBINE_WARPS 8
extern "C" __global__ void attention_combine(const float* __restrict__ part, float* __restrict__ out, int rows,
                                             int head_dim, int splits, const int* __restrict__ streaming, int group,
                                             int stream_splits) {
    __shared__ float wts[COMBINE_MAX_SPLITS];
    __shared__ float scratch[32];
    __shared__ float sums[COMBINE_WARPS][32];
    wait_prior_grid();  // decode launches it programmatically after the attention kernel
    allow_next_grid();
    const int row = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (streaming != nullptr && streaming[row / group] != 0) splits = stream_splits;
    if (splits == 1) return;  // one share: the attention kernel wrote out
    const int d = blockIdx.y * 32 + lane;
    const long long stride = (long long) rows * (head_dim + 2);
    const float* base = part + (long long) row * (head_dim + 2);
    float mx = -INFINITY;
    for (int z = threadIdx.x; z < splits; z += blockDim.x) mx = fmaxf(mx, base[z * stride]);
    mx = block_max(mx, scratch);
    float den = 0.f;
    for (int z = threadIdx.x; z < splits; z += blockDim.x) {
        const float mz = base[z * stride];
        const float w = mz == -INFINITY ? 0.f : expf(mz - mx);  // an empty share weighs nothing
        wts[z] = w;
        den += w * base[z * stride + 1];
    }
    den = block_sum(den, scratch);  // (its barriers also publish wts)
    float num = 0.f;
    if (d < head_dim) {
#pragma unroll 8
        for (int z = warp; z < splits; z += COMBINE_WARPS) num += wts[z] * base[z * stride + 2 + d];
    }
    sums[warp][lane] = num;
    __syncthreads();
    if (warp == 0 && d < head_dim) {
        float total = 0.f;
#pragma unroll
        for (int w = 0; w < COMBINE_WARPS; w++) total += sums[w][lane];
        out[(long long) row * head_dim + d] = den > 0.f ? total / den : 0.f;
    }
}

// attention_combine for many rows of few shares (a prefill chunk's: rows = n · heads, 2 ≤ splits ≤
// COMBINE_ROWS_MAX_SPLITS): one warp per row, the shares' weights in every lane's registers, then the
// lane's dims d ≡ lane (mod 32), each share's 32 consecutive floats one coalesced load. The same sums
// in the same order as attention_combine. (attention_combine's block per row and 32 dims, made for
// decode's few rows of many shares, took 0.51 ms per launch on a 2048-token chunk's 65,536 rows of two
// shares: 8B, H100, 72dd9fb; the data is ~0.1 GB.) grid = ceil(rows / 8), block = 256.
#define COMBINE_ROWS_MAX_SPLITS 8
extern "C" __global__ void attention_combine_rows(const float* __restrict__ part, float* __restrict__ out, int rows,
                                                  int head_dim, int splits) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const long long stride = (long long) rows * (head_dim + 2);
    const float* base = part + (long long) row * (head_dim + 2);
    float mx = -INFINITY;
    for (int z = 0; z < splits; z++) mx = fmaxf(mx, base[z * stride]);
    float w[COMBINE_ROWS_MAX_SPLITS];
    float den = 0.f;
#pragma unroll
    for (int z = 0; z < COMBINE_ROWS_MAX_SPLITS; z++) {
        w[z] = 0.f;
        if (z < splits) {
            const float mz = base[z * stride];
            w[z] = mz == -INFINITY ? 0.f : expf(mz - mx);  // an empty share weighs nothing
            den += w[z] * base[z * stride + 1];
        }
    }
    for (int d = lane; d < head_dim; d += 32) {
        float num = 0.f;
#pragma unroll
        for (int z = 0; z < COMBINE_ROWS_MAX_SPLITS; z++) {
            if (z < splits) num += w[z] * base[z * stride + 2 + d];
        }
        out[(long long) row * head_dim + d] = den > 0.f ? num / den : 0.f;
    }
}

// Writes the chunk's keys and values to the cache after attention. Retrieval heads: every position
// into its page. Streaming heads: positions below sink into the sink, and only the last `recent`
// positions of the chunk into the ring (earlier ones would be overwritten within the chunk anyway,
// and skipping them keeps each ring slot written by exactly one thread).
// heads_of: 0 every head; 1 only retrieval heads, 2 only streaming heads. A retrieval head's pages
// may be written before attention (1; flash_prefill_ws128 then copies the chunk's whole tiles from the
// pool by tensor map): nothing in the chunk is overwritten. A streaming head's ring must be written
// after (2): the chunk's positions replace ones its first queries still see.
// grid = n · kv_heads, block = 32·ceil(head_dim / 32).
template <typename KT>
__device__ void kv_append(const float* __restrict__ k_chunk, const float* __restrict__ v_chunk, KT* __restrict__ k_pool,
                          KT* __restrict__ v_pool, const int* __restrict__ page_table, KT* __restrict__ k_ring,
                          KT* __restrict__ v_ring, const int* __restrict__ streaming, const int* __restrict__ start_ptr,
                          int n, int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent,
                          int heads_of) {
    const int t = blockIdx.x / kv_heads, g = blockIdx.x % kv_heads, d = threadIdx.x;
    if (d >= head_dim) return;
    const int start = *start_ptr;
    const bool stream = streaming[g] != 0;
    if (heads_of == 1 && stream || heads_of == 2 && !stream) return;
    const long long row = duo_append_row(stream, start + t, start, n, g, page_table, max_pages, page_tokens, sink,
                                         recent);
    if (row < 0) return;
    const long long src = ((long long) t * kv_heads + g) * head_dim + d;
    kv_store((stream ? k_ring : k_pool) + row * head_dim + d, k_chunk[src]);
    kv_store((stream ? v_ring : v_pool) + row * head_dim + d, v_chunk[src]);
}

#define KV_APPEND_ARGS(KT)                                                                                      \
    const float* k_chunk, const float* v_chunk, KT* k_pool, KT* v_pool, const int* page_table, KT* k_ring,      \
        KT* v_ring, const int* streaming, const int* start_ptr, int n, int kv_heads, int head_dim, int page_tokens, \
        int max_pages, int sink, int recent, int heads_of
#define KV_APPEND_CALL                                                                                         \
    k_chunk, v_chunk, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, n, kv_heads, head_dim, \
        page_tokens, max_pages, sink, recent, heads_of

extern "C" __global__ void kv_append_f32kv(KV_APPEND_ARGS(float)) { kv_append<float>(KV_APPEND_CALL); }
extern "C" __global__ void kv_append_bf16kv(KV_APPEND_ARGS(uint16_t)) { kv_append<uint16_t>(KV_APPEND_CALL); }

// ---------------------------------------------------------------------------------------------
// Decode (one query position) specialisation: duo_decode_{f32kv,bf16kv}.
// Same math and KV addressing as duo_attention with n = 1. Work split: a block serves all
// G = heads / kv_heads query heads of one KV head over one share of the keys; the grid lists only
// the shares there are (retrieval heads × splits, streaming heads × stream_splits: decode_share in
// duo_kv.cuh); attention_combine merges a head's shares.
// Memory: decode attention only streams K and V, so the kernel is built around keeping bytes in
// flight. The share goes through shared memory in tiles of DEC_TK keys (32 KB of K + V at head_dim
// 128) copied with cp.async into a ring of DEC_STAGES buffers: while the 4 warps work on tile t,
// the copies of tiles t + 1 and t + 2 are in flight (about 128 KB per SM at two blocks per SM).
// Each thread looks up the cache rows of the keys it copies (page table or streaming ring), so no
// dependent load sits in front of the arithmetic.
// Compute: warp w takes keys [w·KPW, (w+1)·KPW) of a tile. Q·K: LPK = 32 / KPW lanes per key, each
// over head_dim / LPK dims of the key's row (K rows padded by 16 bytes: the row-per-lane reads are
// free of bank conflicts), q·scale broadcast from shared memory, a shuffle sum over the key's lanes.
// Online softmax per head in registers; P·V: each lane owns head_dim / 32 contiguous dims of every
// V row. The 4 warps' partial results are merged once at the end, into out (one share) or part
// (for attention_combine). The current position's key and value come from the chunk (float32).
// Variants (H100, 8B geometry): the first form scored straight from global memory, lane j key j,
// and loaded the V rows in the P·V loop (with batches of 8 rows in flight in its last form): about
// 0.65 TB/s of KV at 32K. This form (5563b71) keeps the loads in flight but is bound by its own
// instructions (~150 per key and KV head; ncu: 0.39 issued per scheduler cycle): 0.84 TB/s at 128K.
// So with bf16 KV and tensor cores on, the engine runs duo_decode_mma (flash_prefill.cu, 2.65 TB/s);
// this kernel serves the exact f32 mode and bf16 KV without tensor cores.
// Requires head_dim % 32 == 0, head_dim ≤ 128, G ≤ 8 (the host falls back to duo_attention).
// Dynamic shared memory: CudaLlamaModel.decodeSmem (the tile ring, q, the probabilities).
#define DEC_WARPS 4
#define DEC_MAX_G 8
#define DEC_MAX_DPL 4
#define DEC_STAGES 3

// 8 consecutive elements from shared memory (16 / 32 bytes, aligned), as float
__device__ __forceinline__ void lds8(const float* p, float* out) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    const float4 b = *reinterpret_cast<const float4*>(p + 4);
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}
__device__ __forceinline__ void lds8(const uint16_t* p, float* out) {
    const uint4 a = *reinterpret_cast<const uint4*>(p);
    const uint32_t* h = reinterpret_cast<const uint32_t*>(&a);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        out[2 * k] = __uint_as_float(h[k] << 16);
        out[2 * k + 1] = __uint_as_float(h[k] & 0xffff0000u);
    }
}

// dpl consecutive elements (a lane's dims of a V row) as float; dpl = 4 as one 16 / 8-byte load
template <typename KT>
__device__ __forceinline__ void load_dims(const KT* p, int dpl, float* out);
template <>
__device__ __forceinline__ void load_dims<float>(const float* p, int dpl, float* out) {
    if (dpl == 4) {
        const float4 f = *reinterpret_cast<const float4*>(p);
        out[0] = f.x; out[1] = f.y; out[2] = f.z; out[3] = f.w;
        return;
    }
#pragma unroll
    for (int c = 0; c < DEC_MAX_DPL; c++) if (c < dpl) out[c] = p[c];
}
template <>
__device__ __forceinline__ void load_dims<uint16_t>(const uint16_t* p, int dpl, float* out) {
    if (dpl == 4) {
        const uint2 w = *reinterpret_cast<const uint2*>(p);
        out[0] = __uint_as_float(w.x << 16); out[1] = __uint_as_float(w.x & 0xffff0000u);
        out[2] = __uint_as_float(w.y << 16); out[3] = __uint_as_float(w.y & 0xffff0000u);
        return;
    }
#pragma unroll
    for (int c = 0; c < DEC_MAX_DPL; c++) if (c < dpl) out[c] = bf16_to_float(p[c]);
}

template <typename KT>
__device__ void duo_decode(DUO_DECODE_ARGS_RESTRICT(KT)) {
    constexpr int TK = 128 / sizeof(KT);     // keys per tile: 64 bf16 / 32 float32 (32 KB at head_dim 128)
    constexpr int KPW = TK / DEC_WARPS;      // keys per warp per tile
    constexpr int LPK = 32 / KPW;            // lanes per key in Q·K
    constexpr int VEC = 16 / sizeof(KT);     // elements per 16-byte copy
    extern __shared__ __align__(16) unsigned char dsm[];
    wait_prior_grid();  // programmatic dependent launch: q and the chunk's key and value are the last kernel's
    const DecodeShare share = decode_share(head_order, retrieval, splits, stream_splits);
    const int hd = head_dim, G = heads / kv_heads, g = share.g, z = share.z;
    const int dpl = hd >> 5, kstride = hd + VEC, stage_elems = TK * (kstride + hd);
    KT* tiles = reinterpret_cast<KT*>(dsm);                                  // DEC_STAGES × (K tile, V tile)
    float* qs = reinterpret_cast<float*>(tiles + DEC_STAGES * stage_elems);  // G × hd, pre-scaled
    float* pw = qs + G * hd;                                                 // DEC_WARPS × G × KPW
    float* red = reinterpret_cast<float*>(dsm);  // after the loop, over the tiles: DEC_WARPS × G × (hd + 2)
    const int start = *start_ptr;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, start, start, sink, recent, share.shares, z, TK);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const int chunk_vi = kr.a1 + (kr.b1 - kr.b0) - 1;  // the last key is the current position
    const KT* kbase = stream ? k_ring : k_pool;
    const KT* vbase = stream ? v_ring : v_pool;
    for (int e = threadIdx.x; e < G * hd; e += blockDim.x) qs[e] = q[(long long) (g * G) * hd + e] * scale;

    // copies tile t into ring slot t % DEC_STAGES (keys past the share, and the current position,
    // zero-filled), one commit group per tile
    const int cpr = hd / VEC;
    auto stage = [&](int t) {
        KT* ks = tiles + (t % DEC_STAGES) * stage_elems;
        KT* vs = ks + TK * kstride;
        const int vb = v_begin + t * TK;
#pragma unroll 4
        for (int e = threadIdx.x; e < TK * cpr; e += blockDim.x) {
            const int j = e / cpr, c = (e % cpr) * VEC, vi = vb + j;
            const bool copy = vi < v_end && vi != chunk_vi;
            const long long row = copy
                ? duo_cache_row(stream, duo_position(kr, vi), g, page_table, max_pages, page_tokens, sink, recent) : 0;
            cp_async16(ks + j * kstride + c, kbase + row * hd + c, copy);
            cp_async16(vs + j * hd + c, vbase + row * hd + c, copy);
        }
        cp_async_commit();
    };
    const int ntiles = (v_end - v_begin + TK - 1) / TK;
#pragma unroll
    for (int t = 0; t < DEC_STAGES - 1; t++) {
        if (t < ntiles) stage(t); else cp_async_commit();
    }

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kw = lane % KPW, slice = lane / KPW, dpart = hd / LPK;
    float m[DEC_MAX_G], l[DEC_MAX_G], acc[DEC_MAX_G][DEC_MAX_DPL];
#pragma unroll
    for (int h = 0; h < DEC_MAX_G; h++) {
        m[h] = -INFINITY; l[h] = 0.f;
#pragma unroll
        for (int c = 0; c < DEC_MAX_DPL; c++) acc[h][c] = 0.f;
    }
    float* my_p = pw + warp * G * KPW;
    for (int t = 0; t < ntiles; t++) {
        cp_async_wait<DEC_STAGES - 2>();  // this thread's copies of tile t landed
        __syncthreads();                  // everyone's; and everyone is done with tile t − 1's slot
        if (t + DEC_STAGES - 1 < ntiles) stage(t + DEC_STAGES - 1); else cp_async_commit();
        const KT* ks = tiles + (t % DEC_STAGES) * stage_elems;
        const KT* vs = ks + TK * kstride;
        const int w0 = v_begin + t * TK + warp * KPW;  // this warp's first key (virtual index)
        const int nk = min(KPW, v_end - w0);
        if (nk <= 0) continue;                          // warp-uniform: nothing of this tile is ours
        const int vi = w0 + kw;
        const bool valid = kw < nk, chunk = vi == chunk_vi;
        float s[DEC_MAX_G];
#pragma unroll
        for (int h = 0; h < DEC_MAX_G; h++) s[h] = 0.f;
        if (valid) {
            const KT* krow = ks + (warp * KPW + kw) * kstride + slice * dpart;
            const float* kc = k_chunk + (long long) g * hd + slice * dpart;
#pragma unroll 2
            for (int c = 0; c < dpart; c += 8) {
                float k8[8];
                if (chunk) load8(kc + c, k8); else lds8(krow + c, k8);
#pragma unroll
                for (int h = 0; h < DEC_MAX_G; h++) {
                    if (h < G) {
                        const float* qh = qs + h * hd + slice * dpart + c;
                        const float4 qa = *reinterpret_cast<const float4*>(qh);
                        const float4 qb = *reinterpret_cast<const float4*>(qh + 4);
                        s[h] += qa.x * k8[0] + qa.y * k8[1] + qa.z * k8[2] + qa.w * k8[3]
                              + qb.x * k8[4] + qb.y * k8[5] + qb.z * k8[6] + qb.w * k8[7];
                    }
                }
            }
        }
#pragma unroll
        for (int h = 0; h < DEC_MAX_G; h++) {
            if (h < G) {
#pragma unroll
                for (int o = KPW; o < 32; o <<= 1) s[h] += __shfl_xor_sync(0xffffffffu, s[h], o);
                const float sv = valid ? s[h] : -INFINITY;
                const float mn = fmaxf(m[h], warp_max(sv));  // finite: key w0 is valid
                const float pj = valid && slice == 0 ? expf(sv - mn) : 0.f;
                const float alpha = expf(m[h] - mn);         // 0 while m is −∞
                l[h] = l[h] * alpha + warp_sum(pj);
                m[h] = mn;
#pragma unroll
                for (int c = 0; c < DEC_MAX_DPL; c++) acc[h][c] *= alpha;
                if (slice == 0) my_p[h * KPW + kw] = pj;
            }
        }
        __syncwarp();
#pragma unroll 4
        for (int jj = 0; jj < nk; jj++) {
            float vv[DEC_MAX_DPL];
            if (w0 + jj == chunk_vi) {
                load_dims<float>(v_chunk + (long long) g * hd + lane * dpl, dpl, vv);
            } else {
                load_dims<KT>(vs + (warp * KPW + jj) * hd + lane * dpl, dpl, vv);
            }
#pragma unroll
            for (int h = 0; h < DEC_MAX_G; h++) {
                if (h < G) {
                    const float w = my_p[h * KPW + jj];
#pragma unroll
                    for (int c = 0; c < DEC_MAX_DPL; c++) if (c < dpl) acc[h][c] += w * vv[c];
                }
            }
        }
        __syncwarp();
    }
    allow_next_grid();
    cp_async_wait<0>();
    __syncthreads();  // the tile ring is free: the merge buffer overlays it
    // merge the 4 warps
#pragma unroll
    for (int h = 0; h < DEC_MAX_G; h++) {
        if (h < G) {
            float* r = red + (warp * G + h) * (hd + 2);
            if (lane == 0) { r[0] = m[h]; r[1] = l[h]; }
#pragma unroll
            for (int c = 0; c < DEC_MAX_DPL; c++) if (c < dpl) r[2 + lane * dpl + c] = acc[h][c];
        }
    }
    __syncthreads();
    duo_decode_merge(red, DEC_WARPS, G, hd, g, z, heads, share.shares, out, part);
}

extern "C" __global__ void __launch_bounds__(128, 2) duo_decode_f32kv(DUO_DECODE_ARGS(float)) {
    duo_decode<float>(DUO_DECODE_CALL);
}

extern "C" __global__ void __launch_bounds__(128, 2) duo_decode_bf16kv(DUO_DECODE_ARGS(uint16_t)) {
    duo_decode<uint16_t>(DUO_DECODE_CALL);
}

// Decode's Q/K/V post-processing and cache append in one launch, for the one token at position
// *start_ptr: qkv_bias_rope_f32's biases and rotary embedding on q, k and v in place, then
// kv_append's write of the token's k and v to the cache. Appending before attention (kv_append runs
// after it for chunks) is safe for one token: attention reads the token's own key from k_chunk, and
// the ring slot it takes held position start − recent, which the token's window (start − recent,
// start] does not see. grid = heads + 2 · kv_heads, block = 32 · ceil(head_dim / 2 / 32).
template <typename KT>
__device__ void qkv_rope_append(float* __restrict__ q, float* __restrict__ k, float* __restrict__ v,
                                const float* __restrict__ bq, const float* __restrict__ bk,
                                const float* __restrict__ bv, const float* __restrict__ cos_t,
                                const float* __restrict__ sin_t, KT* __restrict__ k_pool, KT* __restrict__ v_pool,
                                const int* __restrict__ page_table, KT* __restrict__ k_ring, KT* __restrict__ v_ring,
                                const int* __restrict__ streaming, const int* __restrict__ start_ptr, int heads,
                                int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent,
                                int has_bias) {
    wait_prior_grid();  // programmatic dependent launch: q, k, v are the projection's
    allow_next_grid();  // attention may start streaming cached keys (not this position's row)
    const int i = threadIdx.x, half = head_dim / 2;
    if (i >= half) return;
    int g;
    float a, b;
    const int kind = qkv_bias_rope_pair(q, k, v, bq, bk, bv, cos_t, sin_t, 0, blockIdx.x, i, heads, kv_heads,
                                        head_dim, has_bias, g, a, b);
    if (kind == 0) return;
    const int start = *start_ptr;
    const bool stream = streaming[g] != 0;
    const long long row = duo_append_row(stream, start, start, 1, g, page_table, max_pages, page_tokens, sink, recent);
    KT* dst = kind == 1 ? (stream ? k_ring : k_pool) : (stream ? v_ring : v_pool);
    kv_store(dst + row * head_dim + i, a);
    kv_store(dst + row * head_dim + i + half, b);
}

#define QKV_ROPE_APPEND_ARGS(KT)                                                                              \
    float *q, float *k, float *v, const float *bq, const float *bk, const float *bv, const float *cos_t,       \
        const float *sin_t, KT *k_pool, KT *v_pool, const int *page_table, KT *k_ring, KT *v_ring,            \
        const int *streaming, const int *start_ptr, int heads, int kv_heads, int head_dim, int page_tokens,  \
        int max_pages, int sink, int recent, int has_bias
#define QKV_ROPE_APPEND_CALL                                                                                   \
    q, k, v, bq, bk, bv, cos_t, sin_t, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, heads, \
        kv_heads, head_dim, page_tokens, max_pages, sink, recent, has_bias

extern "C" __global__ void qkv_rope_append_f32kv(QKV_ROPE_APPEND_ARGS(float)) {
    qkv_rope_append<float>(QKV_ROPE_APPEND_CALL);
}
extern "C" __global__ void qkv_rope_append_bf16kv(QKV_ROPE_APPEND_ARGS(uint16_t)) {
    qkv_rope_append<uint16_t>(QKV_ROPE_APPEND_CALL);
}
