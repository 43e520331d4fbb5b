// Shared helpers for Headroom's CUDA kernels: bf16 widening and block reductions.
#pragma once
#include <stdint.h>

// bfloat16 is the upper half of an IEEE float32: widening is a 16-bit shift.
__device__ __forceinline__ float bf16_to_float(uint16_t v) {
    return __uint_as_float(((uint32_t) v) << 16);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* scratch /* [32] shared */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int warps = blockDim.x >> 5;
    v = lane < warps ? scratch[lane] : 0.f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch /* [32] shared */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int warps = blockDim.x >> 5;
    v = lane < warps ? scratch[lane] : -INFINITY;
    return warp_max(v);
}

// Programmatic dependent launch (compute capability 9.0; CudaDevice.launchDependent). A kernel
// launched so may start while the kernel before it on the stream is still running: before
// wait_prior_grid it may only read what no kernel of the step writes (weights, cached keys of
// earlier positions), and it must not write global memory. wait_prior_grid returns once the kernels
// before it have completed and their writes are visible; allow_next_grid lets the next kernel
// start (it starts anyway when every block has exited). Both are no-ops in plain launches and
// below sm_90.
__device__ __forceinline__ void wait_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_next_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// 16-byte global → shared copy, not waiting; zero-fills the destination when !copy
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool copy) {
    const unsigned d = (unsigned) __cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(copy ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
