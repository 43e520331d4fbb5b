// flash_prefill_wgmma_{f32kv,bf16kv}: flash_prefill_mma.cuh (contract, staging, softmax, launch grid,
// block 128) with both products on Hopper's warpgroup MMA (wgmma.mma_async, sm_90a): the block's four
// warps are one warpgroup, its 64 query rows one m64 operand. S = Q·Kᵀ is HD / 16 m64n64k16 steps,
// O += P·V four m64nHDk16 steps; Q's and P's A operands stay in registers (the warpgroup's A fragment
// is the four warps' mma.sync A fragments), K and V are read from shared memory by descriptor, and the
// float32 accumulators come back in mma.sync's accumulator layout, so the softmax is unchanged.
// Why: mma.sync tops out near two thirds of the H100's tensor rate, and flash_prefill_mma on it
// reached about 200 TFLOPS of attention on a 2048-token chunk at 128K (c73cc72) against cuBLAS's
// ~790 for bf16 GEMMs; wgmma issues a 64 × N × 16 product per instruction at the full rate.
// Tile layout: the 128-byte swizzle of wgmma's canonical layouts. A tile is HD / 64 column blocks of
// 64 keys × 64 dims; a key's 64 dims are one 128-byte row, whose 16-byte piece c (dims 8c..8c + 7)
// sits at piece c ^ (key % 8); blocks 1024-byte aligned. The same tile is K-major for S's B operand
// (K = dims: 8-key groups 1024 B apart, a 16-dim k-step 32 B on inside a block) and MN-major
// (transposed) for P·V's (K = keys: 8-key groups 1024 B apart, the next 64 dims one block on).
// The swizzle lets 8 threads copy a key's 128 contiguous bytes into 8 different bank groups: the
// unswizzled core-matrix layout (8 keys × 8 dims per 128 bytes) made one of the two sides strided,
// and as coalesced copies (8 keys per 8 threads) it doubled the L2 traffic of the staging (ncu: L2
// 92% busy against 43% for flash_prefill_mma, and 34% slower than it on a 2048-token chunk at 128K,
// aa79580).
// Built for sm_90a only (the other targets' kernels trap); the host launches it on compute capability
// 9.0 with head_dim 64 or 128 (CudaLlamaModel.prefillKernel), else flash_prefill_mma.
#include "flash_prefill_mma.cuh"

#define WS_ROWS 128     // flash_prefill_ws128 (below): query rows per block,
#define WS_THREADS 384  // its producer warpgroup and two consumer warpgroups

// The tensor-copy engine (TMA): a CUtensorMap (cuda.h; 128 bytes, 64-byte aligned) made on the host
// (TensorMaps.java, cuTensorMapEncodeTiled) and passed by value as a __grid_constant__ parameter.
struct alignas(64) TensorMap {
    unsigned long long bits[16];
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// D (64 × 64, float32) (+)= A (64 × 16 bf16 in registers: each warp's 16-row fragment in mma.sync's
// A layout) · B (16 × 64 bf16 in shared memory, by descriptor); acc 0: D = A · B; TB 1: B is
// MN-major. Issues the product without waiting for it (wgmma_wait).
template <int TB>
__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc,
                                                int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %36, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "{%32, %33, %34, %35}, %37, p, 1, 1, %38;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
          "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
          "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
          "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
          "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
          "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
          "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
          "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(acc), "l"(desc), "n"(TB));
}

// The output operands of an m64n128 product: a thread's 64 float32 accumulators d[16][4], read and written.
#define WGMMA_D128(d)                                                                                      \
    "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),     \
        "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), \
        "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), \
        "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), \
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), \
        "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]),               \
        "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]),         \
        "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]),         \
        "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]),         \
        "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])

// D (64 × 128, float32) (+)= A (64 × 16 bf16 in registers: each warp's 16-row fragment in mma.sync's
// A layout) · B (16 × 128 bf16 in shared memory, by descriptor); acc 0: D = A · B; TB 1: B is
// MN-major. Issues the product without waiting for it (wgmma_wait).
template <int TB>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[16][4], const uint32_t (&a)[4], uint64_t desc,
                                                int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %68, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "{%64, %65, %66, %67}, %69, p, 1, 1, %70;\n}\n"
        : WGMMA_D128(d)
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(acc), "l"(desc), "n"(TB));
}

// D (64 × 128, float32) (+)= A (64 × 16 bf16 in shared memory, K-major, by descriptor) · B (16 × 128
// bf16 in shared memory, K-major, by descriptor); acc 0: D = A · B. Issues without waiting.
__device__ __forceinline__ void wgmma_m64n128k16_ss(float (&d)[16][4], uint64_t a_desc, uint64_t b_desc, int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n}\n"
        : WGMMA_D128(d)
        : "l"(a_desc), "l"(b_desc), "r"(acc));
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// waits until at most N of this warpgroup's committed product groups are pending (N = 0: all done)
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void wgmma_wait_all() { wgmma_wait<0>(); }

// Pins accumulator registers in place around asynchronous products: reads after a wait and writes
// before an issue stay on their side of it.
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++) {
        asm volatile("" : "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])::"memory");
    }
}

// Shared memory matrix descriptor, 128-byte swizzle (mode 1, bits 62–63): start address, leading and
// stride byte offsets (all in 16-byte units); the swizzle atoms are 1024-byte aligned (base offset 0).
__device__ __forceinline__ uint64_t wgmma_desc(const __nv_bfloat16* smem, uint32_t lead, uint32_t stride) {
    const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    return (uint64_t) ((a & 0x3FFFF) >> 4) | ((uint64_t) (lead >> 4) << 16) | ((uint64_t) (stride >> 4) << 32)
           | (1ull << 62);
}

template <int HD, int KEYS_ = FP_KEYS>
struct WgmmaProducts {
    static_assert(HD == 64 || HD == 128, "P·V is one m64n64 or m64n128 step per 16 keys");
    static constexpr int KEYS = KEYS_;
    static constexpr int TILE = KEYS * HD;
    static constexpr int ALIGN = 1024;
    static constexpr bool COLLECTIVE = true;
    __device__ static __forceinline__ void chunk(int c, int& j, int& d) {  // a key's pieces on consecutive threads
        j = c / (HD / 8);
        d = (c - j * (HD / 8)) * 8;
    }
    __device__ static __forceinline__ int at(int j, int d) {
        return ((d >> 6) * KEYS + j) * 64 + ((((d >> 3) & 7) ^ (j & 7)) << 3);
    }
    // cp.async and st.shared write through the generic proxy, wgmma reads through the async one
    __device__ static __forceinline__ void before_barrier() {
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }

    // S = Q·Kᵀ issued as one commit group, not waited for: s is the products' until a wgmma_wait
    // (then wgmma_fence_operands(s)) says the group completed
    __device__ static __forceinline__ void scores_issue(float (&s)[KEYS / 8][4], const uint32_t (&qa)[HD / 16][4],
                                                        const __nv_bfloat16* ks) {
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {  // dims 16·kk..: column block kk / 4, 32 bytes per k-step in it
            const __nv_bfloat16* base = ks + (kk >> 2) * KEYS * 64 + (kk & 3) * 16;
            if constexpr (KEYS == 128) {
                wgmma_m64n128k16<0>(s, qa[kk], wgmma_desc(base, 16, 1024), kk > 0);  // leading offset unused
            } else {
                wgmma_m64n64k16<0>(s, qa[kk], wgmma_desc(base, 16, 1024), kk > 0);
            }
        }
        wgmma_commit();
    }

    // The same S with Q's 64 rows from shared memory too (qt: a 64-row tile in this layout, K-major),
    // not waited for: frees the 32 registers Q's fragments hold
    __device__ static __forceinline__ void scores_issue_ss(float (&s)[KEYS / 8][4], const __nv_bfloat16* qt,
                                                           const __nv_bfloat16* ks) {
        static_assert(KEYS == 128, "the shared-memory form serves 128-key tiles");
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            const __nv_bfloat16* qb = qt + (kk >> 2) * 64 * 64 + (kk & 3) * 16;
            const __nv_bfloat16* kb = ks + (kk >> 2) * KEYS * 64 + (kk & 3) * 16;
            wgmma_m64n128k16_ss(s, wgmma_desc(qb, 16, 1024), wgmma_desc(kb, 16, 1024), kk > 0);
        }
        wgmma_commit();
    }

    // O += P·V issued as one commit group, not waited for: o and pa are the products' until a
    // wgmma_wait (then wgmma_fence_operands(o)) says the group completed
    __device__ static __forceinline__ void accumulate_issue(float (&o)[HD / 8][4],
                                                            const uint32_t (&pa)[KEYS / 16][4],
                                                            const __nv_bfloat16* vs) {
        wgmma_fence_operands(o);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < KEYS / 16; kk++) {  // keys 16·kk..: two 8-key groups (1024 B each) on
            const uint64_t desc = wgmma_desc(vs + kk * 16 * 64, KEYS * 128, 1024);  // next 64 dims: a block on
            if constexpr (HD == 128) {
                wgmma_m64n128k16<1>(o, pa[kk], desc, 1);
            } else {
                wgmma_m64n64k16<1>(o, pa[kk], desc, 1);
            }
        }
        wgmma_commit();
    }

    __device__ static __forceinline__ void scores(float (&s)[KEYS / 8][4], const uint32_t (&qa)[HD / 16][4],
                                                  const __nv_bfloat16* ks) {
        scores_issue(s, qa, ks);
        wgmma_wait_all();
        wgmma_fence_operands(s);
    }

    __device__ static __forceinline__ void accumulate(float (&o)[HD / 8][4], const uint32_t (&pa)[KEYS / 16][4],
                                                      const __nv_bfloat16* vs) {
        accumulate_issue(o, pa, vs);
        wgmma_wait_all();
        wgmma_fence_operands(o);
    }
};


__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
// arrive: release of this thread's earlier shared-memory writes to the thread that sees the phase complete
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
    asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_u32(bar))
                 : "memory");
}
// waits (acquire) for the completion of the barrier's phase of this parity
__device__ __forceinline__ void mbar_wait(uint64_t* bar, int parity) {
    uint32_t done;
    do {
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(smem_u32(bar)), "r"(parity)
            : "memory");
    } while (!done);
}
__device__ __forceinline__ void named_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// arrive, and expect `bytes` more of asynchronous copies to complete on the barrier's current phase
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes)
                 : "memory");
}
// one box of a 2-D tensor map at coordinates (c0: innermost, c1) into shared memory (the map's
// swizzle, dst 1024-byte aligned), its bytes completing on bar
__device__ __forceinline__ void tma_load_2d(void* dst, const TensorMap* map, int c0, int c1, uint64_t* bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
        "[%4];\n" ::"r"(smem_u32(dst)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_u32(bar))
        : "memory");
}

// The two consumer warpgroups take turns on the tensor core (FlashAttention-3's ping-pong): a
// warpgroup waits on its named barrier (mine) before each product and arrives on the other's once
// the product completed, so one warpgroup's softmax runs while the other's products do. Warpgroup 1
// gives the first turn away at the start and owes one arrival fewer, so that every arrival is met.
struct TensorTurns {
    int mine, other, owed;
    __device__ void before() const { named_barrier(mine, 2 * FP_THREADS); }
    __device__ void after() {
        if (owed > 0) {
            named_barrier_arrive(other, 2 * FP_THREADS);
            owed--;
        }
    }
};



// ---------------------------------------------------------------------------------------------
// flash_prefill_ws128_{f32kv,bf16kv}: the same attention with the block's work split by warp role
// (warp specialisation, FlashAttention-3's arrangement) on 128-key tiles. A block of WS_THREADS = 384
// serves WS_ROWS = 128 query rows. Warpgroup 0 (the producer, WS128_PRODUCER_REGS after setmaxnreg)
// only stages K/V tiles: a retrieval head's whole 128-key tiles from the pool by the tensor-copy
// engine (tma: one thread, two 64-row boxes per column block, since the halves may lie in two pages;
// the bytes counted on the slot's mbarrier), every other tile (streaming heads' ring, partial tiles,
// f32 KV, no maps) by flash_prefill_mma's key and vector phases over its 128 threads, K and V together.
// Warpgroups 1 and 2 (64 rows each, one m64 operand; WS128_CONSUMER_REGS) only multiply and run the
// softmax, taking turns on the tensor core (TensorTurns), and overlap each tile's softmax with the
// previous tile's P·V (the consumer loop below). The registers of S (64), P (32) and O (64 per
// consumer thread) leave no room for Q's fragments: Q is staged once in shared memory in the swizzled
// K-major layout (a 64-row tile per consumer warpgroup) and S (m64n128) reads both operands by
// descriptor. K and V have rings of their own (WS128_STAGES each): tile j's K is released once its
// softmax has used its positions, its V once its P·V completed, so the producer stages K_{j+1} and
// V_j while the consumers hold K_j and V_{j−1}. Hand-over through mbarriers: full_k/full_v[s] complete
// when the producer's 128 threads have arrived (their copies of slot s landed and fenced for the async
// proxy, or its positions written) and the tensor copies' bytes are in; empty_k/empty_v[s] when the
// consumers' 256 threads are done with it. Blocks start longest first (duo_block_longest_first).
// Measured (H100, 8B geometry, bf16 KV, one 2048-token chunk after 129,024 positions; each row one
// call): the 64-key predecessor flash_prefill_ws (one ring of K/V pairs, removed at its successor's
// first measurement) went from 0.466 s (4b9dcb0; 0.528 for wgmma) to 0.323 s with tensor-copy tiles
// (182652a, b5dc5f7); this kernel 0.288 s against its 0.320–0.325, and 8B full 128K prefill 12.08 s
// against 12.97 s (8cc790b, 1aa63dd; src/docs/bench/cuda-resident.md).
// Launch: grid = (ceil(n / (WS_ROWS / hpb)), kv_heads · group / hpb, splits), block = WS_THREADS,
// one block per SM; dynamic shared memory CudaLlamaModel.flashSmem(WS): 2 · WS128_STAGES tiles of 128
// keys from a 1024-byte boundary, Q (WS_ROWS × HD, swizzled), WS128_STAGES × 128 row offsets and
// positions, 4 · WS128_STAGES mbarriers; then the WS_MAP_ARGS (below).
#define WS128_KEYS 128
#define WS128_STAGES 2
#define WS128_PRODUCER_REGS 88   // registers per thread after setmaxnreg: its cp.async path's 16 unrolled
#define WS128_CONSUMER_REGS 208  // passes take 88 (no spills); each consumer 208 (88 + 2 · 208 = 3 · 168)

// One 128-key K or V tile by the tensor-copy engine, in flash_prefill_ws128's producer (its P, KEYS, HD and
// row[2]: the two 64-key halves' first pool rows, which may lie in two pages): HD / 64 column blocks of
// two 64-row boxes each, the tile's bytes expected on BAR. A macro, so the kernel compiles as it did when
// the K and V copies were written out (the cubin is byte-identical; a function renumbered the PTX).
#define WS128_TMA_TILE(DST, MAP, BAR)                                                    \
    do {                                                                                 \
        mbar_arrive_expect_tx(BAR, P::TILE * sizeof(__nv_bfloat16));                     \
        _Pragma("unroll") for (int c = 0; c < HD / 64; c++) {                            \
            tma_load_2d(DST + c * KEYS * 64, MAP, c * 64, row[0], BAR);                  \
            tma_load_2d(DST + c * KEYS * 64 + 64 * 64, MAP, c * 64, row[1], BAR);        \
        }                                                                                \
    } while (0)

// Stages the block's WS_ROWS query rows (scaled, bf16) as WS_ROWS / 64 tiles of 64 rows in WgmmaProducts'
// swizzled layout (an A operand by descriptor); rows past `rows` are zeros.
template <int HD>
__device__ __forceinline__ void ws_stage_q_tiles(__nv_bfloat16* qs, const float* __restrict__ q, float scale,
                                                 int rows, int t0, int h0, int hpb, int heads) {
    for (int e = threadIdx.x; e < WS_ROWS * (HD / 8); e += blockDim.x) {
        const int r = e / (HD / 8), d = (e - r * (HD / 8)) * 8;
        uint4 packed = make_uint4(0, 0, 0, 0);
        if (r < rows) {
            const int t = t0 + r / hpb, h = h0 + r % hpb;
            packed = bf16x8(q + ((long long) t * heads + h) * HD + d, scale);
        }
        *reinterpret_cast<uint4*>(qs + (r >> 6) * 64 * HD + WgmmaProducts<HD>::at(r & 63, d)) = packed;
    }
}

template <typename KT, int HD>
__device__ void flash_prefill_ws128(DUO_ATTENTION_ARGS_RESTRICT(KT), const TensorMap* k_map, const TensorMap* v_map,
                                    int tma, const int* __restrict__ order) {  // head_dim == HD (the dispatch)
    using P = WgmmaProducts<HD, WS128_KEYS>;
    constexpr int KEYS = WS128_KEYS, STAGES = WS128_STAGES;
    extern __shared__ __align__(128) unsigned char ws_smem[];
    __nv_bfloat16* k_buf = reinterpret_cast<__nv_bfloat16*>(ws_smem);  // STAGES K tiles, then STAGES V tiles
    k_buf += ((P::ALIGN - (smem_u32(k_buf) & (P::ALIGN - 1))) & (P::ALIGN - 1)) / 2;
    __nv_bfloat16* v_buf = k_buf + STAGES * P::TILE;
    __nv_bfloat16* qs = v_buf + STAGES * P::TILE;                          // WS_ROWS × HD, swizzled
    long long* rs_buf = reinterpret_cast<long long*>(qs + WS_ROWS * HD);  // STAGES × KEYS
    int* ps_buf = reinterpret_cast<int*>(rs_buf + STAGES * KEYS);         // STAGES × KEYS
    uint64_t* full_k = reinterpret_cast<uint64_t*>(ps_buf + STAGES * KEYS);
    uint64_t* full_v = full_k + STAGES;
    uint64_t* empty_k = full_v + STAGES;
    uint64_t* empty_v = empty_k + STAGES;

    const int start = *start_ptr;
    const DuoBlock blk = duo_block_longest_first(heads, kv_heads, hpb, WS_ROWS, n, start, order);
    const int g = blk.g, h0 = blk.h0, t0 = blk.t0, rows = blk.rows;
    const bool stream = streaming[g] != 0;
    const DuoRanges kr = duo_ranges(stream, blk.i_first, blk.i_last, sink, recent, splits, blockIdx.z, KEYS);
    const int v_begin = kr.v_begin, v_end = kr.v_end;
    const int ntiles = v_end > v_begin ? (v_end - v_begin + KEYS - 1) / KEYS : 0;

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(full_k + s, FP_THREADS);
            mbar_init(full_v + s, FP_THREADS);
            mbar_init(empty_k + s, 2 * FP_THREADS);
            mbar_init(empty_v + s, 2 * FP_THREADS);
        }
    }
    ws_stage_q_tiles<HD>(qs, q, scale * 1.4426950408889634f, rows, t0, h0, hpb, heads);  // log2 domain
    P::before_barrier();  // Q's generic-proxy stores, read by wgmma through the async proxy
    __syncthreads();      // barriers initialised, Q staged

    if (threadIdx.x < FP_THREADS) {  // the producer warpgroup: tile it into K slot and V slot it % STAGES
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(WS128_PRODUCER_REGS));
        const KT* k_cache = stream ? k_ring : k_pool;
        const KT* v_cache = stream ? v_ring : v_pool;
        const bool by_map = sizeof(KT) == 2 && tma && !stream && page_tokens % 64 == 0;
        const int cached_end = tma == 2 ? v_end : min(v_end, start);
        for (int it = 0; it < ntiles; it++) {
            const int s = it % STAGES, phase = (it / STAGES - 1) & 1;
            int* ps = ps_buf + s * KEYS;
            long long* rs = rs_buf + s * KEYS;
            __nv_bfloat16* ks = k_buf + s * P::TILE;
            __nv_bfloat16* vs = v_buf + s * P::TILE;
            const int vt = v_begin + it * KEYS;
            if (by_map && vt + KEYS <= cached_end) {
                if (it >= STAGES) mbar_wait(empty_k + s, phase);  // tile it − STAGES's K and positions used
                ps[threadIdx.x] = vt + threadIdx.x;              // 128 threads, 128 keys
                int row[2] = {0, 0};                             // the two 64-key halves' first pool rows
                if (threadIdx.x == 0) {
#pragma unroll
                    for (int half = 0; half < 2; half++) {
                        const int p = vt + 64 * half;
                        row[half] = page_table[g * max_pages + p / page_tokens] * page_tokens + p % page_tokens;
                    }
                    WS128_TMA_TILE(ks, k_map, full_k + s);
                } else {
                    mbar_arrive(full_k + s);  // its position written
                }
                if (it >= STAGES) mbar_wait(empty_v + s, phase);  // tile it − STAGES's P·V done
                if (threadIdx.x == 0) {
                    WS128_TMA_TILE(vs, v_map, full_v + s);
                } else {
                    mbar_arrive(full_v + s);
                }
                continue;
            }
            if (it >= STAGES) {
                mbar_wait(empty_k + s, phase);
                mbar_wait(empty_v + s, phase);
            }
            fpm_stage_keys<KEYS>(ps, rs, kr, vt, v_end, start, g, stream, HD, page_table, max_pages, page_tokens,
                                 sink, recent);
            named_barrier(1, FP_THREADS);  // every key's position and row, for every producer thread
            fpm_stage_vectors<KT, HD, P>(ks, vs, ps, rs, start, g, kv_heads, k_chunk, v_chunk, k_cache, v_cache);
            cp_async_wait<0>();
            P::before_barrier();
            mbar_arrive(full_k + s);
            mbar_arrive(full_v + s);
        }
        return;
    }
    // the consumer warpgroups: turns on the tensor core, tile j's softmax overlapping tile j − 1's P·V
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(WS128_CONSUMER_REGS));
    const FpmRows rw = fpm_rows((threadIdx.x - FP_THREADS) >> 5, rows, start, t0, hpb);
    const int wg = threadIdx.x / FP_THREADS - 1;
    const __nv_bfloat16* qt = qs + wg * 64 * HD;  // this warpgroup's 64 rows
    float o[HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.f, lb = 0.f;  // running maxima (log2 domain) and sums
    TensorTurns turns{2 + wg, 3 - wg, ntiles + 1 - wg};
    if (wg == 1 && ntiles > 0) named_barrier_arrive(2, 2 * FP_THREADS);  // warpgroup 0 goes first
    auto k_tile = [&](int it) { return k_buf + (it % STAGES) * P::TILE; };
    auto v_tile = [&](int it) { return v_buf + (it % STAGES) * P::TILE; };
    auto positions = [&](int it) { return ps_buf + (it % STAGES) * KEYS; };
    uint32_t pa[KEYS / 16][4];  // the previous tile's P
    float aa = 1.f, ab = 1.f;   // and the factors O is rescaled by before its P·V is added
    if (ntiles > 0) {           // tile 0: S alone
        mbar_wait(full_k, 0);
        const bool all_visible = fpm_all_visible<KEYS>(rw, positions(0), stream, sink, recent);
        float s[KEYS / 8][4];
        turns.before();
        P::scores_issue_ss(s, qt, k_tile(0));
        turns.after();
        wgmma_wait<0>();
        wgmma_fence_operands(s);
        fpm_softmax<KEYS>(s, ma, mb, la, lb, aa, ab, rw, positions(0), stream, sink, recent, all_visible);
        mbar_arrive(empty_k);  // K and positions of tile 0 used
        fpm_pack<KEYS>(pa, s);
    }
    for (int it = 1; it < ntiles; it++) {
        mbar_wait(full_k + it % STAGES, (it / STAGES) & 1);
        mbar_wait(full_v + (it - 1) % STAGES, ((it - 1) / STAGES) & 1);
        const bool all_visible = fpm_all_visible<KEYS>(rw, positions(it), stream, sink, recent);
        float s[KEYS / 8][4];
        turns.before();
        P::scores_issue_ss(s, qt, k_tile(it));
        fpm_rescale<HD>(o, aa, ab);
        P::accumulate_issue(o, pa, v_tile(it - 1));
        turns.after();
        wgmma_wait<1>();  // S done; P·V may still run
        wgmma_fence_operands(s);
        fpm_softmax<KEYS>(s, ma, mb, la, lb, aa, ab, rw, positions(it), stream, sink, recent, all_visible);
        mbar_arrive(empty_k + it % STAGES);
        wgmma_wait<0>();  // P·V done: pa and tile it − 1's V are free
        wgmma_fence_operands(o);
        mbar_arrive(empty_v + (it - 1) % STAGES);
        fpm_pack<KEYS>(pa, s);
    }
    if (ntiles > 0) {  // the last tile's P·V
        mbar_wait(full_v + (ntiles - 1) % STAGES, ((ntiles - 1) / STAGES) & 1);
        turns.before();
        fpm_rescale<HD>(o, aa, ab);
        P::accumulate_issue(o, pa, v_tile(ntiles - 1));
        turns.after();
        wgmma_wait<0>();
        wgmma_fence_operands(o);
    }
    fpm_store<HD>(o, ma, mb, la, lb, rw, rows, t0, h0, hpb, n, heads, splits, blockIdx.z, out, part);
}

#endif

// flash_prefill_ws128's parameters after the shared list: the pool's key and value tensor maps (rows
// of head_dim bf16, boxes of 64 rows × 64 dims, 128-byte swizzle), whether to use them (tma: 0 no; 1
// for cached positions; 2 also for the chunk's, which kv_append wrote to the retrieval heads' pages
// before attention), and the layer's KV heads in block order (retrieval heads first: CudaSequence's
// head order)
#define WS_MAP_ARGS                                                                                  \
    const __grid_constant__ TensorMap k_map, const __grid_constant__ TensorMap v_map, int tma, \
        const int* __restrict__ order

template <typename KT>
__device__ __forceinline__ void flash_prefill_ws128_dispatch(DUO_ATTENTION_ARGS(KT), const TensorMap* k_map,
                                                             const TensorMap* v_map, int tma, const int* order) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (head_dim == 128) {
        flash_prefill_ws128<KT, 128>(DUO_ATTENTION_CALL, k_map, v_map, tma, order);
    } else if (head_dim == 64) {
        flash_prefill_ws128<KT, 64>(DUO_ATTENTION_CALL, k_map, v_map, tma, order);
    } else {
        __trap();  // the host launches it only for head_dim 64 or 128
    }
#else
    __trap();  // not built for this device: the host launches it only on sm_90 (sm_90a code)
#endif
}

extern "C" __global__ void __launch_bounds__(WS_THREADS, 1) flash_prefill_ws128_f32kv(DUO_ATTENTION_ARGS(float),
                                                                                      WS_MAP_ARGS) {
    flash_prefill_ws128_dispatch<float>(DUO_ATTENTION_CALL, &k_map, &v_map, tma, order);
}

extern "C" __global__ void __launch_bounds__(WS_THREADS, 1) flash_prefill_ws128_bf16kv(
    DUO_ATTENTION_ARGS(uint16_t), WS_MAP_ARGS) {
    flash_prefill_ws128_dispatch<uint16_t>(DUO_ATTENTION_CALL, &k_map, &v_map, tma, order);
}

template <typename KT>
__device__ __forceinline__ void flash_prefill_wgmma_dispatch(DUO_ATTENTION_ARGS(KT)) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (head_dim == 128) {
        flash_prefill_mma<KT, 128, WgmmaProducts<128>>(DUO_ATTENTION_CALL);
    } else if (head_dim == 64) {
        flash_prefill_mma<KT, 64, WgmmaProducts<64>>(DUO_ATTENTION_CALL);
    } else {
        __trap();  // the host launches it only for head_dim 64 or 128
    }
#else
    __trap();  // not built for this device: the host launches it only on sm_90 (sm_90a code)
#endif
}

extern "C" __global__ void __launch_bounds__(128, 3) flash_prefill_wgmma_f32kv(DUO_ATTENTION_ARGS(float)) {
    flash_prefill_wgmma_dispatch<float>(DUO_ATTENTION_CALL);
}

extern "C" __global__ void __launch_bounds__(128, 3) flash_prefill_wgmma_bf16kv(DUO_ATTENTION_ARGS(uint16_t)) {
    flash_prefill_wgmma_dispatch<uint16_t>(DUO_ATTENTION_CALL);
}
