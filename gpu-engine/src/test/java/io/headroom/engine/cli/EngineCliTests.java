package io.headroom.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The command line: JSON outputs, --help everywhere, and one clear error line for bad input. */
class EngineCliTests {

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = EngineCli.execute(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    static String model() {
        try {
            return Path.of(EngineCliTests.class.getResource("/golden/llama-mha").toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void logitsShouldPrintOneRowPerRequestedPosition() {
        Run r = run("logits", "--model", model(), "--tokens", "1,5,9,33", "--positions", "all");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = JsonMapper.builder().build().readTree(r.out());
        assertThat(json.get("positions").toString()).isEqualTo("[0,1,2,3]");
        assertThat(json.get("logits").size()).isEqualTo(4);
        assertThat(json.get("logits").get(0).size()).isEqualTo(480);
        Run last = run("logits", "--model", model(), "--tokens", "1,5,9,33");
        JsonNode lastJson = JsonMapper.builder().build().readTree(last.out());
        assertThat(lastJson.get("positions").toString()).isEqualTo("[3]");
        // the same row, up to float rounding: the LM head runs on 1 row here and on 4 above, and the vector
        // kernels' sums may be ordered differently (run alone, this test saw differences up to 4e-7)
        JsonNode lastRow = lastJson.get("logits").get(0);
        JsonNode allRow = json.get("logits").get(3);
        assertThat(lastRow.size()).isEqualTo(allRow.size());
        for (int i = 0; i < lastRow.size(); i++) {
            assertThat(lastRow.get(i).asDouble()).as("logit %d", i)
                    .isCloseTo(allRow.get(i).asDouble(), org.assertj.core.data.Offset.offset(1e-5));
        }
    }

    @Test
    void generateJsonShouldReportTokensAndText() {
        Run r = run("generate", "--model", model(), "--prompt", "the contract", "--max-new-tokens", "6", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = JsonMapper.builder().build().readTree(r.out());
        assertThat(json.get("tokens").size()).isBetween(1, 6);
        assertThat(json.get("text").isString()).isTrue();
    }

    @Test
    void generateShouldStreamTheSameTextItReportsAsJson() {
        Run streamed = run("generate", "--model", model(), "--tokens", "1,40,41", "--max-new-tokens", "8");
        Run json = run("generate", "--model", model(), "--tokens", "1,40,41", "--max-new-tokens", "8", "--json");
        String text = JsonMapper.builder().build().readTree(json.out()).get("text").asString();
        assertThat(streamed.out()).isEqualTo(text + System.lineSeparator());
    }

    @Test
    void everyCommandShouldHaveHelp() {
        for (String cmd : new String[] {"logits", "generate", "passkey-eval", "niah-eval", "identify", "bench"}) {
            Run r = run(cmd, "--help");
            assertThat(r.code()).isZero();
            assertThat(r.out()).contains("Usage: headroom-engine " + cmd);
        }
        assertThat(run("--help").out()).contains("logits").contains("generate").contains("passkey-eval")
                .contains("niah-eval").contains("identify").contains("bench");
    }

    @Test
    void missingModelDirectoryShouldGiveOneErrorLine() {
        Run r = run("logits", "--model", tmp.resolve("nope").toString(), "--tokens", "1");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("error: model directory").contains("does not exist")
                .doesNotContain("\n").doesNotContain("Exception");
    }

    @Test
    void directoryThatIsNotAModelShouldSayWhatIsMissing() throws IOException {
        Files.writeString(tmp.resolve("readme.txt"), "hello");
        Run r = run("generate", "--model", tmp.toString(), "--prompt", "x", "--max-new-tokens", "1");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).isEqualTo("error: no config.json in " + tmp
                + " (is this a Hugging Face model directory?)");
    }

    @Test
    void badArgumentsShouldExitWithUsageHint() {
        Run missing = run("generate", "--model", model(), "--max-new-tokens", "1");
        assertThat(missing.code()).isEqualTo(2);
        assertThat(missing.err()).startsWith("error: ").contains("--help");
        Run badTokens = run("logits", "--model", model(), "--tokens", "1,x");
        assertThat(badTokens.code()).isEqualTo(2);
        assertThat(badTokens.err().strip()).isEqualTo("error: --tokens must be comma-separated integers like 1,2,3, "
                + "got '1,x'");
        Run badTemperature = run("generate", "--model", model(), "--tokens", "1", "--max-new-tokens", "1",
                "--temperature", "-2");
        assertThat(badTemperature.err().strip()).isEqualTo("error: temperature must be >= 0, got -2.0");
        Run noCommand = run();
        assertThat(noCommand.code()).isEqualTo(2);
    }

    @Test
    void benchShouldRejectALatePrefillItCannotTime() {
        Run negative = run("bench", "--model", model(), "--prefill-after", "-1");
        assertThat(negative.code()).isEqualTo(2);
        assertThat(negative.err().strip()).isEqualTo("error: --prefill-after must be >= 0 and is not combined with "
                + "--synthetic-context");
        Run both = run("bench", "--model", model(), "--prefill-after", "64", "--synthetic-context", "128");
        assertThat(both.code()).isEqualTo(2);
        assertThat(both.err()).contains("--prefill-after").contains("--synthetic-context");
    }
}
