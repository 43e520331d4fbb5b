package io.headroom.sessions.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Directories and files that hold users' data (KV spills, snapshots, uploads): the service's alone,
 * 0700 and 0600 where the file system has POSIX permissions.
 */
public final class PrivateFiles {

    private PrivateFiles() {
    }

    /** Creates {@code dir} (and its parents) and makes it the service's alone; returns it. */
    public static Path directory(Path dir) throws IOException {
        Files.createDirectories(dir);
        if (posix(dir)) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
        return dir;
    }

    /** Attributes that make a file created in {@code dir} the service's alone. */
    public static FileAttribute<?>[] fileAttributes(Path dir) throws IOException {
        return posix(dir) ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rw-------"))} : new FileAttribute<?>[0];
    }

    private static boolean posix(Path path) throws IOException {
        return Files.getFileStore(path).supportsFileAttributeView(PosixFileAttributeView.class);
    }
}
