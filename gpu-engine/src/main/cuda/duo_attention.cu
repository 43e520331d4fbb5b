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
#include <cuda_bf16.h>

#define ATT_ROWS 16
#define ATT_WARPS 4
#define ATT_TILE 32
#define ATT_MAX_DPL 8   // head_dim ≤ 256

__device__ __forceinline__ void kv_store(float* p, float v) { *p = v; }
__device__ __forceinline__ void kv_store(uint16_t* p, float v) {
    __nv_bfloat16 b = __float2bfloat16_rn(v);
    *p = *reinterpret_cast<uint16_t*>(&b);
}

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
// part (splits, rows, head_dim + 2); out (rows, head_dim). grid = rows, block = 32·ceil(head_dim / 32).
extern "C" __global__ void attention_combine(const float* __restrict__ part, float* __restrict__ out, int rows,
                                             int head_dim, int splits) {
    const int row = blockIdx.x, d = threadIdx.x;
    const long long stride = (long long) rows * (head_dim + 2);
    const float* base = part + (long long) row * (head_dim + 2);
    float mx = -INFINITY;
    for (int z = 0; z < splits; z++) mx = fmaxf(mx, base[z * stride]);
    if (d >= head_dim) return;
    float num = 0.f, den = 0.f;
    for (int z = 0; z < splits; z++) {
        const float* pz = base + z * stride;
        if (pz[0] == -INFINITY) continue;  // an empty share
        float w = expf(pz[0] - mx);
        den += w * pz[1];
        num += w * pz[2 + d];
    }
    out[(long long) row * head_dim + d] = den > 0.f ? num / den : 0.f;
}

// Writes the chunk's keys and values to the cache after attention. Retrieval heads: every position
// into its page. Streaming heads: positions below sink into the sink, and only the last `recent`
// positions of the chunk into the ring (earlier ones would be overwritten within the chunk anyway,
// and skipping them keeps each ring slot written by exactly one thread).
// grid = n · kv_heads, block = 32·ceil(head_dim / 32).
template <typename KT>
__device__ void kv_append(const float* __restrict__ k_chunk, const float* __restrict__ v_chunk, KT* __restrict__ k_pool,
                          KT* __restrict__ v_pool, const int* __restrict__ page_table, KT* __restrict__ k_ring,
                          KT* __restrict__ v_ring, const int* __restrict__ streaming, const int* __restrict__ start_ptr,
                          int n, int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent) {
    const int t = blockIdx.x / kv_heads, g = blockIdx.x % kv_heads, d = threadIdx.x;
    if (d >= head_dim) return;
    const int start = *start_ptr;
    const int p = start + t;
    const long long src = ((long long) t * kv_heads + g) * head_dim + d;
    long long dst;
    KT* kd;
    KT* vd;
    if (!streaming[g]) {
        int page = page_table[g * max_pages + p / page_tokens];
        dst = ((long long) page * page_tokens + p % page_tokens) * head_dim + d;
        kd = k_pool; vd = v_pool;
    } else {
        int slot;
        if (p < sink) slot = p;
        else if (p >= start + n - recent) slot = sink + p % recent;
        else return;
        dst = ((long long) g * (sink + recent) + slot) * head_dim + d;
        kd = k_ring; vd = v_ring;
    }
    kv_store(kd + dst, k_chunk[src]);
    kv_store(vd + dst, v_chunk[src]);
}

#define KV_APPEND_ARGS(KT)                                                                                      \
    const float* k_chunk, const float* v_chunk, KT* k_pool, KT* v_pool, const int* page_table, KT* k_ring,      \
        KT* v_ring, const int* streaming, const int* start_ptr, int n, int kv_heads, int head_dim, int page_tokens, \
        int max_pages, int sink, int recent
#define KV_APPEND_CALL                                                                                         \
    k_chunk, v_chunk, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, n, kv_heads, head_dim, \
        page_tokens, max_pages, sink, recent

extern "C" __global__ void kv_append_f32kv(KV_APPEND_ARGS(float)) { kv_append<float>(KV_APPEND_CALL); }
extern "C" __global__ void kv_append_bf16kv(KV_APPEND_ARGS(uint16_t)) { kv_append<uint16_t>(KV_APPEND_CALL); }

// ---------------------------------------------------------------------------------------------
// Decode (one query position) specialisation: duo_decode_{f32kv,bf16kv}.
// Same math and KV addressing as duo_attention with n = 1. Work split: grid = (kv_heads, splits);
// a block serves all G = heads / kv_heads query heads of one KV head over one share of the keys;
// its 4 warps take alternate 32-key sub-tiles of the share. Lane j scores key j for every query
// head straight from global memory (K row in 16-byte loads, q·scale broadcast from shared memory),
// the online softmax runs per head in registers, and for P·V each lane owns head_dim / 32
// contiguous dims of every V row (coalesced 8/16-byte loads), DEC_VBATCH rows loaded before their
// FMAs, each row's cache address computed once by its scoring lane and passed by shuffle. (The
// first form looked the page table up per V row inside the loop, one dependent load chain per
// key: about 0.7–0.9 TB/s of KV on the H100, 8B and 7B geometries. The batched form has not run on
// a device yet; f32 KV spills 12 bytes at the 128-register cap, bf16 none.) No shared-memory K/V tiles and no
// block barrier inside the loop (the general kernel's cost at long contexts); the 4 warps' partial
// results are merged once at the end, into out (splits = 1) or part (for attention_combine).
// Requires head_dim % 32 == 0, head_dim ≤ 128, G ≤ 8 (the host falls back to duo_attention).
// dynamic shared memory = 4 · (G·hd + 4·G·32 + 4·G·(hd + 2)) bytes.
#define DEC_WARPS 4
#define DEC_MAX_G 8
#define DEC_MAX_DPL 4
#define DEC_VBATCH 8  // V rows loaded ahead of their FMAs in the P·V pass

template <typename KT>
__device__ __forceinline__ void load_dims(const KT* p, int dpl, float* out);
// (dpl = 4, head_dim 128: one 16-byte / 8-byte load; rows and lane offsets keep them aligned)
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

// duo_decode's parameter list (DUO_DECODE_ARGS for its kernels, _RESTRICT for its device
// function) and the call.
#define DUO_DECODE_PARAMS(KT, R)                                                                        \
    const float* R q, const float* R k_chunk, const float* R v_chunk, const KT* R k_pool,                 \
        const KT* R v_pool, const int* R page_table, const KT* R k_ring, const KT* R v_ring,                \
        const int* R streaming, const int* R start_ptr, float* R out, float* R part, int heads,              \
        int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent, int splits, float scale
#define DUO_DECODE_ARGS(KT) DUO_DECODE_PARAMS(KT, )
#define DUO_DECODE_ARGS_RESTRICT(KT) DUO_DECODE_PARAMS(KT, __restrict__)
#define DUO_DECODE_CALL                                                                                      \
    q, k_chunk, v_chunk, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, out, part, heads,   \
        kv_heads, head_dim, page_tokens, max_pages, sink, recent, splits, scale


template <typename KT>
__device__ void duo_decode(DUO_DECODE_ARGS_RESTRICT(KT)) {
    extern __shared__ float smem[];
    const int hd = head_dim, G = heads / kv_heads, g = blockIdx.x, z = blockIdx.y;
    const int dpl = hd >> 5;
    float* qs = smem;                        // G × hd, pre-scaled
    float* pw = qs + G * hd;                 // DEC_WARPS × G × 32 probabilities of the current sub-tile
    float* red = pw + DEC_WARPS * G * 32;    // DEC_WARPS × G × (2 + hd) partial results
    const int start = *start_ptr, i = start;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, i, i, sink, recent, splits, z, 32);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    for (int e = threadIdx.x; e < G * hd; e += blockDim.x) qs[e] = q[(long long) (g * G) * hd + e] * scale;
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float m[DEC_MAX_G], l[DEC_MAX_G], acc[DEC_MAX_G][DEC_MAX_DPL];
#pragma unroll
    for (int h = 0; h < DEC_MAX_G; h++) {
        m[h] = -INFINITY; l[h] = 0.f;
#pragma unroll
        for (int c = 0; c < DEC_MAX_DPL; c++) acc[h][c] = 0.f;
    }
    float* my_p = pw + warp * G * 32;
    for (int vt = v_begin + warp * 32; vt < v_end; vt += DEC_WARPS * 32) {
        const int vi = vt + lane;
        const bool valid = vi < v_end;
        const int p = valid ? duo_position(kr, vi) : 0;
        // this lane's key: the current chunk (n = 1: position start) or a cache row, found once and
        // shared with the other lanes for the P·V pass below
        const bool chunk = valid && p >= start;
        const long long row = valid && !chunk
            ? duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) : 0;
        float s[DEC_MAX_G];
#pragma unroll
        for (int h = 0; h < DEC_MAX_G; h++) s[h] = 0.f;
        if (valid) {
            const float* kc = chunk ? k_chunk + (long long) g * hd : nullptr;
            const KT* krow = chunk ? nullptr : (stream ? k_ring : k_pool) + row * hd;
#pragma unroll 4
            for (int c = 0; c < hd; c += 8) {
                float k8[8];
                if (kc != nullptr) load8(kc + c, k8); else load8(krow + c, k8);
#pragma unroll
                for (int h = 0; h < DEC_MAX_G; h++) {
                    if (h < G) {
                        const float4 qa = *reinterpret_cast<const float4*>(qs + h * hd + c);
                        const float4 qb = *reinterpret_cast<const float4*>(qs + h * hd + c + 4);
                        s[h] += qa.x * k8[0] + qa.y * k8[1] + qa.z * k8[2] + qa.w * k8[3]
                              + qb.x * k8[4] + qb.y * k8[5] + qb.z * k8[6] + qb.w * k8[7];
                    }
                }
            }
        }
#pragma unroll
        for (int h = 0; h < DEC_MAX_G; h++) {
            if (h < G) {
                const float sv = valid ? s[h] : -INFINITY;
                const float mn = fmaxf(m[h], warp_max(sv));  // finite: lane 0's key is always valid here
                const float pj = valid ? expf(sv - mn) : 0.f;
                const float alpha = m[h] == -INFINITY ? 0.f : expf(m[h] - mn);
                l[h] = l[h] * alpha + warp_sum(pj);
                m[h] = mn;
#pragma unroll
                for (int c = 0; c < DEC_MAX_DPL; c++) acc[h][c] *= alpha;
                my_p[h * 32 + lane] = pj;
            }
        }
        __syncwarp();
        // P·V: DEC_VBATCH V rows in flight per lane before their FMAs (their rows come from the
        // scoring lanes by shuffle, so no page-table lookup sits between two loads)
        const int nk = min(32, v_end - vt);
        const KT* vbase = stream ? v_ring : v_pool;
        for (int j0 = 0; j0 < nk; j0 += DEC_VBATCH) {
            float vv[DEC_VBATCH][DEC_MAX_DPL];
#pragma unroll
            for (int u = 0; u < DEC_VBATCH; u++) {
                const int jj = (j0 + u) & 31;
                const long long r = __shfl_sync(0xffffffffu, row, jj);
                const bool from_chunk = __shfl_sync(0xffffffffu, chunk ? 1 : 0, jj) != 0;
                if (j0 + u >= nk) {
#pragma unroll
                    for (int c = 0; c < DEC_MAX_DPL; c++) vv[u][c] = 0.f;
                } else if (from_chunk) {
                    load_dims<float>(v_chunk + (long long) g * hd + lane * dpl, dpl, vv[u]);
                } else {
                    load_dims<KT>(vbase + r * hd + lane * dpl, dpl, vv[u]);
                }
            }
#pragma unroll
            for (int u = 0; u < DEC_VBATCH; u++) {
                if (j0 + u < nk) {
#pragma unroll
                    for (int h = 0; h < DEC_MAX_G; h++) {
                        if (h < G) {
                            const float w = my_p[h * 32 + j0 + u];
#pragma unroll
                            for (int c = 0; c < DEC_MAX_DPL; c++) if (c < dpl) acc[h][c] += w * vv[u][c];
                        }
                    }
                }
            }
        }
        __syncwarp();
    }
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
    for (int e = threadIdx.x; e < G * hd; e += blockDim.x) {
        const int h = e / hd, d = e % hd;
        float mx = -INFINITY;
        for (int w = 0; w < DEC_WARPS; w++) mx = fmaxf(mx, red[(w * G + h) * (hd + 2)]);
        float num = 0.f, den = 0.f;
        if (mx != -INFINITY) {
            for (int w = 0; w < DEC_WARPS; w++) {
                const float* r = red + (w * G + h) * (hd + 2);
                if (r[0] == -INFINITY) continue;
                const float wt = expf(r[0] - mx);
                den += wt * r[1];
                num += wt * r[2 + d];
            }
        }
        const int row = g * G + h;
        if (splits == 1) {
            out[(long long) row * hd + d] = den > 0.f ? num / den : 0.f;
        } else {
            float* pr = part + ((long long) z * heads + row) * (hd + 2);
            if (d == 0) { pr[0] = mx; pr[1] = den; }
            pr[2 + d] = num;
        }
    }
}

extern "C" __global__ void __launch_bounds__(128, 4) duo_decode_f32kv(DUO_DECODE_ARGS(float)) {
    duo_decode<float>(DUO_DECODE_CALL);
}

extern "C" __global__ void __launch_bounds__(128, 4) duo_decode_bf16kv(DUO_DECODE_ARGS(uint16_t)) {
    duo_decode<uint16_t>(DUO_DECODE_CALL);
}
