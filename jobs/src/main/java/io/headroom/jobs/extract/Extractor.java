package io.headroom.jobs.extract;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text out of documents, isolated from the service: {@link ExtractorMain} runs in a child JVM with
 * its own heap cap and is given a time limit per document. A document that runs past its time, or
 * takes the child down (its heap cap, a crash), is skipped with that reason; the child is replaced
 * and the next document goes on. One document at a time per extractor.
 */
public final class Extractor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Extractor.class);
    private static final String EOF = "\u0000eof";

    /**
     * @param timeout the most one document may take
     * @param heapMegabytes the child JVM's heap cap
     * @param maxChars the most text one document may yield (beyond: skipped)
     */
    public record Limits(Duration timeout, int heapMegabytes, long maxChars) {
    }

    /** What became of one document: its text's length, or why it was skipped. */
    public record Result(boolean extracted, long chars, String skipReason) {
        static Result skipped(String reason) {
            return new Result(false, 0, reason);
        }
    }

    private final Limits limits;
    private Worker worker;

    public Extractor(Limits limits) {
        this.limits = limits;
    }

    /** Extracts {@code input}'s text into {@code output} (UTF-8); on a skip, {@code output} is removed. */
    public synchronized Result extract(Path input, Path output) {
        try {
            if (worker == null || !worker.process.isAlive()) {
                worker = new Worker(limits);
            }
            String line = worker.ask(input + "\t" + output, limits.timeout());
            Result r;
            if (line == null) {
                worker.kill();
                worker = null;
                r = Result.skipped("took longer than " + limits.timeout().toSeconds() + " s to read");
            } else if (line.equals(EOF)) {
                int code = worker.exitCode();
                worker = null;
                r = Result.skipped("took the reader down (exit " + code + "; the heap cap is "
                        + limits.heapMegabytes() + " MB)");
            } else if (line.startsWith("OK\t")) {
                r = new Result(true, Long.parseLong(line.substring(3)), null);
            } else if (line.startsWith("SKIP\t")) {
                r = Result.skipped(line.substring(5));
            } else {
                r = Result.skipped("the reader answered something unexpected");
            }
            if (!r.extracted()) {
                Files.deleteIfExists(output);
            }
            return r;
        } catch (IOException e) {
            throw new UncheckedIOException("the text extractor could not be run", e);
        }
    }

    @Override
    public synchronized void close() {
        if (worker != null) {
            worker.kill();
            worker = null;
        }
    }

    /** The command that starts a child: this JVM's java, this classpath (or the service's jar), the caps. */
    static List<String> command(Limits limits) {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.add("-Xmx" + limits.heapMegabytes() + "m");
        c.add("-XX:+ExitOnOutOfMemoryError");
        c.add("-Xss4m");
        c.add("-Djava.awt.headless=true");
        String classPath = System.getProperty("java.class.path");
        if (bootJar(classPath)) {
            // the packaged service: start the extractor's class from inside the same jar
            c.addAll(List.of("-cp", classPath, "-Dloader.main=" + ExtractorMain.class.getName(),
                    "org.springframework.boot.loader.launch.PropertiesLauncher"));
        } else {
            c.addAll(List.of("-cp", classPath, ExtractorMain.class.getName()));
        }
        c.add(Long.toString(limits.maxChars()));
        return c;
    }

    private static boolean bootJar(String classPath) {
        if (classPath.contains(java.io.File.pathSeparator) || !classPath.endsWith(".jar")) {
            return false;
        }
        try (JarFile jar = new JarFile(classPath)) {
            return jar.getEntry("BOOT-INF/") != null || jar.getEntry("BOOT-INF/classes/") != null;
        } catch (IOException e) {
            return false;
        }
    }

    /** One child process and the thread that reads its answers. */
    private static final class Worker {
        final Process process;
        final Writer requests;
        final BlockingQueue<String> answers = new LinkedBlockingQueue<>();

        Worker(Limits limits) throws IOException {
            process = new ProcessBuilder(command(limits)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            requests = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread reader = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null;) {
                        answers.add(line);
                    }
                } catch (IOException e) {
                    // the child went away: EOF below
                }
                answers.add(EOF);
            }, "headroom-extractor-reader");
            reader.setDaemon(true);
            reader.start();
            String ready = poll(Duration.ofSeconds(60));
            if (!"READY".equals(ready)) {
                kill();
                throw new IOException("the text extractor did not start (" + ready + ")");
            }
            LOG.debug("text extractor started (pid {})", process.pid());
        }

        /** Sends one request; the answer, null after {@code timeout}, or {@link #EOF} if the child died. */
        String ask(String request, Duration timeout) throws IOException {
            try {
                requests.write(request + "\n");
                requests.flush();
            } catch (IOException e) {
                return EOF;
            }
            return poll(timeout);
        }

        private String poll(Duration timeout) {
            try {
                return answers.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }

        int exitCode() {
            try {
                return process.waitFor(10, TimeUnit.SECONDS) ? process.exitValue() : -1;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            }
        }

        void kill() {
            process.destroyForcibly();
        }
    }
}
