package io.headroom.engine.cli;

import io.headroom.engine.KvCache;
import io.headroom.engine.LoadedModel;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import tools.jackson.databind.json.JsonMapper;

/** Prints float32 logits of a token sequence as JSON. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Print the model's float32 logits for a token sequence as JSON "
                + "{\"positions\":[...],\"logits\":[[...],...]}.")
final class LogitsCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    DuoOptions duoOptions;

    @Option(names = "--tokens", required = true, paramLabel = "IDS", description = "token ids, e.g. 1,2,3")
    String tokens;

    @Option(names = "--positions", defaultValue = "last", paramLabel = "WHICH",
            description = "last or all. Default: ${DEFAULT-VALUE}")
    String positions;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        int[] ids = TokenIds.parse(tokens);
        int[] rows = switch (positions) {
            case "last" -> new int[] {ids.length - 1};
            case "all" -> IntStream.range(0, ids.length).toArray();
            default -> throw new IllegalArgumentException("--positions must be last or all, got '" + positions + "'");
        };
        try (LoadedModel m = modelOptions.load()) {
            if (ids.length > m.config().maxPositions()) {
                throw new IllegalArgumentException(ids.length + " tokens exceed the model's context limit of "
                        + m.config().maxPositions());
            }
            printLogits(m, ids, rows);
        }
        return 0;
    }

    private void printLogits(LoadedModel m, int[] ids, int[] rows) {
        try (KvCache cache = m.model().newCache(duoOptions.layout(m.config()), m.options().kvPageTokens())) {
            float[][] logits = new float[rows.length][];
            int done = 0;
            for (int from = 0; from < ids.length; from += m.options().prefillChunk()) { // chunked like generate
                int to = Math.min(ids.length, from + m.options().prefillChunk());
                int f = from;
                int[] inChunk = java.util.Arrays.stream(rows).filter(r -> r >= f && r < to).map(r -> r - f).toArray();
                float[][] part = m.model().forward(java.util.Arrays.copyOfRange(ids, from, to), cache, inChunk);
                System.arraycopy(part, 0, logits, done, part.length);
                done += part.length;
            }
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("positions", rows);
            json.put("logits", logits);
            PrintWriter out = spec.commandLine().getOut();
            out.println(JsonMapper.builder().build().writeValueAsString(json));
            out.flush();
        }
    }
}
