package io.headroom.engine.safetensors;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A memory-mapped safetensors file (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON mapping tensor names to dtype, shape and
 * {@code data_offsets} (relative to the data section that follows the header), then the data.
 * Everything in the header is checked against the file before a tensor is handed out, so a bad
 * file fails on open with a message naming the file and the tensor.
 */
public final class SafetensorsFile {

    /** Headers beyond this are refused: real ones are kilobytes to a few megabytes. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private final Path path;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, MemorySegment data, Map<String, TensorInfo> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code path} into {@code arena} and validates its header; the mapping lives as long as the arena. */
    public static SafetensorsFile open(Path path, Arena arena) {
        MemorySegment whole;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            whole = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (IOException e) {
            throw new ModelFormatException("cannot read safetensors file " + path + ": " + e.getMessage(), e);
        }
        if (whole.byteSize() < 8) {
            throw new ModelFormatException("safetensors file " + path + " is truncated: " + whole.byteSize()
                    + " bytes, too short for the 8-byte header length");
        }
        long headerLength = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > whole.byteSize()) {
            throw new ModelFormatException("corrupt header in safetensors file " + path + ": header length "
                    + headerLength + " does not fit a file of " + whole.byteSize() + " bytes");
        }
        String headerText = new String(whole.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE),
                StandardCharsets.UTF_8);
        JsonNode header;
        try {
            header = JSON.readTree(headerText);
        } catch (JacksonException e) {
            throw new ModelFormatException("corrupt header in safetensors file " + path
                    + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (header == null || !header.isObject()) {
            throw new ModelFormatException("corrupt header in safetensors file " + path + ": not a JSON object");
        }
        MemorySegment data = whole.asSlice(8 + headerLength);
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : header.properties()) {
            String name = entry.getKey();
            JsonNode node = entry.getValue();
            if (name.equals("__metadata__")) {
                node.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asString()));
                continue;
            }
            tensors.put(name, parseEntry(path, name, node, data.byteSize()));
        }
        return new SafetensorsFile(path, data, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode node, long dataBytes) {
        String where = "tensor '" + name + "' in " + path;
        if (!node.isObject() || !node.path("dtype").isString() || !node.path("shape").isArray()
                || !node.path("data_offsets").isArray() || node.path("data_offsets").size() != 2) {
            throw new ModelFormatException("corrupt header entry for " + where
                    + ": needs dtype, shape and data_offsets [begin, end]");
        }
        String dtypeName = node.get("dtype").asString();
        DType dtype = DType.fromSafetensors(dtypeName).orElseThrow(() -> new ModelFormatException(
                "unsupported dtype " + dtypeName + " for " + where + " (supported: BF16, F16, F32)"));
        JsonNode shapeNode = node.get("shape");
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new ModelFormatException("corrupt header entry for " + where + ": bad shape " + shapeNode);
            }
            shape[i] = d.asLong();
        }
        JsonNode offsets = node.get("data_offsets");
        if (!offsets.get(0).isIntegralNumber() || !offsets.get(1).isIntegralNumber()) {
            throw new ModelFormatException("corrupt header entry for " + where + ": bad data_offsets " + offsets);
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        TensorInfo info = new TensorInfo(path, name, dtype, shape, begin, end);
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(info.elementCount(), dtype.bytes());
        } catch (ArithmeticException e) {
            throw new ModelFormatException("corrupt header entry for " + where + ": shape " + info.shapeString()
                    + " overflows", e);
        }
        if (begin < 0 || end < begin) {
            throw new ModelFormatException("corrupt header entry for " + where + ": data_offsets [" + begin + ", "
                    + end + "] out of range");
        }
        if (end - begin != expectedBytes) {
            throw new ModelFormatException("corrupt header entry for " + where + ": data_offsets [" + begin + ", "
                    + end + "] hold " + (end - begin) + " bytes but " + dtypeName + info.shapeString() + " needs "
                    + expectedBytes);
        }
        if (end > dataBytes) {
            throw new ModelFormatException("safetensors file " + path + " is truncated or its offsets are out of "
                    + "range: tensor '" + name + "' ends at byte " + end + " of a data section of " + dataBytes
                    + " bytes");
        }
        return info;
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor {@code name} viewed as {@code (rows, cols)}; the caller has checked the shape. */
    public WeightTensor tensor(String name, int rows, int cols) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new ModelFormatException("missing tensor '" + name + "' in " + path);
        }
        return WeightTensor.of(name, info.dtype(), data.asSlice(info.begin(), info.end() - info.begin()), rows, cols);
    }
}
