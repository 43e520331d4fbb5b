package io.headroom.engine.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Stop strings across token boundaries, never leaked to the listener. */
class StopStringMatcherTests {

    @Test
    void stopStringSplitOverPiecesShouldBeHeldBackAndCut() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        StringBuilder emitted = new StringBuilder();
        emitted.append(m.accept("hello E"));
        assertThat(emitted.toString()).isEqualTo("hello ");
        emitted.append(m.accept("N"));
        assertThat(m.matched()).isFalse();
        emitted.append(m.accept("D and more"));
        assertThat(m.matched()).isTrue();
        assertThat(emitted.toString()).isEqualTo("hello ");
        assertThat(m.text()).isEqualTo("hello ");
    }

    @Test
    void falseStartShouldBeReleasedOnceItCannotMatch() {
        StopStringMatcher m = new StopStringMatcher(List.of("###"));
        assertThat(m.accept("a#")).isEqualTo("a");
        assertThat(m.accept("#b")).isEqualTo("##b");
        assertThat(m.accept("#")).isEmpty();
        assertThat(m.finish()).isEqualTo("#");
        assertThat(m.text()).isEqualTo("a##b#");
    }

    @Test
    void earliestOfSeveralStopStringsShouldWin() {
        StopStringMatcher m = new StopStringMatcher(List.of("world", "lo"));
        assertThat(m.accept("hello world")).isEqualTo("hel");
        assertThat(m.text()).isEqualTo("hel");
    }

    @Test
    void withoutStopStringsEverythingPassesThrough() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertThat(m.accept("abc")).isEqualTo("abc");
        assertThat(m.finish()).isEmpty();
    }
}
