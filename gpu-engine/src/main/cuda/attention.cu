// DuoAttention-aware attention over gathered KV, float32.
//
// For query row t (absolute position i = start_pos + t) and query head h, KV head g = h / group:
//   keys j of head g are k[g, j, :] at position pos[g, j], for j < count[g];
//   visible(j) = pos ≤ i && (!streaming[g] || pos < sink || pos > i − recent)
//   out[t, h, :] = Σ_j softmax_j(scale · q[t, h, :]·k[g, j, :]) v[g, j, :] over visible j.
// Shapes: q, out (tokens, heads, head_dim); k, v (kv_heads, max_positions, head_dim);
// pos (kv_heads, max_positions) int; count, streaming (kv_heads) int.
// Launch: grid = tokens·heads, block = 128, dynamic shared memory = max_positions floats (scores).
// Variants: this is the straightforward two-pass kernel (scores in shared memory) used to prove
// the semantics on the device; the flash-attention prefill, block-sparse streaming prefill and
// split-K flash-decoding kernels of the CUDA issue replace it.
#include "common.cuh"

extern "C" __global__ void attention_f32(const float* __restrict__ q, const float* __restrict__ k,
                                         const float* __restrict__ v, const int* __restrict__ pos,
                                         const int* __restrict__ count, const int* __restrict__ streaming,
                                         float* __restrict__ out, int heads, int kv_heads, int head_dim,
                                         int max_positions, int start_pos, int sink, int recent, float scale) {
    extern __shared__ float scores[];
    __shared__ float scratch[32];
    int t = blockIdx.x / heads, h = blockIdx.x % heads;
    int g = h / (heads / kv_heads);
    int i = start_pos + t;
    int n = count[g];
    bool stream = streaming[g] != 0;
    const float* qh = q + ((long long) t * heads + h) * head_dim;
    const float* kg = k + (long long) g * max_positions * head_dim;
    const float* vg = v + (long long) g * max_positions * head_dim;
    const int* pg = pos + (long long) g * max_positions;

    float local_max = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        int p = pg[j];
        bool visible = p <= i && (!stream || p < sink || p > i - recent);
        float s = -INFINITY;
        if (visible) {
            s = 0.f;
            for (int d = 0; d < head_dim; d++) s += qh[d] * kg[(long long) j * head_dim + d];
            s *= scale;
        }
        scores[j] = s;
        local_max = fmaxf(local_max, s);
    }
    float m = block_max(local_max, scratch);
    float local_sum = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float e = scores[j] == -INFINITY ? 0.f : expf(scores[j] - m);
        scores[j] = e;
        local_sum += e;
    }
    float total = block_sum(local_sum, scratch);
    __syncthreads();
    float inv = 1.f / total;
    float* o = out + ((long long) t * heads + h) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.f;
        for (int j = 0; j < n; j++) acc += scores[j] * vg[(long long) j * head_dim + d];
        o[d] = acc * inv;
    }
}
