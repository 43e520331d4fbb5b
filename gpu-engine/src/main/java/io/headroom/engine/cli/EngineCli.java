package io.headroom.engine.cli;

import io.headroom.engine.ModelFormatException;
import io.headroom.engine.backend.cuda.CudaException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code java --add-modules jdk.incubator.vector -jar headroom-engine.jar COMMAND ...}: the engine's
 * command line. Errors end in one {@code error: ...} line on stderr and a non-zero exit code (1 for
 * a failed run, 2 for bad arguments), never in a bare stack trace.
 */
@Command(name = "headroom-engine", mixinStandardHelpOptions = true, version = "Headroom engine 0.1.0",
        description = "Headroom's inference engine: run Hugging Face Llama-family checkpoints.",
        subcommands = {LogitsCommand.class, GenerateCommand.class, PasskeyEvalCommand.class, NiahEvalCommand.class,
            IdentifyCommand.class,
            BenchCommand.class})
public final class EngineCli implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (logits, generate, bench)");
    }

    public static void main(String[] args) {
        System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given streams; returns the exit code. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new EngineCli());
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler((ex, a) -> {
            err.println("error: " + ex.getMessage());
            err.println("run '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help' for usage");
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            String message = ex instanceof ModelFormatException || ex instanceof IllegalArgumentException
                    || ex instanceof IllegalStateException || ex instanceof CudaException ? ex.getMessage()
                    : ex.toString();
            err.println("error: " + message);
            err.flush();
            return ex instanceof IllegalArgumentException ? 2 : 1;
        });
        return cli.execute(args);
    }
}
