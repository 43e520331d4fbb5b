package io.headroom.engine.duo.identify;

import io.headroom.engine.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic multi-passkey samples for identification: a haystack of about a sampled number of
 * tokens with several needles "the secret code of <colour> is <5 digits>." at spread depths, then a
 * question and its answer for each needle. The loss is taken on the question-and-answer tail.
 * The haystack comes from the user's text (sentences drawn in order from a random start, wrapping)
 * or, without one, from generated sentences.
 */
public final class PasskeySampler {

    static final String[] COLOURS = {"red", "blue", "green", "yellow", "purple", "orange", "black", "white",
        "silver", "golden", "brown", "pink"};

    /** Token ids of one sample and where its question-and-answer tail starts. */
    public record Sample(int[] tokens, int tailStart) {
    }

    private final TextTokenizer tokenizer;
    private final List<String> sentences;
    private final int[] sentenceTokens;
    private final int needles;

    public PasskeySampler(TextTokenizer tokenizer, String haystack, int needles, long seed) {
        if (needles < 1 || needles > COLOURS.length) {
            throw new IllegalArgumentException("needles must be in [1, " + COLOURS.length + "], got " + needles);
        }
        this.tokenizer = tokenizer;
        this.needles = needles;
        this.sentences = haystack != null ? split(haystack) : generated(new SplittableRandom(seed), 2000);
        if (sentences.isEmpty()) {
            throw new IllegalArgumentException("the haystack text holds no sentences");
        }
        this.sentenceTokens = new int[sentences.size()];
        for (int i = 0; i < sentences.size(); i++) {
            sentenceTokens[i] = tokenizer.encode(" " + sentences.get(i), false).length;
        }
    }

    static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        for (String s : text.replace('\n', ' ').split("(?<=[.!?])\\s+")) {
            if (!s.isBlank() && !s.matches(".*\\d.*")) { // digits in the haystack would blur the passkeys
                out.add(s.strip());
            }
        }
        return out;
    }

    static List<String> generated(SplittableRandom r, int count) {
        String[] words = ("the a of and river stone market garden letter window morning evening harbour lantern "
                + "quiet bright old narrow road field north south summer winter bridge tower bell cloud").split(" ");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 5 + r.nextInt(9);
            for (int w = 0; w < n; w++) {
                sb.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
            }
            out.add(sb.append('.').toString());
        }
        return out;
    }

    /** A sample with a haystack of about {@code haystackTokens} tokens. */
    public Sample sample(SplittableRandom r, int haystackTokens) {
        List<String> parts = new ArrayList<>();
        int count = 0;
        int at = r.nextInt(sentences.size());
        while (count < haystackTokens) {
            parts.add(sentences.get(at));
            count += sentenceTokens[at];
            at = (at + 1) % sentences.size();
        }
        List<String> colours = new ArrayList<>(List.of(COLOURS));
        StringBuilder tail = new StringBuilder();
        for (int n = 0; n < needles; n++) {
            String colour = colours.remove(r.nextInt(colours.size()));
            StringBuilder code = new StringBuilder();
            for (int d = 0; d < 5; d++) {
                code.append((char) ('0' + r.nextInt(10)));
            }
            double depth = (n + 0.2 + 0.6 * r.nextDouble()) / needles; // spread over the haystack
            parts.add(Math.min(parts.size(), (int) Math.round(depth * parts.size())),
                    "the secret code of " + colour + " is " + code + ".");
            tail.append(" what is the secret code of ").append(colour).append("? the secret code of ").append(colour)
                    .append(" is ").append(code).append('.');
        }
        int[] head = tokenizer.encode(String.join(" ", parts), true);
        int[] rest = tokenizer.encode(tail.toString(), false);
        int[] all = java.util.Arrays.copyOf(head, head.length + rest.length);
        System.arraycopy(rest, 0, all, head.length, rest.length);
        return new Sample(all, head.length);
    }
}
