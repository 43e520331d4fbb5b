package io.headroom.engine.duo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pattern files in the reference implementation's format. The published patterns cover
 * Llama-2-7B-32K (32 layers × 32 KV heads), Llama-3-8B-Gradient-1048k/4194k, Llama-3.1-8B-Instruct
 * and Mistral-7B-v0.2/v0.3 (32 × 8): the tests write files of those shapes the way the reference
 * writes them ({@code %.18e}, tabs, gates slightly outside [0, 1] as training left them).
 */
class AttentionPatternTests {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @CsvSource({"Llama-2-7B-32K-Instruct, 32, 32", "Llama-3-8B-Instruct-Gradient-1048k, 32, 8",
        "Llama-3-8B-Instruct-Gradient-4194k, 32, 8", "Meta-Llama-3.1-8B-Instruct, 32, 8",
        "Mistral-7B-Instruct-v0.2, 32, 8", "Mistral-7B-Instruct-v0.3, 32, 8"})
    void publishedPatternFormatShouldLoadAndBinariseToHalfRetrieval(String name, int layers, int heads)
            throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p);
        SplittableRandom r = new SplittableRandom(name.hashCode());
        StringBuilder tsv = new StringBuilder();
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                double v = r.nextDouble() < 0.3 ? -1e-4 * r.nextDouble() : r.nextDouble() < 0.3 ? 1.0 : r.nextDouble();
                tsv.append(h == 0 ? "" : "\t").append(String.format(Locale.ROOT, "%.18e", v));
            }
            tsv.append('\n');
        }
        Files.writeString(p.resolve("full_attention_heads.tsv"), tsv);
        Files.writeString(p.resolve("config.json"), "{\"model_name\": \"models/" + name + "\", \"sink_size\": 128,"
                + " \"recent_size\": 256, \"threshold\": 0.5, \"sparsity\": null, \"lr\": 0.02}");
        AttentionPattern pattern = AttentionPattern.load(p);
        assertThat(pattern.layers()).isEqualTo(layers);
        assertThat(pattern.kvHeads()).isEqualTo(heads);
        assertThat(pattern.sinkSize()).isEqualTo(128);
        assertThat(pattern.recentSize()).isEqualTo(256);
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                assertThat(pattern.gate(l, h)).isBetween(0f, 1f);
            }
        }
        DuoLayout half = new DuoLayout(pattern.retrievalBySparsity(0.5), 128, 256);
        assertThat(half.retrievalCount()).isEqualTo(layers * heads / 2);
    }

    @Test
    void sparsityShouldRankGloballyAndBreakTiesInLayerHeadOrder() throws IOException {
        write("0.9\t0.1\t0.5\n0.5\t0.5\t1.0\n");
        AttentionPattern p = AttentionPattern.load(dir);
        // three of six heads streaming: 0.1, then the tied 0.5s at (0,2) and (1,0) before (1,1)
        assertThat(p.retrievalBySparsity(0.5))
                .isDeepEqualTo(new boolean[][] {{true, false, false}, {false, true, true}});
        assertThat(p.retrievalBySparsity(0.0)).isDeepEqualTo(new boolean[][] {{true, true, true}, {true, true, true}});
        assertThat(p.retrievalBySparsity(1.0)).isDeepEqualTo(new boolean[][] {{false, false, false},
            {false, false, false}});
    }

    @Test
    void thresholdModeShouldWork() throws IOException {
        write("0.9\t0.1\t0.5\n0.5\t0.49\t1.0\n");
        AttentionPattern p = AttentionPattern.load(dir);
        assertThat(p.retrievalByThreshold(0.5))
                .isDeepEqualTo(new boolean[][] {{true, false, true}, {true, false, true}});
    }

    @Test
    void saveThenLoadShouldRoundTrip() throws IOException {
        AttentionPattern p = new AttentionPattern(new float[][] {{0.25f, 1f}, {0f, 0.75f}},
                java.util.Map.of("sink_size", 8L, "recent_size", 32L));
        p.save(dir);
        AttentionPattern q = AttentionPattern.load(dir);
        assertThat(q.gates()).isDeepEqualTo(p.gates());
        assertThat(q.sinkSize()).isEqualTo(8);
    }

    @Test
    void malformedFilesShouldFailWithLineAndColumn() throws IOException {
        write("0.9\t0.1\n0.5\tabc\n");
        assertThatThrownBy(() -> AttentionPattern.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("line 2 column 2").hasMessageContaining("'abc' is not a number");
        write("0.9\t0.1\n0.5\n");
        assertThatThrownBy(() -> AttentionPattern.load(dir)).hasMessageContaining("line 2 has 1 columns")
                .hasMessageContaining("ragged");
        write("0.9\tNaN\n");
        assertThatThrownBy(() -> AttentionPattern.load(dir)).hasMessageContaining("not a finite number");
        Files.delete(dir.resolve("full_attention_heads.tsv"));
        assertThatThrownBy(() -> AttentionPattern.load(dir)).hasMessageContaining("no full_attention_heads.tsv");
    }

    @Test
    void patternOfTheWrongShapeShouldBeRefused() throws IOException {
        write("1\t1\t1\n1\t1\t1\n");
        assertThatThrownBy(() -> AttentionPattern.load(dir).checkFits(4, 4))
                .hasMessageContaining("shape (2 layers, 3 KV heads) but the model has (4, 4)");
    }

    @Test
    void invalidSparsityShouldBeRefused() throws IOException {
        write("1\t0\n");
        assertThatThrownBy(() -> AttentionPattern.load(dir).retrievalBySparsity(1.5))
                .hasMessageContaining("sparsity must be in [0, 1]");
    }

    @Test
    void randomLayoutShouldHaveTheRequestedSparsityAndDependOnTheSeed() {
        DuoLayout a = DuoLayout.random(4, 4, 0.5, 1, 8, 32);
        DuoLayout b = DuoLayout.random(4, 4, 0.5, 2, 8, 32);
        assertThat(a.retrievalCount()).isEqualTo(8);
        assertThat(a).isEqualTo(DuoLayout.random(4, 4, 0.5, 1, 8, 32)).isNotEqualTo(b);
    }

    private void write(String tsv) throws IOException {
        Files.writeString(dir.resolve("full_attention_heads.tsv"), tsv);
    }
}
