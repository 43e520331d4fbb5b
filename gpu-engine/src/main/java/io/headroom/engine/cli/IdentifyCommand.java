package io.headroom.engine.cli;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.backend.cpu.Parallel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.identify.GateModel;
import io.headroom.engine.duo.identify.Identification;
import io.headroom.engine.duo.identify.PasskeySampler;
import io.headroom.engine.model.llama.LlamaWeights;
import io.headroom.engine.safetensors.Checkpoint;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Finds a model's retrieval heads (DuoAttention's optimisation) and writes a pattern directory. */
@Command(name = "identify", mixinStandardHelpOptions = true,
        description = "Find retrieval heads by optimising DuoAttention gates on synthetic passkey samples; "
                + "writes full_attention_heads.tsv + config.json.")
final class IdentifyCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--out", required = true, paramLabel = "PATTERN_DIR", description = "where the pattern is written")
    Path out;

    @Option(names = "--steps", defaultValue = "150", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int steps;

    @Option(names = "--sink", defaultValue = "8", paramLabel = "S", description = "Default: ${DEFAULT-VALUE}")
    int sink;

    @Option(names = "--recent", defaultValue = "32", paramLabel = "R", description = "Default: ${DEFAULT-VALUE}")
    int recent;

    @Option(names = "--lambda", defaultValue = "0.05", paramLabel = "L",
            description = "weight of mean(gate) in the loss. Default: ${DEFAULT-VALUE}")
    double lambda;

    @Option(names = "--lr", defaultValue = "0.02", paramLabel = "LR", description = "Default: ${DEFAULT-VALUE}")
    double lr;

    @Option(names = "--min-length", defaultValue = "150", paramLabel = "TOKENS",
            description = "shortest haystack. Default: ${DEFAULT-VALUE}")
    int minLength;

    @Option(names = "--max-length", defaultValue = "400", paramLabel = "TOKENS",
            description = "longest haystack. Default: ${DEFAULT-VALUE}")
    int maxLength;

    @Option(names = "--needles", defaultValue = "3", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int needles;

    @Option(names = "--haystack", paramLabel = "FILE",
            description = "text to build haystacks from (default: generated)")
    Path haystack;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Default: ${DEFAULT-VALUE}")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String text = null;
        if (haystack != null) {
            try {
                text = Files.readString(haystack);
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException("haystack file " + haystack + " does not exist", e);
            }
        }
        Identification.Settings settings = new Identification.Settings(steps, sink, recent, lambda, lr, minLength,
                maxLength, needles, seed);
        PrintWriter err = spec.commandLine().getErr();
        try (LoadedModel m = modelOptions.load(); Checkpoint ckpt = Checkpoint.open(modelOptions.model);
                Parallel parallel = new Parallel(modelOptions.threads != null ? modelOptions.threads
                        : Runtime.getRuntime().availableProcessors())) {
            GateModel model = new GateModel(m.config(), LlamaWeights.load(ckpt, m.config()), parallel);
            PasskeySampler sampler = new PasskeySampler(m.tokenizer(), text, needles, seed);
            AttentionPattern pattern = new Identification(model, sampler, settings).run(s -> {
                if (s.step() % 10 == 0 || s.step() == steps - 1) {
                    err.printf(Locale.ROOT, "step %d/%d  distill %.6f  mean gate %.3f  elapsed %.0fs  "
                            + "remaining %.0fs%n", s.step() + 1, steps, s.distill(), s.meanGate(), s.seconds(),
                            s.remainingSeconds());
                    err.flush();
                }
            });
            pattern.save(out);
            spec.commandLine().getOut().println("pattern written to " + out);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
