// Elementwise ops of the Llama forward pass, float32 activations.
//
// embedding_bf16: out[t, :] = table[tokens[t], :]; grid = tokens, block = 256; table (vocab, dim) bf16.
// silu_gate_f32:  gate[i] = silu(gate[i]) * up[i]; 1-D grid over n (silu_gate_bf16: into a bf16 out;
//                 silu_gate_pairs_bf16: from one bf16 GEMM output holding gate and up side by side).
// add_f32:        acc[i] += x[i]; 1-D grid over n.
// add_bias_f32:   x[t, i] += bias[i]; 1-D grid over tokens·dim.
// rope_f32:       transformers' rotate-half rotary embedding in place; grid = tokens·heads,
//                 block = headDim/2 (≤ 1024): x[i] = a·cos − b·sin, x[i+d/2] = b·cos + a·sin.
// Variants: these are memory-bound one-pass kernels that chunks run; decode steps run fused forms
// (matmul.cu's matmul_bf16_1t_norm_swiglu for silu_gate, duo_attention.cu's qkv_rope_append for
// qkv_bias_rope + kv_append).
#include "common.cuh"
#include "qkv_rope.cuh"
#include <cuda_bf16.h>

extern "C" __global__ void embedding_bf16(const uint16_t* __restrict__ table, const int* __restrict__ tokens,
                                          float* __restrict__ out, int dim) {
    allow_next_grid();  // decode: the first projection may start streaming its weights
    int t = blockIdx.x;
    const uint16_t* row = table + (long long) tokens[t] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(long long) t * dim + i] = bf16_to_float(row[i]);
}

extern "C" __global__ void silu_gate_f32(float* __restrict__ gate, const float* __restrict__ up, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        gate[i] = g / (1.f + expf(-g)) * up[i];
    }
}

// silu_gate_f32 with its product in bf16 (round to nearest even) at out: the down projection's cuBLAS
// input, without f32_to_bf16's pass over a float32 copy.
extern "C" __global__ void silu_gate_bf16(const float* __restrict__ gate, const float* __restrict__ up,
                                          __nv_bfloat16* __restrict__ out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        out[i] = __float2bfloat16_rn(g / (1.f + expf(-g)) * up[i]);
    }
}

// silu_gate_bf16 from bf16 inputs: gu (tokens, 2·inter) bf16 holds one GEMM's gate (columns
// 0..inter) and up (inter..2·inter) outputs side by side, already rounded to bf16 as PyTorch's bf16
// Linear layers give them; out[t, i] = bf16(silu(gate[t, i]) · up[t, i]), (tokens, inter). Eight values
// per thread in 16-byte loads and stores (inter8 = inter / 8); 1-D grid over tokens·inter8.
extern "C" __global__ void silu_gate_pairs_bf16(const uint4* __restrict__ gu, uint4* __restrict__ out, int tokens,
                                                int inter8) {
    const long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long) tokens * inter8) return;
    const long long t = i / inter8;
    const long long j = i - t * inter8;
    uint4 g = gu[2 * t * inter8 + j];
    const uint4 u = gu[(2 * t + 1) * inter8 + j];
    __nv_bfloat162* g2 = reinterpret_cast<__nv_bfloat162*>(&g);
    const __nv_bfloat162* u2 = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float2 a = __bfloat1622float2(g2[k]);
        const float2 b = __bfloat1622float2(u2[k]);
        g2[k] = __floats2bfloat162_rn(a.x / (1.f + expf(-a.x)) * b.x, a.y / (1.f + expf(-a.y)) * b.y);
    }
    out[i] = g;
}

// table[pairs[2i]] = pairs[2i + 1] for i < count: a sequence's new pages, written into its device
// page table in one launch (CudaSequence.reserve). 1-D grid over count.
extern "C" __global__ void scatter_i32(int* __restrict__ table, const int* __restrict__ pairs, int count) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) table[pairs[2 * i]] = pairs[2 * i + 1];
}

extern "C" __global__ void add_f32(float* __restrict__ acc, const float* __restrict__ x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) acc[i] += x[i];
}

extern "C" __global__ void add_bias_f32(float* __restrict__ x, const float* __restrict__ bias, int tokens, int dim) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long long) tokens * dim) x[i] += bias[i % dim];
}

extern "C" __global__ void rope_f32(float* __restrict__ x, const float* __restrict__ cos_t,
                                    const float* __restrict__ sin_t, int heads, int head_dim) {
    int t = blockIdx.x / heads;
    int half = head_dim / 2;
    int i = threadIdx.x;
    if (i >= half) return;
    float* v = x + (long long) blockIdx.x * head_dim;
    float c = cos_t[t * half + i], s = sin_t[t * half + i];
    float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
}

// The Q/K/V post-processing of one chunk in one launch: optional biases on q, k and v, then the
// rotary embedding on q and k (rotate-half form, tables (tokens, head_dim / 2) per position).
// grid = tokens · (heads + 2 · kv_heads), block = 32·ceil(head_dim / 2 / 32) (one thread per pair).
// Bias pointers may all be null (has_bias = 0).
extern "C" __global__ void qkv_bias_rope_f32(float* __restrict__ q, float* __restrict__ k, float* __restrict__ v,
                                             const float* __restrict__ bq, const float* __restrict__ bk,
                                             const float* __restrict__ bv, const float* __restrict__ cos_t,
                                             const float* __restrict__ sin_t, int heads, int kv_heads, int head_dim,
                                             int has_bias) {
    const int per_token = heads + 2 * kv_heads;
    if ((int) threadIdx.x >= head_dim / 2) return;
    int head;
    float a, b;
    qkv_bias_rope_pair(q, k, v, bq, bk, bv, cos_t, sin_t, blockIdx.x / per_token, blockIdx.x % per_token, threadIdx.x,
                       heads, kv_heads, head_dim, has_bias, head, a, b);
}

// Benchmark helper: fills n elements with uniform values in [−scale, scale) from a counter hash
// (seeded), as bf16 (fill_random_bf16) or float32 (fill_random_f32). Lets decode be timed at long
// contexts without prefilling them. 1-D grid-stride launch.
__device__ __forceinline__ float hash_uniform(unsigned long long i, unsigned int seed) {
    unsigned long long z = i * 0x9E3779B97F4A7C15ull + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float) (z >> 40) * (1.f / 16777216.f) * 2.f - 1.f;
}

extern "C" __global__ void fill_random_bf16(uint16_t* __restrict__ p, long long n, unsigned int seed, float scale) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        float v = hash_uniform(i, seed) * scale;
        p[i] = (uint16_t) (__float_as_uint(v) >> 16);
    }
}

extern "C" __global__ void fill_random_f32(float* __restrict__ p, long long n, unsigned int seed, float scale) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        p[i] = hash_uniform(i, seed) * scale;
    }
}

// out[i] = bf16(in[i]), round to nearest even: the activations of a prefill chunk as cuBLAS's bf16
// GEMM takes them (the same rounding gemm_bf16_tc applies as it stages them). 1-D grid-stride
// launch, two elements per step.
extern "C" __global__ void f32_to_bf16(const float* __restrict__ in, uint32_t* __restrict__ out, long long pairs) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < pairs; i += (long long) gridDim.x * blockDim.x) {
        const float2 v = reinterpret_cast<const float2*>(in)[i];
        const __nv_bfloat162 h = __floats2bfloat162_rn(v.x, v.y);
        out[i] = *reinterpret_cast<const uint32_t*>(&h);
    }
}
