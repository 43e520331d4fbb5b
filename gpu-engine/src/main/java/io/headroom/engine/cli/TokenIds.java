package io.headroom.engine.cli;

import java.util.Arrays;

/** Parses token id lists such as {@code 1,2,3}. */
final class TokenIds {

    private TokenIds() {
    }

    static int[] parse(String text) {
        if (text.isBlank()) {
            throw new IllegalArgumentException("--tokens is empty: give ids like 1,2,3");
        }
        try {
            return Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--tokens must be comma-separated integers like 1,2,3, got '"
                    + text + "'", e);
        }
    }
}
