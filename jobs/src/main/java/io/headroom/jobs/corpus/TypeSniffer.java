package io.headroom.jobs.corpus;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.tika.metadata.Metadata;
import org.apache.tika.mime.MediaType;
import org.apache.tika.mime.MimeTypes;

/**
 * What a file is, from its bytes only (Apache Tika's magic, never the name or the client's
 * header): a document Headroom reads, an archive to open, or something refused. Office Open XML
 * documents are zip containers; they are told from plain zip archives by their part names.
 */
public final class TypeSniffer {

    /** What to do with a file. */
    public enum Kind { DOCUMENT, ZIP, TAR, GZIP }

    /** A sniffed file: its media type and what it is for the upload. */
    public record Sniffed(String mediaType, Kind kind) {
    }

    static final String DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    static final String PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
    static final String XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    private static final Set<String> DOCUMENTS = Set.of("application/pdf", "application/xhtml+xml", DOCX, PPTX, XLSX);

    private final MimeTypes types = MimeTypes.getDefaultMimeTypes();

    /** Sniffs {@code file}, or refuses it (415) naming what it appears to be. */
    public Sniffed sniff(Path file) {
        MediaType detected;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
            detected = types.detect(in, new Metadata());
        } catch (IOException e) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "file", "the file could not be read");
        }
        String type = detected.getBaseType().toString();
        switch (type) {
            case "application/zip", "application/x-tika-ooxml" -> {
                return zipContainer(file);
            }
            case "application/x-tar", "application/x-gtar" -> {
                return new Sniffed("application/x-tar", Kind.TAR);
            }
            case "application/gzip", "application/x-gzip" -> {
                return new Sniffed("application/gzip", Kind.GZIP);
            }
            default -> {
                if (type.startsWith("text/") || DOCUMENTS.contains(type)) {
                    return new Sniffed(type, Kind.DOCUMENT);
                }
                throw new UploadRefusedException(UploadRefusedException.Kind.UNSUPPORTED_TYPE, "file_type",
                        "the file's content is " + type + ", which Headroom does not read; send PDF, DOCX, PPTX, "
                                + "XLSX, HTML, Markdown, plain text or source code, or zip or tar(.gz) archives of "
                                + "them");
            }
        }
    }

    private static Sniffed zipContainer(Path file) {
        boolean contentTypes = false;
        String office = null;
        try (ZipFile zip = new ZipFile(file.toFile())) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            int seen = 0;
            while (entries.hasMoreElements() && seen++ < 10_000) {
                String name = entries.nextElement().getName();
                if (name.equals("[Content_Types].xml")) {
                    contentTypes = true;
                } else if (name.startsWith("word/document")) {
                    office = DOCX;
                } else if (name.startsWith("ppt/presentation")) {
                    office = PPTX;
                } else if (name.startsWith("xl/workbook")) {
                    office = XLSX;
                }
            }
        } catch (IOException e) {
            throw new UploadRefusedException(UploadRefusedException.Kind.INVALID, "archive",
                    "the file looks like a zip archive but cannot be read as one");
        }
        return contentTypes && office != null ? new Sniffed(office, Kind.DOCUMENT)
                : new Sniffed("application/zip", Kind.ZIP);
    }
}
