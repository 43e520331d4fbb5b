package io.headroom.engine.cli;

import io.headroom.engine.duo.AttentionPattern;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.model.ModelConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * DuoAttention flags: {@code --pattern DIR (--sparsity X | --threshold T) [--sink S --recent R]},
 * {@code --streaming-only}, and {@code --random-heads SEED} (a random selection at --sparsity, the
 * baseline a pattern must beat). Sink and recent default to the pattern's config.json.
 */
final class DuoOptions {

    @Option(names = "--pattern", paramLabel = "DIR",
            description = "DuoAttention pattern directory (full_attention_heads.tsv + config.json)")
    Path pattern;

    @Option(names = "--sparsity", paramLabel = "X", description = "fraction of KV heads made streaming, in [0, 1]")
    Double sparsity;

    @Option(names = "--threshold", paramLabel = "T", description = "heads with a gate >= T are retrieval heads")
    Double threshold;

    @Option(names = "--sink", paramLabel = "S", description = "attention-sink positions of streaming heads")
    Integer sink;

    @Option(names = "--recent", paramLabel = "R", description = "recent-window positions of streaming heads")
    Integer recent;

    @Option(names = "--streaming-only", description = "make every head a streaming head")
    boolean streamingOnly;

    @Option(names = "--random-heads", paramLabel = "SEED",
            description = "choose the streaming heads at random (with this seed) at --sparsity")
    Long randomHeads;

    /** The layout these flags describe; full attention when none is given. */
    DuoLayout layout(ModelConfig config) {
        int layers = config.numLayers();
        int heads = config.numKvHeads();
        int modes = (pattern != null ? 1 : 0) + (streamingOnly ? 1 : 0) + (randomHeads != null ? 1 : 0);
        if (modes > 1) {
            throw new IllegalArgumentException("choose one of --pattern, --streaming-only and --random-heads");
        }
        AttentionPattern p = pattern != null ? AttentionPattern.load(pattern) : null;
        if (p != null) {
            p.checkFits(layers, heads);
        }
        if (modes == 0) {
            if (sparsity != null || threshold != null || sink != null || recent != null) {
                throw new IllegalArgumentException("--sparsity, --threshold, --sink and --recent need --pattern, "
                        + "--streaming-only or --random-heads");
            }
            return DuoLayout.full(layers, heads);
        }
        int s = sink != null ? sink : p != null && p.sinkSize() != null ? p.sinkSize() : -1;
        int r = recent != null ? recent : p != null && p.recentSize() != null ? p.recentSize() : -1;
        if (s < 0 || r < 1) {
            throw new IllegalArgumentException("streaming heads need --sink and --recent"
                    + (p != null ? " (the pattern's config.json has no sink_size/recent_size)" : ""));
        }
        if (streamingOnly) {
            if (sparsity != null || threshold != null) {
                throw new IllegalArgumentException("--streaming-only takes no --sparsity or --threshold");
            }
            return DuoLayout.streamingOnly(layers, heads, s, r);
        }
        if (randomHeads != null) {
            if (sparsity == null || threshold != null) {
                throw new IllegalArgumentException("--random-heads needs --sparsity (and no --threshold)");
            }
            return DuoLayout.random(layers, heads, sparsity, randomHeads, s, r);
        }
        if ((sparsity == null) == (threshold == null)) {
            throw new IllegalArgumentException("--pattern needs exactly one of --sparsity and --threshold");
        }
        return new DuoLayout(sparsity != null ? p.retrievalBySparsity(sparsity) : p.retrievalByThreshold(threshold),
                s, r);
    }
}
