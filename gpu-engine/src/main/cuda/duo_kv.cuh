// Which keys a DuoAttention block reads and where they live: shared by duo_attention,
// duo_decode and flash_prefill (the layout is described in duo_attention.cu).
#pragma once
#include "common.cuh"
#include <cuda_bf16.h>

__device__ __forceinline__ float kv_load(const float* p) { return *p; }
__device__ __forceinline__ float kv_load(const uint16_t* p) { return bf16_to_float(*p); }

// The query rows a prefill block serves: hpb query heads of KV head g (from h0) × tpb tokens (from
// t0), rows = valid (token, head) pairs, at positions i_first..i_last. grid.x walks token groups,
// grid.y (KV head, head sub-group).
struct DuoBlock {
    int g, h0, tpb, t0, rows, i_first, i_last;
};

// The block of KV head g, head sub-group sub_i, token group x.
__device__ __forceinline__ DuoBlock duo_block_at(int heads, int kv_heads, int hpb, int block_rows, int n, int start,
                                                 int g, int sub_i, int x) {
    DuoBlock b;
    const int group = heads / kv_heads;
    b.g = g;
    b.h0 = g * group + sub_i * hpb;
    b.tpb = block_rows / hpb;
    b.t0 = x * b.tpb;
    b.rows = min(b.tpb, n - b.t0) * hpb;
    b.i_first = start + b.t0;
    b.i_last = start + b.t0 + b.rows / hpb - 1;
    return b;
}

__device__ __forceinline__ DuoBlock duo_block(int heads, int kv_heads, int hpb, int block_rows, int n, int start) {
    const int sub = heads / kv_heads / hpb;
    return duo_block_at(heads, kv_heads, hpb, block_rows, n, start, blockIdx.y / sub, blockIdx.y % sub, blockIdx.x);
}

// duo_block with the blocks that read the most keys first (the GPU starts blocks in the order of their
// linear index, x fastest): grid.y walks the KV heads in `order` (a layer's retrieval heads, then its
// streaming heads), grid.x the token groups from the last (the most causal keys) to the first. So a
// DuoAttention layer's long retrieval blocks start before its short streaming ones, instead of a
// retrieval block starting last and running alone at the grid's end.
__device__ __forceinline__ DuoBlock duo_block_longest_first(int heads, int kv_heads, int hpb, int block_rows, int n,
                                                            int start, const int* __restrict__ order) {
    const int sub = heads / kv_heads / hpb;
    return duo_block_at(heads, kv_heads, hpb, block_rows, n, start, order[blockIdx.y / sub], blockIdx.y % sub,
                        gridDim.x - 1 - blockIdx.x);
}

// A block's keys as a virtual index [0, total): retrieval head: positions [0, i_last]; streaming
// head: the sink [0, min(sink, i_last + 1)) then the window [max(a1, i_first − recent + 1), i_last]
// (positions no query row of the block can see are skipped: block-sparse). Share z of `splits`
// equal shares, each rounded up to whole tiles, is [v_begin, v_end).
struct DuoRanges {
    int a1, b0, b1, v_begin, v_end;
};

__device__ __forceinline__ DuoRanges duo_ranges(bool stream, int i_first, int i_last, int sink, int recent,
                                                int splits, int z, int tile) {
    DuoRanges r;
    if (!stream) {
        r.a1 = i_last + 1; r.b0 = r.b1 = r.a1;
    } else {
        r.a1 = min(sink, i_last + 1);
        r.b0 = max(r.a1, i_first - recent + 1);
        r.b1 = i_last + 1;
    }
    const int total = r.a1 + (r.b1 - r.b0);
    int per = (total + splits - 1) / splits;
    per = (per + tile - 1) / tile * tile;
    r.v_begin = min(total, z * per);
    r.v_end = min(total, r.v_begin + per);
    return r;
}

// The position of virtual key index vi.
__device__ __forceinline__ int duo_position(const DuoRanges& r, int vi) {
    return vi < r.a1 ? vi : r.b0 + (vi - r.a1);
}

// The row (to be multiplied by head_dim) of cached position p of KV head g: in the page pool for
// a retrieval head, in the layer's sink + ring buffers for a streaming head.
__device__ __forceinline__ long long duo_cache_row(bool stream, int p, int g, const int* __restrict__ page_table,
                                                   int max_pages, int page_tokens, int sink, int recent) {
    if (!stream) {
        const int page = page_table[g * max_pages + p / page_tokens];
        return (long long) page * page_tokens + p % page_tokens;
    }
    return (long long) g * (sink + recent) + (p < sink ? p : sink + p % recent);
}

// The cache row (to be multiplied by head_dim) kv_append writes position p of KV head g to, for a
// chunk of n positions from start, or -1 where the cache does not keep it: a streaming head's
// position past the sink that later positions of the same chunk push out of its window.
__device__ __forceinline__ long long duo_append_row(bool stream, int p, int start, int n, int g,
                                                    const int* __restrict__ page_table, int max_pages,
                                                    int page_tokens, int sink, int recent) {
    if (stream && p >= sink && p < start + n - recent) return -1;
    return duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent);
}

__device__ __forceinline__ void kv_store(float* p, float v) { *p = v; }
__device__ __forceinline__ void kv_store(uint16_t* p, float v) {
    const __nv_bfloat16 b = __float2bfloat16_rn(v);
    *p = *reinterpret_cast<const uint16_t*>(&b);
}

// Key and value element d of position p for KV head g, as float: from the current chunk
// (positions ≥ start, float32 (n, kv_heads, head_dim)) or from the cache (KT).
template <typename KT>
__device__ __forceinline__ void duo_kv_element(int p, int d, int start, int g, bool stream, int kv_heads, int hd,
                                               const float* __restrict__ k_chunk, const float* __restrict__ v_chunk,
                                               const KT* __restrict__ k_pool, const KT* __restrict__ v_pool,
                                               const KT* __restrict__ k_ring, const KT* __restrict__ v_ring,
                                               const int* __restrict__ page_table, int max_pages, int page_tokens,
                                               int sink, int recent, float& kv, float& vv) {
    if (p >= start) {
        const long long src = ((long long) (p - start) * kv_heads + g) * hd + d;
        kv = k_chunk[src];
        vv = v_chunk[src];
    } else {
        const long long src = duo_cache_row(stream, p, g, page_table, max_pages, page_tokens, sink, recent) * hd + d;
        kv = kv_load((stream ? k_ring : k_pool) + src);
        vv = kv_load((stream ? v_ring : v_pool) + src);
    }
}

// The parameter list of the prefill attention kernels (duo_attention, flash_prefill,
// flash_prefill_mma): DUO_ATTENTION_ARGS for the extern kernels, DUO_ATTENTION_ARGS_RESTRICT (the
// pointers __restrict__) for their device functions; and the call.
#define DUO_ATTENTION_PARAMS(KT, R)                                                                     \
    const float* R q, const float* R k_chunk, const float* R v_chunk, const KT* R k_pool,                 \
        const KT* R v_pool, const int* R page_table, const KT* R k_ring, const KT* R v_ring,                \
        const int* R streaming, const int* R start_ptr, float* R out, float* R part, int n, int heads,       \
        int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent, int hpb, int splits, \
        float scale
#define DUO_ATTENTION_ARGS(KT) DUO_ATTENTION_PARAMS(KT, )
#define DUO_ATTENTION_ARGS_RESTRICT(KT) DUO_ATTENTION_PARAMS(KT, __restrict__)
#define DUO_ATTENTION_CALL                                                                                    \
    q, k_chunk, v_chunk, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, out, part, n, heads, \
        kv_heads, head_dim, page_tokens, max_pages, sink, recent, hpb, splits, scale

// The decode attention kernels' parameter list (duo_decode, duo_decode_mma): DUO_DECODE_ARGS for
// the extern kernels, _RESTRICT for their device functions; and the call. The grid is one
// dimension of retrieval · splits + (kv_heads − retrieval) · stream_splits blocks (decode_share);
// head_order (kv_heads) lists the layer's retrieval heads, then its streaming heads.
#define DUO_DECODE_PARAMS(KT, R)                                                                        \
    const float* R q, const float* R k_chunk, const float* R v_chunk, const KT* R k_pool,                 \
        const KT* R v_pool, const int* R page_table, const KT* R k_ring, const KT* R v_ring,                \
        const int* R streaming, const int* R start_ptr, float* R out, float* R part, int heads,              \
        int kv_heads, int head_dim, int page_tokens, int max_pages, int sink, int recent, float scale,       \
        const int* R head_order, int retrieval, int splits, int stream_splits
#define DUO_DECODE_ARGS(KT) DUO_DECODE_PARAMS(KT, )
#define DUO_DECODE_ARGS_RESTRICT(KT) DUO_DECODE_PARAMS(KT, __restrict__)
#define DUO_DECODE_CALL                                                                                      \
    q, k_chunk, v_chunk, k_pool, v_pool, page_table, k_ring, v_ring, streaming, start_ptr, out, part, heads,   \
        kv_heads, head_dim, page_tokens, max_pages, sink, recent, scale, head_order, retrieval, splits,        \
        stream_splits

// A decode block's KV head g and its share z of `shares`: blocks [0, retrieval · splits) are the
// retrieval heads' shares (a head's shares adjacent), the rest the streaming heads' (stream_splits
// each; a streaming head reads only its sink and window, so it needs fewer). Launching only these
// keeps the short streaming shares from taking places the retrieval shares wait for.
struct DecodeShare {
    int g, z, shares;
};

__device__ __forceinline__ DecodeShare decode_share(const int* __restrict__ head_order, int retrieval, int splits,
                                                    int stream_splits) {
    DecodeShare s;
    const int b = blockIdx.x, rb = retrieval * splits;
    if (b < rb) {
        s.g = head_order[b / splits]; s.z = b % splits; s.shares = splits;
    } else {
        s.g = head_order[retrieval + (b - rb) / stream_splits]; s.z = (b - rb) % stream_splits;
        s.shares = stream_splits;
    }
    return s;
}

// The end of a decode attention block (duo_decode, duo_decode_mma): its warps' partial results
// red[(w · G + h) · (hd + 2)] = (m, l, acc[hd]) for head h of KV head g, merged into out (one share)
// or into share z's part (for attention_combine). Called by the whole block after a barrier.
__device__ __forceinline__ void duo_decode_merge(const float* red, int warps, int G, int hd, int g, int z, int heads,
                                                 int shares, float* __restrict__ out, float* __restrict__ part) {
    for (int e = threadIdx.x; e < G * hd; e += blockDim.x) {
        const int h = e / hd, d = e % hd;
        float mx = -INFINITY;
        for (int w = 0; w < warps; w++) mx = fmaxf(mx, red[(w * G + h) * (hd + 2)]);
        float num = 0.f, den = 0.f;
        if (mx != -INFINITY) {
            for (int w = 0; w < warps; w++) {
                const float* r = red + (w * G + h) * (hd + 2);
                if (r[0] == -INFINITY) continue;
                const float wt = expf(r[0] - mx);
                den += wt * r[1];
                num += wt * r[2 + d];
            }
        }
        const int row = g * G + h;
        if (shares == 1) {
            out[(long long) row * hd + d] = den > 0.f ? num / den : 0.f;
        } else {
            float* pr = part + ((long long) z * heads + row) * (hd + 2);
            if (d == 0) { pr[0] = mx; pr[1] = den; }
            pr[2 + d] = num;
        }
    }
}
