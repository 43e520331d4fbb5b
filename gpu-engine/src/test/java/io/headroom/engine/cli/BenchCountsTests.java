package io.headroom.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.model.Architecture;
import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.model.RopeScaling;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The bench's floors rest on two counts: prefill FLOPs and the KV bytes a decode step reads. Both
 * are checked against a brute-force walk over every (layer, head, query, key) the attention keeps.
 */
class BenchCountsTests {

    // small GQA geometry: 3 layers, 48 wide, 6 query heads of 8 over 2 KV heads, MLP 80, vocab 50
    static final ModelConfig SMALL = new ModelConfig(Architecture.LLAMA, 50, 48, 80, 3, 6, 2, 8, 4096, 1e-5f,
            10000, new RopeScaling.None(), false, false, false, 0, List.of(1));

    @ParameterizedTest
    @CsvSource({"1.0, 1, 1, 4, 40, 0", "0.5, 2, 5, 7, 40, 0", "0.0, 3, 4, 16, 37, 0", "0.5, 0, 1, 16, 5, 0",
        "1.0, 1, 1, 4, 9, 30", "0.5, 2, 5, 7, 12, 3", "0.0, 3, 4, 16, 37, 50"})
    void prefillFlopsShouldCountEveryKeptQueryKeyPair(double retrievalShare, int sink, int recent, int chunk,
            int tokens, int past) {
        DuoLayout layout = layout(retrievalShare, sink, recent);
        double expected = 0;
        int hd = SMALL.headDim();
        int h = SMALL.hiddenSize();
        for (int l = 0; l < SMALL.numLayers(); l++) {
            // projections: q, k, v, o, gate, up, down
            expected += 2.0 * tokens * h * (SMALL.qDim() + 2 * SMALL.kvDim());
            expected += 2.0 * tokens * SMALL.qDim() * h;
            expected += 2.0 * tokens * 3 * h * SMALL.intermediateSize();
            for (int g = 0; g < SMALL.numKvHeads(); g++) {
                for (int i = past; i < past + tokens; i++) {
                    for (int p = 0; p <= i; p++) {
                        boolean kept = layout.isRetrieval(l, g) || p < layout.sink() || p > i - layout.recent();
                        if (kept) {
                            expected += 4.0 * hd * (SMALL.numHeads() / SMALL.numKvHeads());
                        }
                    }
                }
            }
        }
        expected += 2.0 * h * SMALL.vocabSize() * Math.ceilDiv(tokens, chunk);

        assertThat(BenchCommand.prefillFlops(SMALL, layout, tokens, chunk, past)).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({"1.0, 1, 1, 100", "0.5, 2, 5, 3", "0.5, 2, 5, 100", "0.0, 3, 4, 9"})
    void kvBytesShouldCountTheCachedPositionsEachHeadReads(double retrievalShare, int sink, int recent, int context) {
        DuoLayout layout = layout(retrievalShare, sink, recent);
        long expected = 0;
        for (int l = 0; l < SMALL.numLayers(); l++) {
            for (int g = 0; g < SMALL.numKvHeads(); g++) {
                int positions = layout.isRetrieval(l, g) ? context : Math.min(context, sink + recent);
                expected += 2L * positions * SMALL.headDim() * 2; // keys and values, bf16
            }
        }

        assertThat(BenchCommand.kvBytesRead(SMALL, layout, context, 2)).isEqualTo(expected);
    }

    private static DuoLayout layout(double retrievalShare, int sink, int recent) {
        return retrievalShare >= 1 ? DuoLayout.full(SMALL.numLayers(), SMALL.numKvHeads())
                : DuoLayout.random(SMALL.numLayers(), SMALL.numKvHeads(), 1 - retrievalShare, 7, sink, recent);
    }
}
