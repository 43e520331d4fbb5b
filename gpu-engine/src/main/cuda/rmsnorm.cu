// RMSNorm, one block per row: out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * weight.
// Shapes: x, out (rows, dim) float32; weight (dim) float32. Launch: grid = rows, block = 256.
// Variants: one block per row with a two-level (warp, block) reduction; rows of the sizes Llama
// uses (2K-8K floats) are a single pass from L2, so this is launch- and bandwidth-bound.
#include "common.cuh"

extern "C" __global__ void rmsnorm_f32(const float* __restrict__ x, const float* __restrict__ weight,
                                       float* __restrict__ out, int dim, float eps) {
    __shared__ float scratch[32];
    const float* row = x + (long long) blockIdx.x * dim;
    float ss = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
    ss = block_sum(ss, scratch);
    float inv = rsqrtf(ss / dim + eps);
    float* o = out + (long long) blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = weight[i] * (row[i] * inv);
}

// The residual add fused with the next RMSNorm: x[t, :] += delta[t, :]; out[t, :] = rmsnorm(x[t, :]) · weight.
// One pass over x instead of three (add, then norm's two reads). Launch: grid = rows, block = 256.
extern "C" __global__ void rmsnorm_residual_f32(float* __restrict__ x, const float* __restrict__ delta,
                                                const float* __restrict__ weight, float* __restrict__ out,
                                                int dim, float eps) {
    __shared__ float scratch[32];
    float* row = x + (long long) blockIdx.x * dim;
    const float* dr = delta + (long long) blockIdx.x * dim;
    float ss = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = row[i] + dr[i];
        row[i] = v;
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    float inv = rsqrtf(ss / dim + eps);
    float* o = out + (long long) blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = weight[i] * (row[i] * inv);
}
