// Writes a chunk's keys and values into the device KV cache of one layer.
// src (tokens, kv_heads·head_dim) float32 → dst (kv_heads, capacity, head_dim) at slot start_pos + t.
// Launch: grid = tokens·kv_heads, block = min(head_dim rounded up to 32, 1024).
// The layout is the one attention_f32 reads (one contiguous block of positions per KV head).
#include "common.cuh"

extern "C" __global__ void kv_write_f32(const float* __restrict__ k_src, const float* __restrict__ v_src,
                                        float* __restrict__ k_dst, float* __restrict__ v_dst,
                                        int kv_heads, int head_dim, int capacity, int start_pos) {
    int t = blockIdx.x / kv_heads, g = blockIdx.x % kv_heads;
    int d = threadIdx.x;
    if (d >= head_dim) return;
    long long src = ((long long) t * kv_heads + g) * head_dim + d;
    long long dst = ((long long) g * capacity + start_pos + t) * head_dim + d;
    k_dst[dst] = k_src[src];
    v_dst[dst] = v_src[src];
}
