package io.headroom.engine.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Single-file and sharded checkpoints: lookup, shape checks and the errors a broken directory gives. */
class CheckpointTests {

    @TempDir
    Path dir;

    @Test
    void shardedCheckpointShouldFindTensorsInEveryShard() throws IOException {
        writeSharded();
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertThat(c.tensorNames()).containsExactly("a", "b");
            assertThat(c.require("a", 2, 2).toFloatArray()).containsExactly(0f, 1f, 2f, 3f);
            assertThat(c.require("b", 3).toFloatArray()).containsExactly(0f, 2f, 4f);
            assertThat(c.totalBytes()).isEqualTo(2 * 2 * 4 + 3 * 2);
        }
    }

    @Test
    void shapeThatDoesNotFitTheConfigShouldNameFileAndTensor() throws IOException {
        writeSharded();
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> c.require("a", 4, 1))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("'a'").hasMessageContaining("shard-1.safetensors")
                    .hasMessageContaining("[2, 2]").hasMessageContaining("[4, 1]");
        }
    }

    @Test
    void missingTensorShouldNameTheTensorAndTheDirectory() throws IOException {
        writeSharded();
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> c.require("lm_head.weight", 2, 2))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("missing tensor 'lm_head.weight'").hasMessageContaining(dir.toString());
        }
    }

    @Test
    void indexNamingAMissingShardShouldFail() throws IOException {
        writeSharded();
        Files.delete(dir.resolve("shard-2.safetensors"));
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("shard-2.safetensors").hasMessageContaining("does not exist");
    }

    @Test
    void indexClaimingATensorTheShardLacksShouldFail() throws IOException {
        writeSharded();
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE),
                "{\"weight_map\": {\"a\": \"shard-1.safetensors\", \"z\": \"shard-2.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("missing tensor 'z'").hasMessageContaining("shard-2.safetensors");
    }

    @Test
    void directoryWithoutWeightsShouldSaySo() {
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("no model.safetensors or model.safetensors.index.json");
    }

    @Test
    void shardPathsMustStayInsideTheModelDirectory() throws IOException {
        writeSharded();
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("does not exist");
    }

    private void writeSharded() throws IOException {
        SafetensorsWriter.write(dir.resolve("shard-1.safetensors"),
                List.of(new SafetensorsWriter.Entry("a", DType.F32, new long[] {2, 2}, i -> i)));
        SafetensorsWriter.write(dir.resolve("shard-2.safetensors"),
                List.of(new SafetensorsWriter.Entry("b", DType.BF16, new long[] {3}, i -> 2 * i)));
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), """
                {"metadata": {"total_size": 22},
                 "weight_map": {"a": "shard-1.safetensors", "b": "shard-2.safetensors"}}
                """);
    }
}
