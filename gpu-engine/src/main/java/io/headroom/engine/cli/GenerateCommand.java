package io.headroom.engine.cli;

import io.headroom.engine.LoadedModel;
import io.headroom.engine.generate.GenerationRequest;
import io.headroom.engine.generate.GenerationResult;
import io.headroom.engine.generate.SamplingParams;
import io.headroom.engine.generate.TokenListener;
import io.headroom.engine.tokenizer.ChatMessage;
import java.io.PrintWriter;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/** Generates text from a prompt, streaming it or printing JSON. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation. Without sampling flags decoding is greedy.")
final class GenerateCommand implements Callable<Integer> {

    /** Exactly one input form. */
    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT",
                description = "raw text, tokenised with the tokenizer's special tokens")
        String prompt;

        @Option(names = "--chat", paramLabel = "TEXT", description = "a user message wrapped in the chat template")
        String chat;

        @Option(names = "--tokens", paramLabel = "IDS", description = "token ids, e.g. 1,2,3")
        String tokens;
    }

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    DuoOptions duoOptions;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--max-new-tokens", required = true, paramLabel = "N", description = "tokens to generate at most")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", description = "sampling temperature (0 = greedy)")
    Float temperature;

    @Option(names = "--top-p", paramLabel = "P", description = "nucleus sampling mass in (0, 1]")
    Float topP;

    @Option(names = "--top-k", paramLabel = "K", description = "sample among the K most likely tokens")
    Integer topK;

    @Option(names = "--min-p", paramLabel = "P", description = "drop tokens below P × the top probability")
    Float minP;

    @Option(names = "--repetition-penalty", paramLabel = "R", description = "penalty > 1 discourages repeats")
    Float repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "seed that makes sampling reproducible")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "stop string (repeatable)")
    List<String> stop = List.of();

    @Option(names = "--json", description = "print {\"tokens\":[...],\"text\":\"...\"} instead of streaming text")
    boolean json;

    @Spec
    CommandSpec spec;

    SamplingParams sampling() {
        boolean sampled = temperature != null || topP != null || topK != null || minP != null || seed != null;
        float t = temperature != null ? temperature : (sampled ? 1f : 0f);
        return new SamplingParams(t, topK != null ? topK : 0, topP != null ? topP : 1f, minP != null ? minP : 0f,
                repetitionPenalty != null ? repetitionPenalty : 1f, seed);
    }

    @Override
    public Integer call() {
        SamplingParams sampling = sampling();
        PrintWriter out = spec.commandLine().getOut();
        try (LoadedModel m = modelOptions.load()) {
            int[] prompt;
            if (input.tokens != null) {
                prompt = TokenIds.parse(input.tokens);
            } else if (input.chat != null) {
                String text = m.chatTemplate().render(List.of(ChatMessage.user(input.chat)), true);
                prompt = m.tokenizer().encode(text, false);
            } else {
                prompt = m.tokenizer().encode(input.prompt, true);
            }
            Set<Integer> stopIds = new HashSet<>(m.config().eosTokenIds());
            TokenListener listener = json ? TokenListener.NONE : (id, text) -> {
                out.print(text);
                out.flush();
            };
            AtomicBoolean cancelled = new AtomicBoolean();
            Thread hook = new Thread(() -> cancelled.set(true));
            Runtime.getRuntime().addShutdownHook(hook);
            GenerationResult r = m.generator(duoOptions.layout(m.config())).generate(new GenerationRequest(prompt,
                    maxNewTokens, sampling, stopIds, stop, listener, cancelled));
            Runtime.getRuntime().removeShutdownHook(hook);
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("tokens", r.tokens());
                result.put("text", r.text());
                result.put("finish_reason", r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
                result.put("prompt_tokens", r.promptTokens());
                out.println(JsonMapper.builder().build().writeValueAsString(result));
            } else {
                out.println();
            }
            out.flush();
        }
        return 0;
    }
}
