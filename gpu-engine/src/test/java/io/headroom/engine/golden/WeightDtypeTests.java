package io.headroom.engine.golden;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.engine.EngineOptions;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.safetensors.Checkpoint;
import io.headroom.engine.safetensors.SafetensorsWriter;
import io.headroom.engine.tensor.DType;
import io.headroom.engine.tensor.WeightTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The same model stored as f32 and f16: bf16 values are exact in f32 (identical logits) and in f16
 * for weights of ordinary magnitude (here every value, so logits agree to float32 rounding).
 */
class WeightDtypeTests {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16"})
    void checkpointConvertedToAnotherDtypeShouldGiveTheReferenceLogits(DType dtype) throws IOException {
        GoldenFixture f = GoldenFixture.load("qwen2-tied");
        for (String file : new String[] {"config.json", "tokenizer.json", "tokenizer_config.json",
                "generation_config.json"}) {
            Files.copy(f.dir().resolve(file), dir.resolve(file));
        }
        try (Checkpoint source = Checkpoint.open(f.dir())) {
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (String name : source.tensorNames()) {
                long[] shape = source.info(name).orElseThrow().shape();
                WeightTensor t = source.require(name, shape);
                entries.add(new SafetensorsWriter.Entry(name, dtype, shape, t::get));
            }
            SafetensorsWriter.write(dir.resolve("model.safetensors"), entries);
        }
        int[] prompt = f.prompt(1);
        try (LoadedModel m = LoadedModel.load(dir, new EngineOptions("cpu", 2, 64));
                Arena arena = Arena.ofConfined()) {
            float[][] ref = f.logits(1, arena);
            float[][] ours = m.cpuModel().forward(prompt, m.cpuModel().newCache(),
                    IntStream.range(0, prompt.length).toArray());
            for (int p = 0; p < prompt.length; p++) {
                assertThat(GoldenFixture.relativeError(ours[p], ref[p])).isLessThan(1e-4);
            }
        }
    }
}
