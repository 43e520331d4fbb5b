package io.headroom.jobs.extract;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.tika.exception.EncryptedDocumentException;
import org.apache.tika.exception.TikaException;
import org.apache.tika.exception.WriteLimitReachedException;
import org.apache.tika.io.TikaInputStream;
import org.apache.tika.metadata.Metadata;
import org.apache.tika.parser.AutoDetectParser;
import org.apache.tika.parser.ParseContext;
import org.apache.tika.sax.BodyContentHandler;
import org.apache.tika.sax.WriteOutContentHandler;
import org.xml.sax.SAXException;

/**
 * The extractor process: Apache Tika's parsers, in a JVM of their own so that a hostile or broken
 * document costs this process (its heap cap, its time limit), never the service. Protocol, one line
 * each way per document: the service writes {@code <input path>\t<output path>}; this answers
 * {@code OK\t<characters>} with the text written to the output file (UTF-8), or
 * {@code SKIP\t<reason>} (encrypted, damaged, no text, too much text). {@code READY} is the first line.
 * Anything the parsers print goes to standard error, never into the protocol.
 */
public final class ExtractorMain {

    private ExtractorMain() {
    }

    public static void main(String[] args) throws IOException {
        long maxChars = Long.parseLong(args[0]);
        PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        AutoDetectParser parser = new AutoDetectParser();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        protocol.println("READY");
        for (String line; (line = in.readLine()) != null;) {
            String[] fields = line.split("\t", -1);
            if (fields.length != 2) {
                protocol.println("SKIP\tmalformed request");
                continue;
            }
            protocol.println(extract(parser, Path.of(fields[0]), Path.of(fields[1]), maxChars));
        }
    }

    static String extract(AutoDetectParser parser, Path input, Path output, long maxChars) {
        CountingWriter text;
        try (InputStream is = TikaInputStream.get(input);
                Writer out = Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
            text = new CountingWriter(out);
            int limit = (int) Math.min(Integer.MAX_VALUE, maxChars);
            parser.parse(is, new BodyContentHandler(new WriteOutContentHandler(text, limit)), new Metadata(),
                    new ParseContext());
        } catch (EncryptedDocumentException e) {
            return "SKIP\tencrypted (password-protected)";
        } catch (TikaException | SAXException | IOException | RuntimeException e) {
            if (WriteLimitReachedException.isWriteLimitReached(e)) {
                return "SKIP\tmore than " + maxChars + " characters of text";
            }
            if (e.getCause() instanceof EncryptedDocumentException || String.valueOf(e.getMessage())
                    .toLowerCase(java.util.Locale.ROOT).contains("encrypt")) {
                return "SKIP\tencrypted (password-protected)";
            }
            return "SKIP\tdamaged or unreadable (" + oneLine(e) + ")";
        }
        if (text.visible == 0) {
            return "SKIP\tno text";
        }
        return "OK\t" + text.count;
    }

    private static String oneLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage()).replaceAll("[\\t\\r\\n]+", " ");
        m = m.replaceAll("\\b[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+\\.[A-Z][\\w$]*", "");
        return m.length() > 200 ? m.substring(0, 200) + "…" : m;
    }

    /** Counts what is written, and how much of it is not whitespace. */
    static final class CountingWriter extends Writer {
        private final Writer out;
        long count;
        long visible;

        CountingWriter(Writer out) {
            this.out = out;
        }

        @Override
        public void write(char[] buf, int off, int len) throws IOException {
            out.write(buf, off, len);
            count += len;
            for (int i = off; i < off + len; i++) {
                if (!Character.isWhitespace(buf[i])) {
                    visible++;
                }
            }
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
