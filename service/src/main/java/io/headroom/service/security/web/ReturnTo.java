package io.headroom.service.security.web;

/**
 * Where a browser may be sent after signing in: a path on this site only. Anything that a browser
 * could read as another origin ({@code https://evil.example}, {@code //evil.example},
 * {@code /\evil.example}, a scheme, control characters) is refused, so the login cannot be used as
 * an open redirect.
 */
final class ReturnTo {

    static final int MAX_LENGTH = 2048;

    private ReturnTo() {
    }

    static boolean valid(String path) {
        if (path == null || path.isEmpty() || path.length() > MAX_LENGTH || path.charAt(0) != '/') {
            return false;
        }
        if (path.length() > 1 && (path.charAt(1) == '/' || path.charAt(1) == '\\')) {
            return false;
        }
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c < 0x21 || c == 0x7f || c == '\\') {
                return false;
            }
        }
        return true;
    }
}
