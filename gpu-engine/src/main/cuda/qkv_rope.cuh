// The per-head Q/K/V post-processing shared by qkv_bias_rope_f32 (elementwise.cu) and decode's
// qkv_rope_append (duo_attention.cu).
#pragma once
#include "common.cuh"

// Block j of a token's heads + 2 · kv_heads blocks (q heads, then k heads, then v heads), thread i
// < head_dim / 2: elements i and i + head_dim / 2 of that row of token t get their biases (has_bias)
// and, for q and k, the rotate-half rotary embedding (tables (tokens, head_dim / 2)); written back in
// place and returned in a, b. Returns the row's kind: 0 q, 1 k, 2 v, with its head index in head.
__device__ __forceinline__ int qkv_bias_rope_pair(float* __restrict__ q, float* __restrict__ k,
                                                  float* __restrict__ v, const float* __restrict__ bq,
                                                  const float* __restrict__ bk, const float* __restrict__ bv,
                                                  const float* __restrict__ cos_t, const float* __restrict__ sin_t,
                                                  int t, int j, int i, int heads, int kv_heads, int head_dim,
                                                  int has_bias, int& head, float& a, float& b) {
    const int half = head_dim / 2;
    float* x;
    const float* bias;
    int kind;
    if (j < heads) {
        kind = 0; head = j;
        x = q + ((long long) t * heads + j) * head_dim; bias = bq + j * head_dim;
    } else if (j < heads + kv_heads) {
        kind = 1; head = j - heads;
        x = k + ((long long) t * kv_heads + head) * head_dim; bias = bk + head * head_dim;
    } else {
        kind = 2; head = j - heads - kv_heads;
        x = v + ((long long) t * kv_heads + head) * head_dim; bias = bv + head * head_dim;
    }
    a = x[i];
    b = x[i + half];
    if (has_bias) { a += bias[i]; b += bias[i + half]; }
    if (kind != 2) {
        const float c = cos_t[t * half + i], s = sin_t[t * half + i];
        const float a0 = a;
        a = a0 * c - b * s;
        b = b * c + a0 * s;
    }
    x[i] = a;
    x[i + half] = b;
    return kind;
}
