package io.headroom.engine.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading safetensors files, and the messages a damaged file produces. */
class SafetensorsFileTests {

    @TempDir
    Path dir;

    @Test
    void writtenTensorsShouldReadBackInEveryDtype() throws IOException {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, List.of(
                new SafetensorsWriter.Entry("a", DType.BF16, new long[] {2, 3}, i -> i * 0.5f),
                new SafetensorsWriter.Entry("b", DType.F16, new long[] {5}, i -> -i * 0.25f),
                new SafetensorsWriter.Entry("c", DType.F32, new long[] {1, 2}, i -> 1f / 3 + i)));
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            assertThat(f.tensors()).containsOnlyKeys("a", "b", "c");
            WeightTensor a = f.tensor("a", 2, 3);
            assertThat(a.toFloatArray()).containsExactly(0f, 0.5f, 1f, 1.5f, 2f, 2.5f);
            assertThat(f.tensor("b", 1, 5).toFloatArray()).containsExactly(0f, -0.25f, -0.5f, -0.75f, -1f);
            assertThat(f.tensor("c", 1, 2).toFloatArray()).containsExactly(1f / 3, 1f / 3 + 1);
            assertThat(f.metadata()).containsEntry("format", "pt");
        }
    }

    @Test
    void corruptJsonHeaderShouldNameTheFile() throws IOException {
        Path file = raw("{\"a\": {\"dtype\": \"F32\", ", new byte[0]);
        assertOpenFails(file, "corrupt header", file.toString(), "not valid JSON");
    }

    @Test
    void headerLengthBeyondTheFileShouldBeReportedAsCorrupt() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        Files.write(file, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        assertOpenFails(file, "corrupt header", "header length 1000");
    }

    @Test
    void fileShorterThanTheLengthFieldShouldBeReportedAsTruncated() throws IOException {
        Path file = dir.resolve("short.safetensors");
        Files.write(file, new byte[] {1, 2, 3});
        assertOpenFails(file, "truncated");
    }

    @Test
    void truncatedDataShouldNameTheTensor() throws IOException {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, List.of(
                new SafetensorsWriter.Entry("first", DType.F32, new long[] {4}, i -> i),
                new SafetensorsWriter.Entry("second", DType.F32, new long[] {4}, i -> i)));
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 6));
        assertOpenFails(file, "truncated", "'second'", file.toString());
    }

    @Test
    void offsetsThatDoNotMatchTheShapeShouldNameTheTensor() throws IOException {
        Path file = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", new byte[16]);
        assertOpenFails(file, "'w'", "data_offsets [0, 12]", "needs 16");
    }

    @Test
    void negativeOrReversedOffsetsShouldBeOutOfRange() throws IOException {
        Path file = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[16]);
        assertOpenFails(file, "'w'", "out of range");
    }

    @Test
    void unknownDtypeShouldNameTheTensorAndTheDtype() throws IOException {
        Path file = raw("{\"q\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]);
        assertOpenFails(file, "unsupported dtype I8", "'q'", "BF16, F16, F32");
    }

    @Test
    void missingFieldsShouldBeReported() throws IOException {
        Path file = raw("{\"q\":{\"dtype\":\"F32\",\"shape\":[4]}}", new byte[16]);
        assertOpenFails(file, "'q'", "data_offsets");
    }

    private Path raw(String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path file = dir.resolve("raw.safetensors");
        Files.write(file, b.array());
        return file;
    }

    private static void assertOpenFails(Path file, String... fragments) {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> SafetensorsFile.open(file, arena))
                    .isInstanceOf(ModelFormatException.class)
                    .message().contains(fragments);
        }
    }
}
