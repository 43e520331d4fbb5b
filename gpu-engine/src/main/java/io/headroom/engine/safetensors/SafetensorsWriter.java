package io.headroom.engine.safetensors;

import io.headroom.engine.tensor.Bf16Tensor;
import io.headroom.engine.tensor.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes safetensors files (used for random benchmark checkpoints and test fixtures). The file is
 * written to a temporary sibling and moved into place, so a crash never leaves a half-written file
 * under the final name.
 */
public final class SafetensorsWriter {

    /** Element {@code i} of a tensor, in row-major order. */
    @FunctionalInterface
    public interface Values {
        float at(long index);
    }

    /** One tensor to write. */
    public record Entry(String name, DType dtype, long[] shape, Values values) {

        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private SafetensorsWriter() {
    }

    public static void write(Path path, List<Entry> entries) throws IOException {
        write(path, entries, Map.of("format", "pt"));
    }

    public static void write(Path path, List<Entry> entries, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", metadata);
        long offset = 0;
        for (Entry e : entries) {
            long bytes = e.elementCount() * e.dtype().bytes();
            header.put(e.name(), Map.of("dtype", e.dtype().name(), "shape", e.shape(),
                    "data_offsets", new long[] {offset, offset + bytes}));
            offset += bytes;
        }
        byte[] json = JsonMapper.builder().build().writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;  // the format allows trailing spaces; 8-byte alignment helps mmap users
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries) {
                long n = e.elementCount();
                for (long i = 0; i < n; i++) {
                    if (buf.remaining() < 4) {
                        buf.flip();
                        while (buf.hasRemaining()) {
                            ch.write(buf);
                        }
                        buf.clear();
                    }
                    float v = e.values().at(i);
                    switch (e.dtype()) {
                        case BF16 -> buf.putShort(Bf16Tensor.fromFloat(v));
                        case F16 -> buf.putShort(Float.floatToFloat16(v));
                        case F32 -> buf.putFloat(v);
                        default -> throw new IllegalStateException("unreachable");
                    }
                }
            }
            buf.flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
