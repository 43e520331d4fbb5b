package io.headroom.engine.duo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.golden.GoldenFixture;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.generate.Generator;
import io.headroom.engine.kv.KvMemory;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.engine.model.ModelConfig;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The invariants of DuoAttention in the engine, on the shipped passkey model (4 layers, 4 KV heads,
 * head dim 32) and its pattern.
 */
class DuoAttentionInvariantsTests {

    static LoadedModel model;
    static ModelConfig config;
    static AttentionPattern pattern;
    static int[] prompt; // a held-out passkey prompt, ~300 tokens

    @BeforeAll
    static void load() throws Exception {
        model = LoadedModel.load(PassKeyModel.model(), new EngineOptions("cpu", 2, 64, 16));
        config = model.config();
        pattern = AttentionPattern.load(PassKeyModel.pattern());
        String line = java.nio.file.Files.readAllLines(PassKeyModel.heldOut()).get(3);
        String text = tools.jackson.databind.json.JsonMapper.builder().build().readTree(line).get("prompt").asString();
        prompt = model.tokenizer().encode(text, true);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    DuoLayout duo(double sparsity, int sink, int recent) {
        return new DuoLayout(pattern.retrievalBySparsity(sparsity), sink, recent);
    }

    float[] logits(DuoLayout layout, int chunk) {
        SequenceKv kv = model.cpuModel().newCache(layout, 16);
        return Generator.prefill(model.cpuModel(), kv, prompt, chunk);
    }

    @Test
    void allGatesOneShouldGiveExactlyFullAttention() {
        DuoLayout allRetrieval = new DuoLayout(pattern.retrievalBySparsity(0.0), 8, 32);
        assertThat(allRetrieval.allRetrieval()).isTrue();
        float[] full = logits(DuoLayout.full(config.numLayers(), config.numKvHeads()), 64);
        // the same arithmetic; only the JIT's lane-reduction order may differ between the two runs
        assertThat(GoldenFixture.relativeError(logits(allRetrieval, 64), full)).isLessThan(1e-6);
    }

    @Test
    void streamingHeadsWhoseWindowCoversTheSequenceShouldEqualFullAttention() {
        int sink = 8;
        int recent = prompt.length - sink + 1; // S + R ≥ sequence length
        float[] full = logits(DuoLayout.full(config.numLayers(), config.numKvHeads()), 64);
        float[] streaming = logits(DuoLayout.streamingOnly(config.numLayers(), config.numKvHeads(), sink, recent), 64);
        assertThat(GoldenFixture.relativeError(streaming, full)).isLessThan(1e-6);
        // and a window one token short of that changes the result (the test can fail)
        float[] shorter = logits(DuoLayout.streamingOnly(config.numLayers(), config.numKvHeads(), sink, 32), 64);
        assertThat(GoldenFixture.relativeError(shorter, full)).isGreaterThan(1e-3);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 64})
    void prefillChunkSizeShouldNotChangeLogitsOrKvState(int chunk) {
        DuoLayout layout = duo(0.5, 8, 32);
        SequenceKv whole = model.cpuModel().newCache(layout, 16);
        float[] expected = Generator.prefill(model.cpuModel(), whole, prompt, prompt.length);
        SequenceKv chunked = model.cpuModel().newCache(layout, 16);
        float[] actual = Generator.prefill(model.cpuModel(), chunked, prompt, chunk);
        assertThat(GoldenFixture.relativeError(actual, expected)).as("logits, chunk %d", chunk).isLessThan(1e-6);
        for (KvStateCodec.Part part : KvStateCodec.Part.values()) {
            float[] a = floats(KvStateCodec.export(chunked, part));
            float[] b = floats(KvStateCodec.export(whole, part));
            assertThat(GoldenFixture.relativeError(a, b)).as("%s KV state, chunk %d", part, chunk).isLessThan(1e-6);
        }
    }

    @Test
    void exportImportAndContinueShouldGiveTheSameTokens() {
        DuoLayout layout = duo(0.5, 8, 32);
        Generator gen = model.generator(layout);
        int half = prompt.length / 2;
        int[] first = Arrays.copyOf(prompt, half);
        int[] second = Arrays.copyOfRange(prompt, half, prompt.length);

        SequenceKv direct = gen.newSequence().toHost();
        Generator.prefill(model.cpuModel(), direct, first, 64);
        GenerationResult expected = gen.generate(GenerationRequest.greedy(second, 12, Set.of()), direct);

        SequenceKv original = gen.newSequence().toHost();
        Generator.prefill(model.cpuModel(), original, first, 64);
        byte[] retrieval = KvStateCodec.export(original, KvStateCodec.Part.RETRIEVAL);
        byte[] streaming = KvStateCodec.export(original, KvStateCodec.Part.STREAMING);
        SequenceKv restored = KvStateCodec.importState(retrieval, streaming, layout, config.headDim(), 32,
                config.maxPositions()); // a different page size on the way back
        assertThat(restored.length()).isEqualTo(half);
        GenerationResult actual = gen.generate(GenerationRequest.greedy(second, 12, Set.of()), restored);
        assertThat(actual.tokens()).containsExactly(expected.tokens());
    }

    @Test
    void corruptOrMismatchedBlocksShouldBeRefusedClearly() {
        DuoLayout layout = duo(0.5, 8, 32);
        SequenceKv kv = model.cpuModel().newCache(layout, 16);
        Generator.prefill(model.cpuModel(), kv, Arrays.copyOf(prompt, 50), 64);
        byte[] retrieval = KvStateCodec.export(kv, KvStateCodec.Part.RETRIEVAL);
        byte[] streaming = KvStateCodec.export(kv, KvStateCodec.Part.STREAMING);
        int hd = config.headDim();
        int max = config.maxPositions();

        byte[] flipped = retrieval.clone();
        flipped[flipped.length / 2] ^= 1;
        assertThatThrownBy(() -> KvStateCodec.importState(flipped, streaming, layout, hd, 16, max))
                .hasMessageContaining("retrieval block is corrupt: checksum mismatch");
        assertThatThrownBy(() -> KvStateCodec.importState(Arrays.copyOf(retrieval, 20), streaming, layout, hd, 16,
                max)).hasMessageContaining("truncated");
        assertThatThrownBy(() -> KvStateCodec.importState(streaming, retrieval, layout, hd, 16, max))
                .hasMessageContaining("holds part");
        assertThatThrownBy(() -> KvStateCodec.importState(retrieval, streaming, duo(0.25, 8, 32), hd, 16, max))
                .hasMessageContaining("different head layout");
        assertThatThrownBy(() -> KvStateCodec.importState(retrieval, streaming, duo(0.5, 4, 32), hd, 16, max))
                .hasMessageContaining("does not match this model and layout");

        SequenceKv longer = model.cpuModel().newCache(layout, 16);
        Generator.prefill(model.cpuModel(), longer, Arrays.copyOf(prompt, 60), 64);
        byte[] otherStreaming = KvStateCodec.export(longer, KvStateCodec.Part.STREAMING);
        assertThatThrownBy(() -> KvStateCodec.importState(retrieval, otherStreaming, layout, hd, 16, max))
                .hasMessageContaining("retrieval block holds 50 tokens, streaming block 60");
    }

    @Test
    void streamingBytesShouldStayConstantAndRetrievalBytesGrowLinearly() {
        DuoLayout layout = duo(0.5, 8, 32);
        SequenceKv kv = model.cpuModel().newCache(layout, 16);
        long[] retrieval = new long[4];
        long[] streaming = new long[4];
        for (int step = 0; step < 4; step++) {
            Generator.prefill(model.cpuModel(), kv, Arrays.copyOfRange(prompt, step * 64, (step + 1) * 64), 64);
            KvMemory m = kv.memory();
            retrieval[step] = m.retrievalBytes();
            streaming[step] = m.streamingBytes();
            assertThat(m.totalBytes()).isEqualTo(m.retrievalBytes() + m.streamingBytes());
            assertThat(Arrays.stream(m.retrievalBytesPerLayer()).sum()).isEqualTo(m.retrievalBytes());
        }
        int retrievalHeads = layout.retrievalCount();
        int streamingHeads = config.numLayers() * config.numKvHeads() - retrievalHeads;
        long perToken = 2L * retrievalHeads * config.headDim() * Float.BYTES; // K and V, float32
        for (int step = 0; step < 4; step++) {
            assertThat(retrieval[step]).isEqualTo(perToken * 64 * (step + 1)); // 64 tokens = 4 whole pages
            assertThat(streaming[step]).isEqualTo(2L * streamingHeads * (8 + 32) * config.headDim() * Float.BYTES);
        }
    }

    @Test
    void layoutOfTheWrongShapeShouldBeRefused() {
        assertThatThrownBy(() -> model.cpuModel().newCache(DuoLayout.full(3, 4), 16))
                .hasMessageContaining("head layout has shape (3, 4) but the model has 4 layers and 4 KV heads");
    }

    /** The payload of a KV block: after the fixed header and the layout bytes, before the checksum. */
    static float[] floats(byte[] block) {
        int header = 4 + 2 + 1 + 1 + 4 * 7 + config.numLayers() * config.numKvHeads();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(block, header, block.length - 4 - header)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[(block.length - 4 - header) / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

}
