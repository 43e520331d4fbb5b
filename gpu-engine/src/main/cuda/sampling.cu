// Sampling helpers on the device, so greedy decoding copies 4 bytes per token instead of the logits.
// argmax_f32: out[0] = the smallest index of the largest value of x[0..n) (the CPU Sampler's tie rule);
// NaN never wins. Launch: grid = 1, block = 1024.
#include "common.cuh"

extern "C" __global__ void argmax_f32(const float* __restrict__ x, int n, int* __restrict__ out) {
    wait_prior_grid();  // decode launches it programmatically after the LM head
    __shared__ float best_v[32];
    __shared__ int best_i[32];
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    auto consider = [&](float v, int i) {
        if (v > bv || (v == bv && i < bi)) { bv = v; bi = i; }
    };
    // 16-byte loads, several in flight per thread (one element per load and iteration took ~50 µs
    // for the 8B geometry's 128256 logits on the H100: a latency chain per thread, not bandwidth)
    int tail = 0;
    if ((((uintptr_t) x) & 15) == 0) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        const int n4 = n / 4;
#pragma unroll 4
        for (int j = threadIdx.x; j < n4; j += blockDim.x) {
            const float4 v = x4[j];
            consider(v.x, 4 * j);
            consider(v.y, 4 * j + 1);
            consider(v.z, 4 * j + 2);
            consider(v.w, 4 * j + 3);
        }
        tail = 4 * n4;
    }
    for (int i = tail + threadIdx.x; i < n; i += blockDim.x) consider(x[i], i);
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { best_v[warp] = bv; best_i[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x >> 5;
        bv = lane < warps ? best_v[lane] : -INFINITY;
        bi = lane < warps ? best_i[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
        }
        if (lane == 0) out[0] = bi == 0x7fffffff ? 0 : bi;
    }
}
