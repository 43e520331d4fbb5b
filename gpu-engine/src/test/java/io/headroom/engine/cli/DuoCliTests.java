package io.headroom.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** DuoAttention flags and passkey-eval on the command line, with the shipped passkey model. */
class DuoCliTests {

    static final Path ROOT = Path.of("..", "src", "models", "passkey").toAbsolutePath().normalize();
    static final String MODEL = ROOT.resolve("model").toString();
    static final String PATTERN = ROOT.resolve("pattern").toString();

    @TempDir
    Path tmp;

    static EngineCliTests.Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = EngineCli.execute(args, new PrintWriter(out), new PrintWriter(err));
        return new EngineCliTests.Run(code, out.toString(), err.toString());
    }

    Path samples(int n) throws IOException {
        List<String> lines = Files.readAllLines(ROOT.resolve("eval/passkey-heldout.jsonl")).subList(0, n);
        Path f = tmp.resolve("samples.jsonl");
        Files.write(f, lines);
        return f;
    }

    @Test
    void passkeyEvalShouldPrintAccuracyCorrectAndN() throws IOException {
        String samples = samples(12).toString();
        EngineCliTests.Run full = run("passkey-eval", "--model", MODEL, "--samples", samples);
        assertThat(full.code()).as(full.err()).isZero();
        JsonNode json = JsonMapper.builder().build().readTree(full.out());
        assertThat(json.get("n").asInt()).isEqualTo(12);
        assertThat(json.get("accuracy").asDouble()).isEqualTo(json.get("correct").asInt() / 12.0);
        assertThat(json.get("correct").asInt()).isPositive();

        EngineCliTests.Run streaming = run("passkey-eval", "--model", MODEL, "--samples", samples,
                "--streaming-only", "--sink", "8", "--recent", "32");
        assertThat(JsonMapper.builder().build().readTree(streaming.out()).get("correct").asInt()).isZero();
    }

    @Test
    void patternFlagsShouldTakeSinkAndRecentFromThePatternConfig() {
        EngineCliTests.Run withDefaults = run("logits", "--model", MODEL, "--tokens", "0,5,6,7,8,9,10,11,12,13",
                "--pattern", PATTERN, "--sparsity", "0.5");
        EngineCliTests.Run explicit = run("logits", "--model", MODEL, "--tokens", "0,5,6,7,8,9,10,11,12,13",
                "--pattern", PATTERN, "--sparsity", "0.5", "--sink", "8", "--recent", "32");
        assertThat(withDefaults.code()).as(withDefaults.err()).isZero();
        // equal up to float rounding: the Vector API's lane reductions sum in a different order before
        // and after the JIT compiles them, so two runs in one JVM may differ in the last bits
        JsonNode a = JsonMapper.builder().build().readTree(withDefaults.out()).get("logits").get(0);
        JsonNode b = JsonMapper.builder().build().readTree(explicit.out()).get("logits").get(0);
        for (int i = 0; i < a.size(); i++) {
            assertThat(a.get(i).asDouble()).isCloseTo(b.get(i).asDouble(), org.assertj.core.data.Offset.offset(1e-4));
        }
        EngineCliTests.Run otherWindow = run("logits", "--model", MODEL, "--tokens", "0,5,6,7,8,9,10,11,12,13",
                "--pattern", PATTERN, "--sparsity", "0.5", "--sink", "2", "--recent", "3");
        assertThat(otherWindow.out()).isNotEqualTo(withDefaults.out());
    }

    @Test
    void inconsistentFlagsShouldBeExplained() throws IOException {
        String samples = samples(2).toString();
        assertThat(run("passkey-eval", "--model", MODEL, "--samples", samples, "--pattern", PATTERN).err())
                .contains("--pattern needs exactly one of --sparsity and --threshold");
        assertThat(run("passkey-eval", "--model", MODEL, "--samples", samples, "--sparsity", "0.5").err())
                .contains("need --pattern, --streaming-only or --random-heads");
        assertThat(run("passkey-eval", "--model", MODEL, "--samples", samples, "--streaming-only").err())
                .contains("streaming heads need --sink and --recent");
        assertThat(run("passkey-eval", "--model", MODEL, "--samples", samples, "--pattern", PATTERN,
                "--streaming-only").err()).contains("choose one of");
        Files.writeString(tmp.resolve("full_attention_heads.tsv"), "1\t0\n0\t1\n");
        EngineCliTests.Run wrongShape = run("passkey-eval", "--model", MODEL, "--samples", samples, "--pattern",
                tmp.toString(), "--sparsity", "0.5");
        assertThat(wrongShape.code()).isEqualTo(1);
        assertThat(wrongShape.err().strip()).isEqualTo("error: attention pattern has shape (2 layers, 2 KV heads) "
                + "but the model has (4, 4)");
    }

    @Test
    void malformedSampleFilesShouldNameTheLine() throws IOException {
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\"}\n");
        EngineCliTests.Run r = run("passkey-eval", "--model", MODEL, "--samples", f.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("line 2: needs string fields \"prompt\" and a non-empty \"answer\"");
        assertThat(run("passkey-eval", "--model", MODEL, "--samples", tmp.resolve("none.jsonl").toString()).err())
                .contains("does not exist");
    }
}
