package io.headroom.jobs.extract;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.encryption.AccessPermission;
import org.apache.pdfbox.pdmodel.encryption.StandardProtectionPolicy;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;
import org.apache.poi.xwpf.usermodel.XWPFDocument;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The isolated extractor against real documents made here (PDFBox, POI): text out of PDF, DOCX and
 * HTML; encrypted, damaged and empty documents skipped with their reason; a document past its time
 * limit skipped and the next one read by a fresh child process.
 */
class ExtractorIntegrationTests {

    static final String SECRET = "the secret code of blue is 48213";

    @TempDir
    Path dir;

    Path pdf(String name, String text, String password) throws IOException {
        Path f = dir.resolve(name);
        try (PDDocument doc = new PDDocument()) {
            PDPage page = new PDPage();
            doc.addPage(page);
            try (PDPageContentStream s = new PDPageContentStream(doc, page)) {
                s.beginText();
                s.setFont(new PDType1Font(Standard14Fonts.FontName.HELVETICA), 12);
                s.newLineAtOffset(72, 700);
                s.showText(text);
                s.endText();
            }
            if (password != null) {
                StandardProtectionPolicy policy = new StandardProtectionPolicy("owner-pw", password,
                        new AccessPermission());
                policy.setEncryptionKeyLength(128);
                doc.protect(policy);
            }
            doc.save(f.toFile());
        }
        return f;
    }

    Path docx(String text) throws IOException {
        Path f = dir.resolve("memo.docx");
        try (XWPFDocument doc = new XWPFDocument(); OutputStream out = Files.newOutputStream(f)) {
            doc.createParagraph().createRun().setText(text);
            doc.write(out);
        }
        return f;
    }

    static final Extractor.Limits LIMITS = new Extractor.Limits(Duration.ofSeconds(60), 256, 1_000_000);

    @Test
    void textShouldComeOutOfPdfDocxAndHtml() throws IOException {
        Path html = dir.resolve("page.html");
        Files.writeString(html, "<html><body><h1>Terms</h1><p>" + SECRET + "</p><script>evil()</script></body></html>");
        try (Extractor extractor = new Extractor(LIMITS)) {
            for (Path input : new Path[] {pdf("contract.pdf", SECRET, null), docx(SECRET), html}) {
                Path out = dir.resolve(input.getFileName() + ".txt");
                Extractor.Result r = extractor.extract(input, out);
                assertThat(r.extracted()).as(input + ": " + r.skipReason()).isTrue();
                assertThat(Files.readString(out, StandardCharsets.UTF_8)).contains(SECRET).doesNotContain("evil()");
                assertThat(r.chars()).isPositive();
            }
        }
    }

    @Test
    void encryptedDamagedAndEmptyDocumentsShouldBeSkippedWithTheirReason() throws IOException {
        byte[] good = Files.readAllBytes(pdf("whole.pdf", SECRET, null));
        Path damaged = dir.resolve("damaged.pdf");
        Files.write(damaged, java.util.Arrays.copyOf(good, good.length / 3));
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "   \n\n ");
        try (Extractor extractor = new Extractor(LIMITS)) {
            Path out = dir.resolve("out.txt");
            assertThat(extractor.extract(pdf("locked.pdf", SECRET, "user-pw"), out).skipReason())
                    .contains("encrypted");
            assertThat(out).doesNotExist();
            assertThat(extractor.extract(damaged, out).skipReason()).startsWith("damaged or unreadable");
            assertThat(extractor.extract(empty, out).skipReason()).isEqualTo("no text");
            // the same extractor goes on with the next document
            assertThat(extractor.extract(pdf("next.pdf", SECRET, null), out).extracted()).isTrue();
        }
    }

    @Test
    void aDocumentPastItsTimeShouldBeSkippedAndTheNextReadByAFreshReader() throws IOException {
        Path doc = pdf("slow.pdf", SECRET, null);
        try (Extractor extractor = new Extractor(new Extractor.Limits(Duration.ofMillis(1), 256, 1_000_000))) {
            Extractor.Result r = extractor.extract(doc, dir.resolve("a.txt"));
            assertThat(r.extracted()).isFalse();
            assertThat(r.skipReason()).startsWith("took longer than");
        }
        try (Extractor extractor = new Extractor(new Extractor.Limits(Duration.ofSeconds(60), 256, 10))) {
            assertThat(extractor.extract(doc, dir.resolve("b.txt")).skipReason()).isEqualTo(
                    "more than 10 characters of text");
        }
    }
}
