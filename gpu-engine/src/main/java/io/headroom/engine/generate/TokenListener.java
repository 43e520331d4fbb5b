package io.headroom.engine.generate;

/** Receives generated output as it is produced. */
@FunctionalInterface
public interface TokenListener {

    /**
     * Called once per generated token. {@code text} is the newly completed text (possibly empty while
     * a multi-byte character or a possible stop string is held back); it never contains a broken
     * character and never contains a stop string. Text still held back when generation ends is
     * delivered in one last call with {@code tokenId == -1}.
     */
    void onToken(int tokenId, String text);

    TokenListener NONE = (id, text) -> { };
}
