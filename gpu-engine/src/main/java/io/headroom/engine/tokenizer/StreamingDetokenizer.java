package io.headroom.engine.tokenizer;

import java.util.Arrays;

/**
 * Turns generated token ids into text incrementally. Byte-level tokenizers split multi-byte UTF-8
 * characters across tokens; decoding such a partial sequence yields U+FFFD. The decoder holds text
 * back until the characters are complete, so no piece it returns ever contains a broken character
 * that the full text would not. It re-decodes only a short window (from the last emitted boundary),
 * so the cost per token does not grow with the length of the output.
 */
public final class StreamingDetokenizer {

    private static final char REPLACEMENT = '\uFFFD';

    private final TextTokenizer tokenizer;
    private int[] ids = new int[16];
    private int count;
    private int prefixOffset; // start of the window that is re-decoded
    private int readOffset;   // tokens before this have been emitted

    StreamingDetokenizer(TextTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Adds one token; returns the text that is now complete ("" when it must wait for more). */
    public String push(int tokenId) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = tokenId;
        String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), true);
        String full = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, count), true);
        if (full.length() > prefix.length() && full.charAt(full.length() - 1) != REPLACEMENT) {
            prefixOffset = readOffset;
            readOffset = count;
            return full.substring(prefix.length());
        }
        return "";
    }

    /** Whatever is still held back (at the end of generation), broken characters included. */
    public String flush() {
        String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), true);
        String full = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, count), true);
        prefixOffset = count;
        readOffset = count;
        return full.length() > prefix.length() ? full.substring(prefix.length()) : "";
    }
}
