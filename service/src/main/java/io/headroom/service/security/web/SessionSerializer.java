package io.headroom.service.security.web;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;

/**
 * Java serialisation of what the web tier keeps per browser session (the security context, the
 * user's tokens, the CSRF token), read back through an allow-list: only JDK, Spring Security,
 * Nimbus and JSON-smart classes, bounded in depth and size. A row that does not pass (written by
 * another version, or tampered with) reads as no session: the user signs in again.
 */
final class SessionSerializer {

    private static final ObjectInputFilter FILTER = ObjectInputFilter.Config.createFilter(
            "maxdepth=40;maxrefs=100000;maxbytes=4000000;"
                    + "java.base/*;org.springframework.security.**;org.springframework.util.*;"
                    + "com.nimbusds.**;net.minidev.json.*;io.headroom.service.**;!*");

    private SessionSerializer() {
    }

    static byte[] write(Serializable value) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialise a web session", e);
        }
        return bytes.toByteArray();
    }

    /** The object, or null when it cannot be read (unknown class, other version, damage). */
    static Object read(byte[] data) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data))) {
            in.setObjectInputFilter(FILTER);
            return in.readObject();
        } catch (IOException | ClassNotFoundException | RuntimeException e) {
            return null; // InvalidClassException included: a class the filter refuses, or another version's
        }
    }
}
