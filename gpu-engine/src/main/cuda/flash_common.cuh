// Shared pieces of the tensor-core prefill kernels (flash_prefill.cu, flash_prefill_wgmma.cu) and the
// tensor-core decode kernel: tile sizes, bf16 packing, Q staging, and the mma.sync / ldmatrix
// fragment helpers.
#pragma once
#include "common.cuh"
#include <cuda_bf16.h>

#define FP_ROWS 64
#define FP_THREADS 128  // the block of every prefill kernel: 4 warps, 16 query rows each
#define FP_KEYS 64

// Eight consecutive elements (16-byte aligned) as eight bf16 in one uint4: float32 sources are
// scaled and rounded to nearest even, bf16 sources (scale 1) are copied bit for bit.
__device__ __forceinline__ uint32_t bf16x2(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ uint4 bf16x8(const float* __restrict__ p, float scale) {
    const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
    return make_uint4(bf16x2(a.x * scale, a.y * scale), bf16x2(a.z * scale, a.w * scale),
                      bf16x2(b.x * scale, b.y * scale), bf16x2(b.z * scale, b.w * scale));
}

__device__ __forceinline__ uint4 bf16x8(const uint16_t* __restrict__ p, float) {
    return *reinterpret_cast<const uint4*>(p);
}

// Stages the block's query rows (scaled, bf16) into qs (block_rows × ld), 8 elements per 16-byte
// store; rows past `rows` are zeros.
__device__ __forceinline__ void fp_stage_q(__nv_bfloat16* qs, int ld, const float* __restrict__ q, float scale,
                                           int rows, int t0, int h0, int hpb, int heads, int hd,
                                           int block_rows = FP_ROWS) {
    const int vpr = hd >> 3;  // 8-element vectors per row
    for (int e = threadIdx.x; e < block_rows * vpr; e += blockDim.x) {
        const int r = e / vpr, d = (e - r * vpr) * 8;
        uint4 packed = make_uint4(0, 0, 0, 0);
        if (r < rows) {
            const int t = t0 + r / hpb, h = h0 + r % hpb;
            packed = bf16x8(q + ((long long) t * heads + h) * hd + d, scale);
        }
        *reinterpret_cast<uint4*>(qs + r * ld + d) = packed;
    }
}

// ---------------------------------------------------------------------------------------------
// mma.sync m16n8k16 and ldmatrix: the fragment layouts of flash_prefill_mma and duo_decode_mma.

__device__ __forceinline__ void mma_bf16_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_word(const __nv_bfloat16* p) {
    return *reinterpret_cast<const uint32_t*>(p);
}

// Two 8×8 bf16 matrices, transposed, as a B fragment: lanes 0–7 address the rows of the first
// (keys k..k+7), lanes 8–15 those of the second (keys k+8..k+15); each row pointer 16-byte aligned.
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t& r0, uint32_t& r1, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r0), "=r"(r1)
                 : "r"(addr));
}

// Four 8×8 bf16 matrices: lanes 8·m .. 8·m + 7 address the rows of matrix m (16-byte aligned); lane
// l receives row l / 4, columns 2·(l % 4), +1 of each (r_m). Non-transposed from row-major K rows
// [key][dim] this is the B fragment pair (b0, b1) of two k-steps; transposed from V rows, of two
// 8-dim output tiles.
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const __nv_bfloat16* row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
