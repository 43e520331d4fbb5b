package io.headroom.engine.generate;

import java.util.List;

/**
 * Finds stop strings in streamed text. Text that could still turn into a stop string is held back
 * until it cannot, so a listener never sees any part of a stop string.
 */
final class StopStringMatcher {

    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private boolean matched;

    StopStringMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Adds newly decoded text; returns what may be emitted now. */
    String accept(String piece) {
        if (matched) {
            return "";
        }
        text.append(piece);
        int firstMatch = -1;
        int longest = stops.stream().mapToInt(String::length).max().orElse(0);
        int searchFrom = Math.max(0, emitted - longest);
        for (String s : stops) {
            int at = text.indexOf(s, searchFrom);
            if (at >= 0 && (firstMatch < 0 || at < firstMatch)) {
                firstMatch = at;
            }
        }
        if (firstMatch >= 0) {
            matched = true;
            text.setLength(firstMatch);
            return release(Math.max(emitted, firstMatch));
        }
        return release(text.length() - heldBack());
    }

    /** Emits whatever is held back (generation ended without a match). */
    String finish() {
        return matched ? "" : release(text.length());
    }

    boolean matched() {
        return matched;
    }

    /** The text so far (cut before the stop string once matched). */
    String text() {
        return text.toString();
    }

    private String release(int upTo) {
        if (upTo <= emitted) {
            return "";
        }
        String s = text.substring(emitted, upTo);
        emitted = upTo;
        return s;
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldBack() {
        int best = 0;
        String t = text.toString();
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, t.length() - emitted); k > best; k--) {
                if (t.regionMatches(t.length() - k, s, 0, k)) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }
}
