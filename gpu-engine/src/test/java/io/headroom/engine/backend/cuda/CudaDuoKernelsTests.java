package io.headroom.engine.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.tensor.Bf16Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The resident path's own kernels against double-precision references written from their
 * definitions: {@code duo_attention_*} + {@code attention_combine} (retrieval heads on shuffled
 * pages, streaming heads on sink + ring, a chunk after a cached prefix, split-K shares, head sizes
 * on and off the 8-element vector path, f32 and bf16 caches), {@code kv_append_*} (what is written
 * and what is left alone), {@code qkv_bias_rope_f32}, {@code rmsnorm_residual_f32} and
 * {@code argmax_f32}; decode's fused kernels against the per-op launches they replace. Fresh seeded
 * inputs, every output and every unused cache slot poisoned with NaN (a read of a wrong slot shows
 * as NaN). Tagged {@code gpu}.
 */
@Tag("gpu")
class CudaDuoKernelsTests {

    /** Float32 math in another order than the double reference (and device expf). */
    static final double TOLERANCE = 2e-5;
    /** Q, K, V and the probabilities rounded to bf16 (8 significant bits) before the products. */
    static final double TENSOR_CORE_TOLERANCE = 2e-2;

    static CudaDevice dev;
    final List<CUdeviceptr> allocated = new ArrayList<>();
    final SplittableRandom rnd = new SplittableRandom(System.nanoTime());

    @BeforeAll
    static void open() {
        dev = CudaDevice.open(0);
    }

    @AfterAll
    static void close() {
        dev.close();
    }

    @AfterEach
    void free() {
        allocated.forEach(dev::free);
        allocated.clear();
    }

    CUdeviceptr up(float[] a) {
        CUdeviceptr p = dev.upload(a, a.length);
        allocated.add(p);
        return p;
    }

    CUdeviceptr up(int[] a) {
        CUdeviceptr p = dev.upload(a);
        allocated.add(p);
        return p;
    }

    CUdeviceptr up(short[] a) {
        CUdeviceptr p = dev.upload(a);
        allocated.add(p);
        return p;
    }

    float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(-1, 1);
        }
        return a;
    }

    static float bf16Round(float v) {
        return Float.intBitsToFloat((Bf16Tensor.fromFloat(v) & 0xffff) << 16);
    }

    /** A cache laid out as the device keeps it, filled for positions below start, NaN elsewhere. */
    record Cache(float[] poolK, float[] poolV, int[] pageTable, float[] ringK, float[] ringV) {
    }

    @ParameterizedTest(name = "hd={0} heads={1}/{2} start={3} n={4} splits={5} bf16={6}")
    @CsvSource({"64, 8, 2, 0, 37, 1, false", "64, 8, 2, 50, 5, 1, false", "64, 8, 2, 50, 1, 4, false",
        "36, 4, 4, 23, 7, 3, false", "128, 32, 8, 300, 1, 16, true", "64, 6, 2, 90, 17, 2, true",
        "40, 4, 1, 13, 30, 1, true", "96, 8, 1, 77, 1, 5, true", "32, 4, 4, 20, 1, 1, false",
        "128, 32, 8, 40, 1, 1, false", "128, 32, 8, 200, 130, 1, true", "64, 8, 8, 70, 100, 2, false",
        "16, 4, 2, 3, 65, 1, false", "64, 16, 4, 2000, 1, 4, true", "128, 8, 8, 1500, 1, 1, true",
        "48, 8, 2, 30, 40, 1, true", "80, 8, 2, 300, 1, 2, true", "128, 32, 8, 700, 150, 3, true",
        "64, 8, 2, 129, 64, 1, true", "128, 32, 8, 3000, 1, 40, true", "64, 8, 8, 2500, 1, 33, true",
        "128, 8, 8, 1500, 1, 24, false", "128, 8, 2, 1200, 40, 1, true"})
    void duoAttentionShouldMatchItsDefinition(int hd, int heads, int kvHeads, int start, int n, int splits,
            boolean bf16) {
        // from 128 cached positions, pages of 64: whole tiles that flash_prefill_ws128 copies by tensor map
        int pageTokens = start >= 128 ? 64 : 16;
        int sink = 3;
        int recent = 10;
        int slots = sink + recent;
        int total = start + n;
        int maxPages = (total + pageTokens - 1) / pageTokens + 1;
        boolean[] streaming = new boolean[kvHeads];
        for (int g = 0; g < kvHeads; g++) {
            streaming[g] = kvHeads == 1 ? rnd.nextBoolean() : g % 2 == 1;
        }
        // every position's key and value (the cached part rounded as the cache stores it)
        float[][] keys = new float[kvHeads][];
        float[][] values = new float[kvHeads][];
        for (int g = 0; g < kvHeads; g++) {
            keys[g] = random(total * hd);
            values[g] = random(total * hd);
            if (bf16) {
                for (int i = 0; i < start * hd; i++) {
                    keys[g][i] = bf16Round(keys[g][i]);
                    values[g][i] = bf16Round(values[g][i]);
                }
            }
        }
        int pages = kvHeads * maxPages;
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < pages; i++) {
            ids.add(i);
        }
        java.util.Collections.shuffle(ids, new java.util.Random(rnd.nextLong()));
        float[] poolK = new float[pages * pageTokens * hd];
        float[] poolV = new float[pages * pageTokens * hd];
        Arrays.fill(poolK, Float.NaN);
        Arrays.fill(poolV, Float.NaN);
        int[] pageTable = new int[kvHeads * maxPages];
        float[] ringK = new float[kvHeads * slots * hd];
        float[] ringV = new float[kvHeads * slots * hd];
        Arrays.fill(ringK, Float.NaN);
        Arrays.fill(ringV, Float.NaN);
        for (int g = 0; g < kvHeads; g++) {
            for (int i = 0; i < maxPages; i++) {
                pageTable[g * maxPages + i] = ids.get(g * maxPages + i);
            }
            for (int p = 0; p < start; p++) {
                if (!streaming[g]) {
                    int at = (pageTable[g * maxPages + p / pageTokens] * pageTokens + p % pageTokens) * hd;
                    System.arraycopy(keys[g], p * hd, poolK, at, hd);
                    System.arraycopy(values[g], p * hd, poolV, at, hd);
                } else if (p < sink || p >= Math.max(sink, start - recent)) {
                    int slot = p < sink ? p : sink + p % recent;
                    System.arraycopy(keys[g], p * hd, ringK, (g * slots + slot) * hd, hd);
                    System.arraycopy(values[g], p * hd, ringV, (g * slots + slot) * hd, hd);
                }
            }
        }
        float[] kChunk = new float[n * kvHeads * hd];
        float[] vChunk = new float[n * kvHeads * hd];
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < kvHeads; g++) {
                System.arraycopy(keys[g], (start + t) * hd, kChunk, (t * kvHeads + g) * hd, hd);
                System.arraycopy(values[g], (start + t) * hd, vChunk, (t * kvHeads + g) * hd, hd);
            }
        }
        float[] q = random(n * heads * hd);
        float scale = (float) (1 / Math.sqrt(hd));

        // reference from the definition
        double[] expected = new double[n * heads * hd];
        int group = heads / kvHeads;
        for (int t = 0; t < n; t++) {
            int i = start + t;
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                double[] s = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p <= i; p++) {
                    boolean visible = !streaming[g] || p < sink || p > i - recent;
                    if (!visible) {
                        s[p] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += (double) q[(t * heads + h) * hd + d] * keys[g][p * hd + d];
                    }
                    s[p] = dot * scale;
                    max = Math.max(max, s[p]);
                }
                double sum = 0;
                for (int p = 0; p <= i; p++) {
                    s[p] = s[p] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[p] - max);
                    sum += s[p];
                }
                for (int d = 0; d < hd; d++) {
                    double acc = 0;
                    for (int p = 0; p <= i; p++) {
                        acc += s[p] * values[g][p * hd + d];
                    }
                    expected[(t * heads + h) * hd + d] = acc / sum;
                }
            }
        }

        float[] out = new float[n * heads * hd];
        Arrays.fill(out, Float.NaN);
        float[] part = new float[splits * n * heads * (hd + 2)];
        Arrays.fill(part, Float.NaN);
        CUdeviceptr dOut = up(out);
        CUdeviceptr dPart = up(part);
        int[] flags = new int[kvHeads];
        for (int g = 0; g < kvHeads; g++) {
            flags[g] = streaming[g] ? 1 : 0;
        }
        Object kPool = bf16 ? up(toBf16(poolK)) : up(poolK);
        Object vPool = bf16 ? up(toBf16(poolV)) : up(poolV);
        Object kRing = bf16 ? up(toBf16(ringK)) : up(ringK);
        Object vRing = bf16 ? up(toBf16(ringV)) : up(ringV);
        int hpb = CudaLlamaModel.headsPerBlock(group);
        int tpb = 16 / hpb;
        String kernel = bf16 ? "duo_attention_bf16kv" : "duo_attention_f32kv";
        dev.launchGrid(kernel, (n + tpb - 1) / tpb, kvHeads * (group / hpb), splits, 128,
                4 * (16 * hd + 32 * (hd + 1) + 32 * hd + 32), up(q), up(kChunk), up(vChunk), kPool, vPool,
                up(pageTable), kRing, vRing, up(flags), up(new int[] {start}), dOut, dPart, n, heads, kvHeads, hd,
                pageTokens, maxPages, sink, recent, hpb, splits, scale);
        if (splits > 1) {
            CudaLlamaModel.combine(dev, dPart, dOut, n * heads, hd, splits);
        }
        dev.synchronize(kernel);
        dev.download(dOut, out, out.length);
        assertMatches(out, expected, kernel);
        for (PrefillAttention tc : List.of(PrefillAttention.TENSOR_CORES, PrefillAttention.TENSOR_CORES_MMA,
                PrefillAttention.WGMMA, PrefillAttention.WARP_SPECIALIZED)) {
            int smem = CudaLlamaModel.flashSmem(tc, hd);
            if (n == 1 || hd % 16 != 0 || hd > 128 || smem > dev.maxSharedMemoryOptin()) {
                continue;
            }
            boolean hopper = tc == PrefillAttention.WGMMA || tc.warpSpecialized();
            if (hopper && (dev.computeCapability() != 90 || hd != 64 && hd != 128)) {
                continue; // Hopper code (sm_90a) for head_dim 64 and 128
            }
            // the tensor-core prefill kernels: Q, K, V and P rounded to bf16, so a bf16-level tolerance
            String flash = kernelName(bf16, tc);
            Arrays.fill(out, Float.NaN);
            int ftpb = CudaLlamaModel.flashRows(tc) / hpb;
            // flash_prefill_ws128: every tile by cp.async; (bf16, 64-token pages) whole cached tiles by tensor
            // map; and with the chunk's retrieval-head rows in the pool as well (kv_append before attention);
            // its blocks walk the heads retrieval first, as the model's launches do
            boolean maps = tc.warpSpecialized() && bf16 && pageTokens % 64 == 0;
            for (int pass = 0; pass < (maps ? 3 : 1); pass++) {
                CUdeviceptr dOut3 = up(out);
                CUdeviceptr dPart3 = up(part);
                Object kp = pass == 2 ? up(toBf16(withChunk(poolK, keys, streaming, pageTable, maxPages, pageTokens,
                        start, n, hd))) : kPool;
                Object vp = pass == 2 ? up(toBf16(withChunk(poolV, values, streaming, pageTable, maxPages, pageTokens,
                        start, n, hd))) : vPool;
                Object[] args = {up(q), up(kChunk), up(vChunk), kp, vp, up(pageTable), kRing, vRing, up(flags),
                    up(new int[] {start}), dOut3, dPart3, n, heads, kvHeads, hd, pageTokens, maxPages, sink, recent,
                    hpb, splits, scale};
                if (tc.warpSpecialized()) {
                    long rows = (long) pages * pageTokens;
                    CUdeviceptr order = up(headOrder(streaming, sink, recent));
                    args = pass == 0 ? CudaLlamaModel.withMaps(args, null, null, false, order)
                            : CudaLlamaModel.withMaps(args, TensorMaps.bf16Rows((CUdeviceptr) kp, rows, hd, 64),
                                    TensorMaps.bf16Rows((CUdeviceptr) vp, rows, hd, 64), pass == 2, order);
                }
                dev.launchGrid(flash, (n + ftpb - 1) / ftpb, kvHeads * (group / hpb), splits,
                        CudaLlamaModel.flashThreads(tc), smem, args);
                if (splits > 1) {
                    CudaLlamaModel.combine(dev, dPart3, dOut3, n * heads, hd, splits);
                }
                dev.synchronize(flash);
                float[] got = new float[out.length];
                dev.download(dOut3, got, got.length);
                String form = pass == 1 ? " (tensor maps)" : pass == 2 ? " (chunk in pool)" : "";
                assertMatches(got, expected, flash + form, TENSOR_CORE_TOLERANCE);
            }
        }
        if (n == 1 && hd % 32 == 0 && hd <= 128 && group <= 8) {
            // the decode-specialised kernel on the same cache
            String decode = bf16 ? "duo_decode_bf16kv" : "duo_decode_f32kv";
            launchDecode(decode, CudaLlamaModel.decodeSmem(group, hd, bf16 ? 2 : 4), streaming, splits, out, up(q),
                    up(kChunk), up(vChunk), kPool, vPool, up(pageTable), kRing, vRing, up(flags),
                    up(new int[] {start}), heads, hd, pageTokens, maxPages, sink, recent, scale);
            assertMatches(out, expected, decode);
        }
        if (n == 1 && bf16 && hd % 16 == 0 && hd <= 128 && group <= 8) {
            // the tensor-core decode kernel: Q, P and the current key/value rounded to bf16
            String decode = "duo_decode_mma_bf16kv";
            launchDecode(decode, CudaLlamaModel.decodeMmaSmem(hd), streaming, splits, out, up(q), up(kChunk),
                    up(vChunk), kPool, vPool, up(pageTable), kRing, vRing, up(flags), up(new int[] {start}), heads, hd,
                    pageTokens, maxPages, sink, recent, scale);
            assertMatches(out, expected, decode, TENSOR_CORE_TOLERANCE);
        }
    }

    /**
     * Runs a decode attention kernel as the model does: a one-dimensional grid of the retrieval
     * heads' {@code splits} shares, then the streaming heads' (about half as many), and
     * attention_combine over both. Leaves the result in {@code out}.
     */
    /** One layer whose KV head g streams where streaming[g]. */
    private static DuoLayout layer(boolean[] streaming, int sink, int recent) {
        boolean[] isRetrieval = new boolean[streaming.length];
        for (int g = 0; g < streaming.length; g++) {
            isRetrieval[g] = !streaming[g];
        }
        return new DuoLayout(new boolean[][] {isRetrieval}, sink, recent);
    }

    /** The layer's KV heads in the kernels' block order: retrieval heads, then streaming heads. */
    private static int[] headOrder(boolean[] streaming, int sink, int recent) {
        return CudaLlamaModel.headOrder(layer(streaming, sink, recent), 0);
    }

    private void launchDecode(String kernel, int smem, boolean[] streaming, int splits, float[] out,
            CUdeviceptr q, CUdeviceptr kChunk, CUdeviceptr vChunk, Object kPool, Object vPool, CUdeviceptr pageTable,
            Object kRing, Object vRing, CUdeviceptr flags, CUdeviceptr start, int heads, int hd, int pageTokens,
            int maxPages, int sink, int recent, float scale) {
        int kvHeads = streaming.length;
        int[] order = headOrder(streaming, sink, recent);
        int retrieval = layer(streaming, sink, recent).retrievalHeads(0);
        int streamSplits = (splits + 1) / 2;
        float[] poisoned = new float[splits * heads * (hd + 2)];
        Arrays.fill(poisoned, Float.NaN); // a share's partial read but never written shows as NaN
        CUdeviceptr part = up(poisoned);
        Arrays.fill(out, Float.NaN);
        CUdeviceptr dOut = up(out);
        dev.launchAsync(kernel, retrieval * splits + (kvHeads - retrieval) * streamSplits, 128, smem, q, kChunk,
                vChunk, kPool, vPool, pageTable, kRing, vRing, flags, start, dOut, part, heads, kvHeads, hd, pageTokens,
                maxPages, sink, recent, scale, up(order), retrieval, splits, streamSplits);
        CudaLlamaModel.combineDecode(dev, false, part, dOut, heads, hd, splits, flags, heads / kvHeads, streamSplits);
        dev.synchronize(kernel);
        dev.download(dOut, out, out.length);
    }

    private static String kernelName(boolean bf16, PrefillAttention kernel) {
        return (bf16 ? DeviceKvType.BF16 : DeviceKvType.F32).kernel(kernel.kernel());
    }

    static void assertMatches(float[] out, double[] expected, String what) {
        assertMatches(out, expected, what, TOLERANCE);
    }

    static void assertMatches(float[] out, double[] expected, String what, double tolerance) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < out.length; i++) {
            assertThat(Float.isFinite(out[i])).as("%s output %d finite (no poisoned slot read, all written)", what,
                    i).isTrue();
            num += (out[i] - expected[i]) * (out[i] - expected[i]);
            den += expected[i] * expected[i];
        }
        assertThat(Math.sqrt(num / den)).as(what).isLessThanOrEqualTo(tolerance);
    }

    /** A copy of a pool with the chunk's positions (start..start + n − 1) of the retrieval heads in their pages. */
    private static float[] withChunk(float[] pool, float[][] rows, boolean[] streaming, int[] pageTable, int maxPages,
            int pageTokens, int start, int n, int hd) {
        float[] copy = pool.clone();
        for (int g = 0; g < streaming.length; g++) {
            for (int p = start; p < start + n && !streaming[g]; p++) {
                int at = (pageTable[g * maxPages + p / pageTokens] * pageTokens + p % pageTokens) * hd;
                System.arraycopy(rows[g], p * hd, copy, at, hd);
            }
        }
        return copy;
    }

    static short[] toBf16(float[] a) {
        short[] s = new short[a.length];
        for (int i = 0; i < a.length; i++) {
            s[i] = Float.isNaN(a[i]) ? (short) 0x7fc0 : Bf16Tensor.fromFloat(a[i]);
        }
        return s;
    }

    @Test
    void kvAppendShouldWriteExactlyWhatTheCacheKeeps() {
        int hd = 24;
        int kvHeads = 3;
        int pageTokens = 8;
        int sink = 4;
        int recent = 6;
        int slots = sink + recent;
        int start = 2;
        int n = 13; // crosses the sink, and the ring wraps within the chunk
        int maxPages = 3;
        int[] flags = {0, 1, 0};
        int[] pageTable = {5, 1, 3, -1, -1, -1, 0, 4, 2};
        float[] k = random(n * kvHeads * hd);
        float[] v = random(n * kvHeads * hd);
        // every head in one launch, and (as flash_prefill_ws128's prefill does) retrieval heads, then streaming heads
        for (int form = 0; form < 4; form++) {
            boolean bf16 = form % 2 == 1;
            int[] headsOf = form < 2 ? new int[] {CudaLlamaModel.APPEND_ALL}
                    : new int[] {CudaLlamaModel.APPEND_RETRIEVAL, CudaLlamaModel.APPEND_STREAMING};
            float[] pool = new float[6 * pageTokens * hd];
            float[] ring = new float[kvHeads * slots * hd];
            Arrays.fill(pool, Float.NaN);
            Arrays.fill(ring, Float.NaN);
            Object kPool = bf16 ? up(toBf16(pool)) : up(pool);
            Object vPool = bf16 ? up(toBf16(pool)) : up(pool);
            Object kRing = bf16 ? up(toBf16(ring)) : up(ring);
            Object vRing = bf16 ? up(toBf16(ring)) : up(ring);
            for (int which : headsOf) {
                dev.launchAsync(bf16 ? "kv_append_bf16kv" : "kv_append_f32kv", n * kvHeads, 32, 0, up(k), up(v),
                        kPool, vPool, up(pageTable), kRing, vRing, up(flags), up(new int[] {start}), n, kvHeads, hd,
                        pageTokens, maxPages, sink, recent, which);
            }
            dev.synchronize("kv_append");
            float[][] got = new float[4][];
            Object[] bufs = {kPool, vPool, kRing, vRing};
            for (int b = 0; b < 4; b++) {
                int len = b < 2 ? pool.length : ring.length;
                got[b] = new float[len];
                if (bf16) {
                    short[] raw = new short[len];
                    dev.download((CUdeviceptr) bufs[b], raw);
                    for (int i = 0; i < len; i++) {
                        got[b][i] = Float.intBitsToFloat((raw[i] & 0xffff) << 16);
                    }
                } else {
                    dev.download((CUdeviceptr) bufs[b], got[b], len);
                }
            }
            float[][] want = {pool.clone(), pool.clone(), ring.clone(), ring.clone()};
            for (int t = 0; t < n; t++) {
                int p = start + t;
                for (int g = 0; g < kvHeads; g++) {
                    int src = (t * kvHeads + g) * hd;
                    if (flags[g] == 0) {
                        int at = (pageTable[g * maxPages + p / pageTokens] * pageTokens + p % pageTokens) * hd;
                        copy(k, src, want[0], at, hd, bf16);
                        copy(v, src, want[1], at, hd, bf16);
                    } else if (p < sink || p >= start + n - recent) {
                        int at = (g * slots + (p < sink ? p : sink + p % recent)) * hd;
                        copy(k, src, want[2], at, hd, bf16);
                        copy(v, src, want[3], at, hd, bf16);
                    }
                }
            }
            for (int b = 0; b < 4; b++) {
                for (int i = 0; i < want[b].length; i++) {
                    if (Float.isNaN(want[b][i])) {
                        assertThat(got[b][i]).as("buffer %d element %d left alone (bf16 %s)", b, i, bf16).isNaN();
                    } else {
                        assertThat(got[b][i]).as("buffer %d element %d (bf16 %s)", b, i, bf16).isEqualTo(want[b][i]);
                    }
                }
            }
        }
    }

    private static void copy(float[] src, int from, float[] dst, int at, int len, boolean bf16) {
        for (int i = 0; i < len; i++) {
            dst[at + i] = bf16 ? bf16Round(src[from + i]) : src[from + i];
        }
    }

    @Test
    void qkvBiasRopeShouldMatchItsDefinition() {
        int heads = 6;
        int kvHeads = 2;
        int hd = 38; // 19 pairs: not a warp multiple
        int n = 5;
        int half = hd / 2;
        float[] q = random(n * heads * hd);
        float[] k = random(n * kvHeads * hd);
        float[] v = random(n * kvHeads * hd);
        float[] bq = random(heads * hd);
        float[] bk = random(kvHeads * hd);
        float[] bv = random(kvHeads * hd);
        float[] cos = random(n * half);
        float[] sin = random(n * half);
        CUdeviceptr dq = up(q);
        CUdeviceptr dk = up(k);
        CUdeviceptr dv = up(v);
        dev.launchAsync("qkv_bias_rope_f32", n * (heads + 2 * kvHeads), 32, 0, dq, dk, dv, up(bq), up(bk), up(bv),
                up(cos), up(sin), heads, kvHeads, hd, 1);
        dev.synchronize("qkv_bias_rope_f32");
        float[][] got = {new float[q.length], new float[k.length], new float[v.length]};
        dev.download(dq, got[0], q.length);
        dev.download(dk, got[1], k.length);
        dev.download(dv, got[2], v.length);
        float[][] in = {q, k, v};
        float[][] bias = {bq, bk, bv};
        int[] count = {heads, kvHeads, kvHeads};
        for (int m = 0; m < 3; m++) {
            for (int t = 0; t < n; t++) {
                for (int h = 0; h < count[m]; h++) {
                    for (int i = 0; i < half; i++) {
                        int base = (t * count[m] + h) * hd;
                        double a = in[m][base + i] + bias[m][h * hd + i];
                        double b = in[m][base + i + half] + bias[m][h * hd + i + half];
                        double c = cos[t * half + i];
                        double s = sin[t * half + i];
                        double x0 = m == 2 ? a : a * c - b * s;
                        double x1 = m == 2 ? b : b * c + a * s;
                        assertThat((double) got[m][base + i]).isCloseTo(x0, org.assertj.core.data.Offset.offset(1e-5));
                        assertThat((double) got[m][base + i + half]).isCloseTo(x1,
                                org.assertj.core.data.Offset.offset(1e-5));
                    }
                }
            }
        }
    }

    static float[] nan(int n) {
        float[] a = new float[n];
        Arrays.fill(a, Float.NaN);
        return a;
    }

    float[] down(CUdeviceptr p, int n) {
        float[] a = new float[n];
        dev.download(p, a, n);
        return a;
    }

    /**
     * Decode's fused matvecs (matmul.cu) against the per-op launches they replace, bit for bit: the
     * same arithmetic in the same order. RMSNorm + stacked projection (ragged row counts), RMSNorm +
     * gate/up + SwiGLU, and the residual add with and without a bias, on and off the 16-byte path.
     */
    @Test
    void fusedDecodeMatvecsShouldEqualThePerOpKernels() {
        int h = 264;
        float eps = 1e-5f;
        CUdeviceptr x = up(random(h));
        CUdeviceptr nw = up(random(h));
        CUdeviceptr xb = up(nan(h));
        dev.launchAsync("rmsnorm_f32", 1, 256, 0, x, nw, xb, h, eps);
        int[] rows = {37, 11, 11};
        CUdeviceptr w = up(toBf16(random(59 * h)));
        CUdeviceptr[] want = {up(nan(37)), up(nan(11)), up(nan(11))};
        CUdeviceptr[] got = {up(nan(37)), up(nan(11)), up(nan(11))};
        dev.launchAsync("matmul_bf16_1t", 4, 256, 0, w, xb, want[0], want[1], want[2], 37, 11, 11, h, 1);
        dev.launchAsync("matmul_bf16_1t_norm", 4, 256, 4 * h, w, x, nw, eps, got[0], got[1], got[2], 37, 11, 11, h);
        dev.synchronize("norm + projection");
        for (int i = 0; i < 3; i++) {
            assertThat(down(got[i], rows[i])).as("norm + projection, output %d", i)
                    .containsExactly(down(want[i], rows[i]));
        }

        int ni = 45;
        CUdeviceptr wgu = up(toBf16(random(2 * ni * h)));
        CUdeviceptr gate = up(nan(ni));
        CUdeviceptr upv = up(nan(ni));
        CUdeviceptr act = up(nan(ni));
        dev.launchAsync("matmul_bf16_1t", (2 * ni + 15) / 16, 256, 0, wgu, xb, gate, upv, null, ni, ni, 0, h, 1);
        dev.launchAsync("silu_gate_f32", 1, 256, 0, gate, upv, ni);
        dev.launchAsync("matmul_bf16_1t_norm_swiglu", (ni + 7) / 8, 256, 4 * h, wgu, x, nw, eps, act, ni, h);
        dev.synchronize("norm + gate/up + SwiGLU");
        assertThat(down(act, ni)).as("norm + gate/up + SwiGLU").containsExactly(down(gate, ni));

        for (int cols : new int[] {200, 203}) {
            for (boolean withBias : new boolean[] {false, true}) {
                CUdeviceptr in = up(random(cols));
                CUdeviceptr wr = up(toBf16(random(37 * cols)));
                CUdeviceptr bias = withBias ? up(random(37)) : null;
                float[] residual = random(37);
                CUdeviceptr accWant = up(residual);
                CUdeviceptr accGot = up(residual);
                CUdeviceptr proj = up(nan(37));
                dev.launchAsync("matmul_bf16_1t", 3, 256, 0, wr, in, proj, null, null, 37, 0, 0, cols, 1);
                if (withBias) {
                    dev.launchAsync("add_bias_f32", 1, 256, 0, proj, bias, 1, 37);
                }
                dev.launchAsync("add_f32", 1, 256, 0, accWant, proj, 37);
                dev.launchAsync("matmul_bf16_1t_residual", 5, 256, 0, wr, in, bias, accGot, 37, cols);
                dev.synchronize("projection + residual");
                assertThat(down(accGot, 37)).as("projection + residual, cols %d, bias %s", cols, withBias)
                        .containsExactly(down(accWant, 37));
            }
        }
    }

    /**
     * qkv_rope_append (decode: one token) against qkv_bias_rope_f32 then kv_append, bit for bit: q, k
     * and v after biases and rotation, and every cache element (written or left alone), for a
     * retrieval head's page and a streaming head whose ring wraps at this position, f32 and bf16.
     */
    @Test
    void qkvRopeAppendShouldEqualRopeThenAppend() {
        int heads = 6;
        int kvHeads = 3;
        int hd = 38;
        int half = hd / 2;
        int pageTokens = 8;
        int maxPages = 3;
        int sink = 4;
        int recent = 6;
        int start = 17; // page 2 of a retrieval head; ring slot sink + 17 % 6 of a streaming head
        int[] flags = {0, 1, 0};
        int[] pageTable = {5, 1, 3, -1, -1, -1, 0, 4, 2};
        float[] q = random(heads * hd);
        float[] k = random(kvHeads * hd);
        float[] v = random(kvHeads * hd);
        float[][] biases = {random(heads * hd), random(kvHeads * hd), random(kvHeads * hd)};
        float[] cos = random(half);
        float[] sin = random(half);
        int poolLen = 6 * pageTokens * hd;
        int ringLen = kvHeads * (sink + recent) * hd;
        for (boolean bf16 : new boolean[] {false, true}) {
            for (int hasBias = 0; hasBias < 2; hasBias++) {
                CUdeviceptr[][] bufs = new CUdeviceptr[2][];
                for (int mode = 0; mode < 2; mode++) {
                    CUdeviceptr[] b = {up(q), up(k), up(v), cache(poolLen, bf16), cache(poolLen, bf16),
                        cache(ringLen, bf16), cache(ringLen, bf16)};
                    CUdeviceptr bq = hasBias == 1 ? up(biases[0]) : null;
                    CUdeviceptr bk = hasBias == 1 ? up(biases[1]) : null;
                    CUdeviceptr bv = hasBias == 1 ? up(biases[2]) : null;
                    String suffix = bf16 ? "_bf16kv" : "_f32kv";
                    if (mode == 0) {
                        dev.launchAsync("qkv_bias_rope_f32", heads + 2 * kvHeads, 32, 0, b[0], b[1], b[2], bq, bk, bv,
                                up(cos), up(sin), heads, kvHeads, hd, hasBias);
                        dev.launchAsync("kv_append" + suffix, kvHeads, 64, 0, b[1], b[2], b[3], b[4], up(pageTable),
                                b[5], b[6], up(flags), up(new int[] {start}), 1, kvHeads, hd, pageTokens, maxPages,
                                sink, recent, CudaLlamaModel.APPEND_ALL);
                    } else {
                        dev.launchAsync("qkv_rope_append" + suffix, heads + 2 * kvHeads, 32, 0, b[0], b[1], b[2], bq,
                                bk, bv, up(cos), up(sin), b[3], b[4], up(pageTable), b[5], b[6], up(flags),
                                up(new int[] {start}), heads, kvHeads, hd, pageTokens, maxPages, sink, recent,
                                hasBias);
                    }
                    bufs[mode] = b;
                }
                dev.synchronize("qkv_rope_append");
                int[] lens = {q.length, k.length, v.length, poolLen, poolLen, ringLen, ringLen};
                for (int i = 0; i < lens.length; i++) {
                    String what = "buffer " + i + " (bf16 " + bf16 + ", bias " + hasBias + ")";
                    if (i >= 3 && bf16) {
                        short[] a = new short[lens[i]];
                        short[] e = new short[lens[i]];
                        dev.download(bufs[1][i], a);
                        dev.download(bufs[0][i], e);
                        assertThat(a).as(what).containsExactly(e);
                    } else {
                        assertThat(down(bufs[1][i], lens[i])).as(what).containsExactly(down(bufs[0][i], lens[i]));
                    }
                }
            }
        }
    }

    /** A cache buffer of len elements poisoned with NaN, f32 or bf16. */
    private CUdeviceptr cache(int len, boolean bf16) {
        return bf16 ? up(toBf16(nan(len))) : up(nan(len));
    }

    @Test
    void rmsnormResidualAndArgmaxShouldMatchTheirDefinitions() {
        int rows = 3;
        int dim = 1000;
        float[] x = random(rows * dim);
        float[] delta = random(rows * dim);
        float[] w = random(dim);
        float[] out = new float[rows * dim];
        Arrays.fill(out, Float.NaN);
        CUdeviceptr dx = up(x);
        CUdeviceptr dout = up(out);
        dev.launchAsync("rmsnorm_residual_f32", rows, 256, 0, dx, up(delta), up(w), dout, dim, 1e-5f);
        dev.synchronize("rmsnorm_residual_f32");
        float[] gotX = new float[x.length];
        dev.download(dx, gotX, x.length);
        dev.download(dout, out, out.length);
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                float sum = x[r * dim + i] + delta[r * dim + i];
                assertThat(gotX[r * dim + i]).isEqualTo(sum);
                ss += (double) sum * sum;
            }
            double inv = 1 / Math.sqrt(ss / dim + 1e-5);
            for (int i = 0; i < dim; i++) {
                double want = w[i] * (gotX[r * dim + i] * inv);
                assertThat((double) out[r * dim + i]).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5));
            }
        }
        // argmax: the lowest index wins a tie, as torch.argmax and the CPU sampler
        float[] logits = random(128_257);
        logits[77_777] = 5f;
        logits[99_999] = 5f;
        CUdeviceptr idx = up(new int[] {-1});
        dev.launchAsync("argmax_f32", 1, 1024, 0, up(logits), logits.length, idx);
        dev.synchronize("argmax_f32");
        int[] got = new int[1];
        dev.download(idx, got);
        assertThat(got[0]).isEqualTo(77_777);
    }
}
