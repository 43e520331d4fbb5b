package io.headroom.engine.cli;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.eval.PasskeyEvaluation;
import io.headroom.engine.eval.PasskeySample;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/** Greedy passkey accuracy of a model (optionally with DuoAttention) on a JSONL sample file. */
@Command(name = "passkey-eval", mixinStandardHelpOptions = true,
        description = "Greedy passkey accuracy on {\"prompt\",\"answer\"} JSONL samples; prints "
                + "{\"accuracy\":...,\"correct\":...,\"n\":...}.")
final class PasskeyEvalCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    DuoOptions duoOptions;

    @Option(names = "--samples", required = true, paramLabel = "FILE.jsonl",
            description = "one {\"prompt\": \"...\", \"answer\": \"...\"} object per line")
    Path samples;

    @Option(names = "--max-new-tokens", defaultValue = "8", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}")
    int maxNewTokens;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        List<PasskeySample> list = PasskeySample.readJsonl(samples);
        try (LoadedModel m = modelOptions.load()) {
            DuoLayout layout = duoOptions.layout(m.config());
            PasskeyEvaluation.Result r = new PasskeyEvaluation(m, maxNewTokens).run(list, layout);
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("accuracy", r.accuracy());
            json.put("correct", r.correct());
            json.put("n", r.n());
            spec.commandLine().getOut().println(JsonMapper.builder().build().writeValueAsString(json));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
