package io.headroom.engine.safetensors;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json}. All files are memory-mapped for the checkpoint's lifetime.
 */
public final class Checkpoint implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path directory;
    private final Arena arena;
    private final Map<String, SafetensorsFile> fileOfTensor;

    private Checkpoint(Path directory, Arena arena, Map<String, SafetensorsFile> fileOfTensor) {
        this.directory = directory;
        this.arena = arena;
        this.fileOfTensor = fileOfTensor;
    }

    /** Opens and validates every file of the checkpoint in {@code directory}. */
    public static Checkpoint open(Path directory) {
        Path index = directory.resolve(INDEX_FILE);
        Path single = directory.resolve(SINGLE_FILE);
        Arena arena = Arena.ofShared();
        try {
            Map<String, SafetensorsFile> fileOfTensor = new TreeMap<>();
            if (Files.isRegularFile(index)) {
                Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : readIndex(index).entrySet()) {
                    String shardName = e.getValue();
                    Path shardPath = directory.resolve(shardName).normalize();
                    if (!shardPath.startsWith(directory.normalize()) || !Files.isRegularFile(shardPath)) {
                        throw new ModelFormatException("shard file " + shardName + " named by " + index
                                + " for tensor '" + e.getKey() + "' does not exist");
                    }
                    SafetensorsFile shard = shards.computeIfAbsent(shardName,
                            n -> SafetensorsFile.open(shardPath, arena));
                    if (!shard.tensors().containsKey(e.getKey())) {
                        throw new ModelFormatException("missing tensor '" + e.getKey() + "' in " + shardPath
                                + " (" + index + " says it is there)");
                    }
                    fileOfTensor.put(e.getKey(), shard);
                }
            } else if (Files.isRegularFile(single)) {
                SafetensorsFile file = SafetensorsFile.open(single, arena);
                file.tensors().keySet().forEach(name -> fileOfTensor.put(name, file));
            } else {
                throw new ModelFormatException("no " + SINGLE_FILE + " or " + INDEX_FILE + " in " + directory);
            }
            return new Checkpoint(directory, arena, fileOfTensor);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> readIndex(Path index) {
        JsonNode root;
        try {
            root = JsonMapper.builder().build().readTree(Files.readString(index));
        } catch (IOException | JacksonException e) {
            throw new ModelFormatException("cannot read " + index + ": " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new ModelFormatException("corrupt " + index + ": no weight_map object");
        }
        Map<String, String> result = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            if (!e.getValue().isString()) {
                throw new ModelFormatException("corrupt " + index + ": weight_map entry '" + e.getKey()
                        + "' is not a file name");
            }
            result.put(e.getKey(), e.getValue().asString());
        }
        return result;
    }

    public Path directory() {
        return directory;
    }

    public boolean contains(String name) {
        return fileOfTensor.containsKey(name);
    }

    /** Tensor names, sorted. */
    public java.util.Set<String> tensorNames() {
        return fileOfTensor.keySet();
    }

    public Optional<TensorInfo> info(String name) {
        SafetensorsFile f = fileOfTensor.get(name);
        return f == null ? Optional.empty() : Optional.of(f.tensors().get(name));
    }

    /**
     * The tensor {@code name}, which must have exactly {@code shape} (one or two dimensions, as the
     * config predicts). A 1-D tensor is returned as one row.
     */
    public WeightTensor require(String name, long... shape) {
        SafetensorsFile file = fileOfTensor.get(name);
        if (file == null) {
            throw new ModelFormatException("missing tensor '" + name + "' in checkpoint " + directory);
        }
        TensorInfo info = file.tensors().get(name);
        if (!Arrays.equals(info.shape(), shape)) {
            throw new ModelFormatException("tensor '" + name + "' in " + file.path() + " has shape "
                    + info.shapeString() + " but the model config expects " + Arrays.toString(shape));
        }
        int rows = shape.length == 2 ? Math.toIntExact(shape[0]) : 1;
        int cols = Math.toIntExact(shape[shape.length - 1]);
        return file.tensor(name, rows, cols);
    }

    /** Like {@link #require} when the tensor is present. */
    public Optional<WeightTensor> optional(String name, long... shape) {
        return contains(name) ? Optional.of(require(name, shape)) : Optional.empty();
    }

    /** Sum of the bytes of every tensor. */
    public long totalBytes() {
        return fileOfTensor.entrySet().stream()
                .mapToLong(e -> {
                    TensorInfo i = e.getValue().tensors().get(e.getKey());
                    return i.end() - i.begin();
                }).sum();
    }

    @Override
    public void close() {
        arena.close();
    }
}
