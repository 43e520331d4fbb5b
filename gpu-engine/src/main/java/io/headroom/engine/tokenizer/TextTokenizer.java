package io.headroom.engine.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's binding of the tokenizers library. Special
 * tokens (BOS and the like) are added exactly as the tokenizer's post-processor says; truncation
 * and padding are off, so long contexts are never cut.
 */
public final class TextTokenizer implements AutoCloseable {

    public static final String FILE = "tokenizer.json";

    private final HuggingFaceTokenizer tokenizer;

    private TextTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    public static TextTokenizer load(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException("no " + FILE + " in " + modelDir);
        }
        // DJL picks a CUDA build of the tokenizers library when it sees a GPU and, not finding one in
        // its jar, tries to download it (no network on GPU nodes). Tokenising is CPU work: use the
        // bundled CPU build unless the operator chose otherwise.
        if (System.getenv("RUST_FLAVOR") == null && System.getProperty("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
        try {
            // Path-based loading also reads tokenizer_config.json; load only tokenizer.json so what it
            // says (post-processor, normaliser) is the whole truth, as in transformers.
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optTruncation(false)
                    .optPadding(false)
                    .optAddSpecialTokens(true)
                    .build();
            return new TextTokenizer(t);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException("cannot load tokenizer " + file + ": " + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text}; with {@code addSpecialTokens} the post-processor's tokens (e.g. BOS). */
    public int[] encode(String text, boolean addSpecialTokens) {
        Encoding e = tokenizer.encode(text, addSpecialTokens, false);
        long[] ids = e.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** Text of {@code ids}; special tokens are dropped when {@code skipSpecialTokens}. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecialTokens);
    }

    /** A decoder that turns a stream of token ids into text without broken characters. */
    public StreamingDetokenizer streamingDecoder() {
        return new StreamingDetokenizer(this);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
