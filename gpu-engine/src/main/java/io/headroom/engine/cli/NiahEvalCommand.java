package io.headroom.engine.cli;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.Heatmap;
import io.headroom.engine.eval.PasskeyEvaluation;
import io.headroom.engine.eval.PasskeySample;
import io.headroom.engine.model.ModelConfig;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/**
 * The DuoAttention evaluation report: needle-in-a-haystack accuracy over context length × needle
 * depth, and held-out passkey accuracy, for full attention, DuoAttention with the model's pattern,
 * random head selection at the same sparsities, and streaming-only attention. Writes summary.json,
 * summary.md and one heatmap PNG per configuration.
 */
@Command(name = "niah-eval", mixinStandardHelpOptions = true,
        description = "Needle-in-a-haystack report over DuoAttention configurations (JSON, Markdown, PNG).")
final class NiahEvalCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--pattern", required = true, paramLabel = "DIR", description = "the model's pattern")
    Path pattern;

    @Option(names = "--grid", required = true, paramLabel = "FILE.jsonl",
            description = "samples with \"length\" and \"depth\" fields")
    Path grid;

    @Option(names = "--heldout", paramLabel = "FILE.jsonl", description = "held-out passkey samples")
    Path heldout;

    @Option(names = "--sparsities", split = ",", defaultValue = "0.25,0.5,0.75", paramLabel = "X,Y",
            description = "Default: ${DEFAULT-VALUE}")
    List<Double> sparsities;

    @Option(names = "--random-seeds", defaultValue = "2", paramLabel = "N",
            description = "random head selections per sparsity (averaged). Default: ${DEFAULT-VALUE}")
    int randomSeeds;

    @Option(names = "--max-new-tokens", defaultValue = "8", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int maxNewTokens;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "where the report is written")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        List<PasskeySample> gridSamples = PasskeySample.readJsonl(grid);
        for (PasskeySample s : gridSamples) {
            if (s.length() == null || s.depth() == null) {
                throw new IllegalArgumentException(grid + ": every grid sample needs \"length\" and \"depth\"");
            }
        }
        List<PasskeySample> heldoutSamples = heldout != null ? PasskeySample.readJsonl(heldout) : List.of();
        List<Integer> lengths = gridSamples.stream().map(PasskeySample::length).distinct().sorted().toList();
        List<Double> depths = gridSamples.stream().map(PasskeySample::depth).distinct().sorted().toList();
        Files.createDirectories(out);
        PrintWriter log = spec.commandLine().getErr();
        Map<String, Object> summary = new LinkedHashMap<>();
        List<String> rows = new ArrayList<>();
        try (LoadedModel m = modelOptions.load()) {
            ModelConfig c = m.config();
            AttentionPattern p = AttentionPattern.load(pattern);
            p.checkFits(c.numLayers(), c.numKvHeads());
            if (p.sinkSize() == null || p.recentSize() == null) {
                throw new IllegalArgumentException(pattern + "/config.json needs sink_size and recent_size");
            }
            int sink = p.sinkSize();
            int recent = p.recentSize();
            PasskeyEvaluation eval = new PasskeyEvaluation(m, maxNewTokens);
            Map<String, List<DuoLayout>> configs = new LinkedHashMap<>();
            configs.put("full", List.of(DuoLayout.full(c.numLayers(), c.numKvHeads())));
            for (double s : sparsities) {
                configs.put(String.format(Locale.ROOT, "duo-%.2f", s),
                        List.of(new DuoLayout(p.retrievalBySparsity(s), sink, recent)));
            }
            for (double s : sparsities) {
                List<DuoLayout> randoms = new ArrayList<>();
                for (int seed = 1; seed <= randomSeeds; seed++) {
                    randoms.add(DuoLayout.random(c.numLayers(), c.numKvHeads(), s, seed, sink, recent));
                }
                configs.put(String.format(Locale.ROOT, "random-%.2f", s), randoms);
            }
            configs.put("streaming-only", List.of(DuoLayout.streamingOnly(c.numLayers(), c.numKvHeads(), sink,
                    recent)));
            for (Map.Entry<String, List<DuoLayout>> e : configs.entrySet()) {
                long t0 = System.nanoTime();
                double[][] correct = new double[depths.size()][lengths.size()];
                double[][] count = new double[depths.size()][lengths.size()];
                double heldoutCorrect = 0;
                double gridCorrect = 0;
                for (DuoLayout layout : e.getValue()) {
                    PasskeyEvaluation.Result r = eval.run(gridSamples, layout);
                    for (int i = 0; i < gridSamples.size(); i++) {
                        int d = depths.indexOf(gridSamples.get(i).depth());
                        int l = lengths.indexOf(gridSamples.get(i).length());
                        correct[d][l] += r.outcomes()[i] ? 1 : 0;
                        count[d][l]++;
                    }
                    gridCorrect += r.correct();
                    if (!heldoutSamples.isEmpty()) {
                        heldoutCorrect += eval.run(heldoutSamples, layout).correct();
                    }
                }
                double[][] acc = new double[depths.size()][lengths.size()];
                for (int d = 0; d < depths.size(); d++) {
                    for (int l = 0; l < lengths.size(); l++) {
                        acc[d][l] = count[d][l] == 0 ? Double.NaN : correct[d][l] / count[d][l];
                    }
                }
                int runs = e.getValue().size();
                double gridAcc = gridCorrect / (runs * (double) gridSamples.size());
                double heldAcc = heldoutSamples.isEmpty() ? Double.NaN
                        : heldoutCorrect / (runs * (double) heldoutSamples.size());
                DuoLayout first = e.getValue().getFirst();
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("retrieval_heads", first.retrievalCount());
                entry.put("kv_heads", c.numLayers() * c.numKvHeads());
                entry.put("runs", runs);
                entry.put("grid_accuracy", gridAcc);
                entry.put("heldout_accuracy", heldAcc);
                entry.put("lengths", lengths);
                entry.put("depths", depths);
                entry.put("accuracy_by_depth_and_length", acc);
                summary.put(e.getKey(), entry);
                Heatmap.write(out.resolve("heatmap-" + e.getKey() + ".png"), e.getKey() + ": "
                        + first.retrievalCount() + "/" + c.numLayers() * c.numKvHeads() + " retrieval heads"
                        + (runs > 1 ? ", mean of " + runs + " random draws" : ""), lengths, depths, acc);
                rows.add(String.format(Locale.ROOT, "| %s | %d/%d | %.1f%% | %s |", e.getKey(),
                        first.retrievalCount(), c.numLayers() * c.numKvHeads(), 100 * gridAcc,
                        Double.isNaN(heldAcc) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * heldAcc)));
                log.printf(Locale.ROOT, "%-15s grid %.3f heldout %.3f (%.0f s)%n", e.getKey(), gridAcc, heldAcc,
                        (System.nanoTime() - t0) / 1e9);
                log.flush();
            }
            summary.put("sink", sink);
            summary.put("recent", recent);
        }
        JsonMapper json = JsonMapper.builder().build();
        Files.writeString(out.resolve("summary.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
        StringBuilder md = new StringBuilder(
                "| configuration | retrieval heads | NIAH grid accuracy | held-out accuracy |\n|---|---|---|---|\n");
        rows.forEach(r -> md.append(r).append('\n'));
        Files.writeString(out.resolve("summary.md"), md.toString());
        spec.commandLine().getOut().print(md);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
