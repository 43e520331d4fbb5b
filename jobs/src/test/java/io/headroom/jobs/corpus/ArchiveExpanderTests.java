package io.headroom.jobs.corpus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ArchiveExpanderTests {

    static final UploadLimits LIMITS = new UploadLimits(1 << 20, 1 << 24, 1 << 26, 20, 2, 100, 1 << 22, 1000);

    @TempDir
    Path root;

    static final byte[] PDF = ("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
            .getBytes(StandardCharsets.US_ASCII);
    static final byte[] TEXT = "the secret code of blue is 48213.\n".getBytes(StandardCharsets.UTF_8);
    static final byte[] EXE = new byte[] {'M', 'Z', (byte) 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, (byte) 0xff, (byte) 0xff,
        0, 0, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0};

    static byte[] zip(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            for (var e : entries.entrySet()) {
                z.putNextEntry(new ZipEntry(e.getKey()));
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    static byte[] tar(Map<String, byte[]> entries, String symlink) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream t = new TarArchiveOutputStream(out)) {
            for (var e : entries.entrySet()) {
                TarArchiveEntry te = new TarArchiveEntry(e.getKey());
                te.setSize(e.getValue().length);
                t.putArchiveEntry(te);
                t.write(e.getValue());
                t.closeArchiveEntry();
            }
            if (symlink != null) {
                TarArchiveEntry link = new TarArchiveEntry(symlink, TarArchiveEntry.LF_SYMLINK);
                link.setLinkName("/etc/passwd");
                t.putArchiveEntry(link);
                t.closeArchiveEntry();
            }
        }
        return out.toByteArray();
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(out)) {
            g.write(data);
        }
        return out.toByteArray();
    }

    static byte[] docx() throws IOException {
        return zip(Map.of("[Content_Types].xml", "<Types/>".getBytes(), "word/document.xml",
                "<w:document/>".getBytes()));
    }

    List<ArchiveExpander.Accepted> expand(String name, byte[] bytes, UploadLimits limits) throws IOException {
        BlobStore blobs = new BlobStore(root);
        BlobStore.Staged staged = blobs.stage(new ByteArrayInputStream(bytes), Long.MAX_VALUE, "max_file_size");
        List<ArchiveExpander.Accepted> out = new ArrayList<>();
        List<BlobStore.Staged> created = new ArrayList<>();
        try {
            new ArchiveExpander(blobs, new TypeSniffer(), limits).accept(name, staged, out, created);
        } catch (RuntimeException e) {
            for (BlobStore.Staged s : created) {
                Files.deleteIfExists(s.file());
            }
            Files.deleteIfExists(staged.file());
            throw e;
        }
        return out;
    }

    @Test
    void typesShouldComeFromTheBytesNotTheName() throws IOException {
        assertThat(expand("notes.txt", PDF, LIMITS)).singleElement()
                .satisfies(a -> assertThat(a.mediaType()).isEqualTo("application/pdf"));
        assertThat(expand("report.zip", docx(), LIMITS)).singleElement()
                .satisfies(a -> assertThat(a.mediaType()).isEqualTo(TypeSniffer.DOCX));
        assertThat(expand("code.bin", TEXT, LIMITS).getFirst().mediaType()).startsWith("text/");
        assertThatThrownBy(() -> expand("contract.pdf", EXE, LIMITS)).isInstanceOfSatisfying(
                UploadRefusedException.class, e -> {
                    assertThat(e.kind()).isEqualTo(UploadRefusedException.Kind.UNSUPPORTED_TYPE);
                    assertThat(e.limit()).isEqualTo("file_type");
                });
    }

    @Test
    void archivesShouldOpenIntoTheirDocumentsWithTheirPaths() throws IOException {
        byte[] inner = zip(Map.of("deep/a.txt", TEXT));
        byte[] tgz = gzip(tar(Map.of("docs/b.pdf", PDF, "inner.zip", inner), null));
        List<ArchiveExpander.Accepted> got = expand("room.tar.gz", tgz, LIMITS);
        assertThat(got).extracting(ArchiveExpander.Accepted::path)
                .containsExactlyInAnyOrder("room.tar.gz/docs/b.pdf", "room.tar.gz/inner.zip/deep/a.txt");
    }

    @Test
    void everyArchiveLimitShouldBeEnforcedAndNamed() throws IOException {
        byte[] zeros = new byte[2 << 20];
        assertRefused(() -> expand("bomb.zip", zip(Map.of("zeros.txt", zeros)), LIMITS), "max_expansion_ratio");
        UploadLimits roomy = new UploadLimits(1 << 20, 1 << 24, 1 << 26, 20, 2, 1_000_000, 1 << 22, 1000);
        assertRefused(() -> expand("big.zip", zip(Map.of("zeros.txt", zeros)), roomy), "max_file_size");
        UploadLimits small = new UploadLimits(1 << 22, 1 << 24, 1 << 26, 20, 2, 1_000_000, 1 << 20, 1000);
        byte[] text = "lindor muzo a pawimu wipako. ".repeat(25_000).getBytes(StandardCharsets.US_ASCII);
        assertRefused(() -> expand("big.zip", zip(Map.of("a.txt", text, "b.txt", text)), small), "max_expanded_size");
        Map<String, byte[]> many = new java.util.TreeMap<>();
        for (int i = 0; i < 21; i++) {
            many.put("f" + i + ".txt", TEXT);
        }
        assertRefused(() -> expand("many.zip", zip(many), LIMITS), "max_files_per_archive");
        byte[] nested = zip(Map.of("l1.zip", zip(Map.of("l2.zip", zip(Map.of("a.txt", TEXT)))))); // depth 3 > 2
        assertRefused(() -> expand("nest.zip", nested, LIMITS), "max_archive_depth");
        for (String name : List.of("../escape.txt", "/etc/passwd", "a/../../b.txt", "C:/windows/x.txt",
                "dir\\..\\x.txt", "bad\u0001name.txt")) {
            assertRefused(() -> expand("names.zip", zip(Map.of(name, TEXT)), LIMITS), "entry_name");
        }
        assertRefused(() -> expand("links.tar", tar(Map.of("ok.txt", TEXT), "passwd"), LIMITS), "entry_name");
        assertRefused(() -> expand("plain.gz", gzip(TEXT), LIMITS), "file_type");
        byte[] broken = zip(Map.of("a.txt", TEXT));
        assertRefused(() -> expand("broken.zip", java.util.Arrays.copyOf(broken, broken.length - 30), LIMITS),
                "archive");
        try (var left = Files.list(root.resolve("incoming"))) {
            assertThat(left.toList()).as("nothing left behind").isEmpty();
        }
    }

    static void assertRefused(org.assertj.core.api.ThrowableAssert.ThrowingCallable call, String limit) {
        assertThatThrownBy(call).isInstanceOfSatisfying(UploadRefusedException.class,
                e -> assertThat(e.limit()).as(e.getMessage()).isEqualTo(limit));
    }
}
