// RMSNorm, one block per row: out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * weight.
// Shapes: x, out (rows, dim) float32; weight (dim) float32. Launch: grid = rows, block = 256.
// Decode runs these on one row (one block): latency-bound. So the row is read once, in 16-byte
// loads all issued before the reduction (up to NORM_VEC per thread, kept in registers: dim ≤ 4096
// at 256 threads), and written from registers; other shapes take the scalar two-pass loop.
// The *_bf16 forms write out in bf16 (round to nearest even), a prefill chunk's input to cuBLAS's
// GEMMs: the values f32_to_bf16 would make of the float32 output, without its pass over them.
// Variants (H100, 8B geometry decode): the scalar two-pass loop alone, 16 dependent loads per
// thread per pass: about 17 µs per launch (bench's per-kernel event timing). 8B prefill at 128K:
// float32 outputs converted by f32_to_bf16 before each GEMM took 0.41 s of device time for the
// conversions (1aa63dd, bench --profile-prefill).
#include "common.cuh"
#include <cuda_bf16.h>

#define NORM_VEC 4

__device__ __forceinline__ void store4(float* o, int i, float4 v) { reinterpret_cast<float4*>(o)[i] = v; }
__device__ __forceinline__ void store4(uint16_t* o, int i, float4 v) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
    reinterpret_cast<uint2*>(o)[i] =
        make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
}
__device__ __forceinline__ void store1(float* o, int i, float v) { o[i] = v; }
__device__ __forceinline__ void store1(uint16_t* o, int i, float v) {
    const __nv_bfloat16 h = __float2bfloat16_rn(v);
    o[i] = *reinterpret_cast<const uint16_t*>(&h);
}

// x[t, :] (+= delta[t, :] when delta != nullptr) then out[t, :] = rmsnorm(x[t, :]) · weight (OT: float,
// or uint16_t for bf16)
template <typename OT>
__device__ __forceinline__ void rmsnorm_row(float* __restrict__ x, const float* __restrict__ delta,
                                            const float* __restrict__ weight, OT* __restrict__ out, int dim,
                                            float eps) {
    __shared__ float scratch[32];
    float* row = x + (long long) blockIdx.x * dim;
    const float* dr = delta == nullptr ? nullptr : delta + (long long) blockIdx.x * dim;
    OT* o = out + (long long) blockIdx.x * dim;
    const bool vec = dim % 4 == 0 && dim / 4 <= NORM_VEC * (int) blockDim.x
        && ((((uintptr_t) row) | ((uintptr_t) dr) | ((uintptr_t) weight)) & 15) == 0
        && (((uintptr_t) o) & (4 * sizeof(OT) - 1)) == 0;
    float ss = 0.f;
    if (vec) {
        float4* r4 = reinterpret_cast<float4*>(row);
        float4 v[NORM_VEC];
#pragma unroll
        for (int k = 0; k < NORM_VEC; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < dim / 4) v[k] = r4[i];
        }
#pragma unroll
        for (int k = 0; k < NORM_VEC; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < dim / 4) {
                if (dr != nullptr) {
                    const float4 d = reinterpret_cast<const float4*>(dr)[i];
                    v[k].x += d.x; v[k].y += d.y; v[k].z += d.z; v[k].w += d.w;
                    r4[i] = v[k];
                }
                ss += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
            }
        }
        ss = block_sum(ss, scratch);
        const float inv = rsqrtf(ss / dim + eps);
#pragma unroll
        for (int k = 0; k < NORM_VEC; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < dim / 4) {
                const float4 w = reinterpret_cast<const float4*>(weight)[i];
                store4(o, i, make_float4(w.x * (v[k].x * inv), w.y * (v[k].y * inv), w.z * (v[k].z * inv),
                                         w.w * (v[k].w * inv)));
            }
        }
        return;
    }
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = row[i];
        if (dr != nullptr) {
            v += dr[i];
            row[i] = v;
        }
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    const float inv = rsqrtf(ss / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) store1(o, i, weight[i] * (row[i] * inv));
}

// The entry points for an output type OT (SUFFIX f32: float; bf16: uint16_t holding bf16):
// rmsnorm_SUFFIX: out[t, :] = rmsnorm(x[t, :]) · weight.
// rmsnorm_residual_SUFFIX, the residual add fused with the next RMSNorm: x[t, :] += delta[t, :]; then
// out[t, :] = rmsnorm(x[t, :]) · weight: one pass over x instead of three (add, then norm's two reads).
// Launch: grid = rows, block = 256.
#define RMSNORM_KERNELS(SUFFIX, OT)                                                                        \
    extern "C" __global__ void rmsnorm_##SUFFIX(const float* __restrict__ x, const float* __restrict__ weight, \
                                                OT* __restrict__ out, int dim, float eps) {                  \
        rmsnorm_row(const_cast<float*>(x), nullptr, weight, out, dim, eps);                                \
    }                                                                                                      \
    extern "C" __global__ void rmsnorm_residual_##SUFFIX(float* __restrict__ x, const float* __restrict__ delta,  \
                                                         const float* __restrict__ weight,                 \
                                                         OT* __restrict__ out, int dim, float eps) {       \
        rmsnorm_row(x, delta, weight, out, dim, eps);                                                      \
    }

RMSNORM_KERNELS(f32, float)
RMSNORM_KERNELS(bf16, uint16_t)
