package io.headroom.sessions.kv;

import io.headroom.engine.KvCache;
import io.headroom.engine.LoadedModel;
import io.headroom.engine.duo.DuoLayout;
import io.headroom.engine.kv.KvStateCodec;
import io.headroom.engine.kv.RetrievalBlock;
import io.headroom.engine.kv.SequenceKv;
import io.headroom.sessions.files.PrivateFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.function.Function;

/**
 * Retrieval-KV blocks in files (session spills, corpus snapshots and their checkpoints): written
 * whole or not at all, read back through a memory mapping and verified before use.
 */
public final class KvFiles {

    private KvFiles() {
    }

    /**
     * Maps {@code file}, opens it as a block ({@link RetrievalBlock#open} checks it: an
     * {@link IllegalArgumentException} says what is wrong) and hands it to {@code use}; the mapping
     * is released when {@code use} returns, so {@code use} must copy what it keeps. The mapping may
     * be read from any thread while {@code use} runs.
     */
    public static <T> T read(Path file, DuoLayout layout, int headDim, Function<RetrievalBlock, T> use)
            throws IOException {
        try (Arena mapping = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return use.apply(RetrievalBlock.open(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), mapping),
                    layout, headDim));
        }
    }

    /**
     * The engine's cache for a block file and the streaming state stored with it, both holding
     * {@code tokens} tokens; null when either holds another count (a stale file).
     */
    public static KvCache load(Path file, byte[] streaming, int tokens, DuoLayout layout, LoadedModel model)
            throws IOException {
        SequenceKv state = KvStateCodec.importStreaming(streaming, layout, model.config().headDim(),
                model.options().kvPageTokens(), model.config().maxPositions());
        return read(file, layout, model.config().headDim(), block -> block.tokens() == tokens
                && state.length() == tokens ? model.model().fromHost(state, block) : null);
    }

    /**
     * Writes {@code block} (sealing it) to {@code target}: to a {@code .tmp} sibling first, forced to
     * disk, then moved into place, so a crash leaves the old file or the new one, never a part.
     */
    public static void write(RetrievalBlock block, Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING), PrivateFiles.fileAttributes(target.getParent()))) {
            block.writeTo(ch);
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
