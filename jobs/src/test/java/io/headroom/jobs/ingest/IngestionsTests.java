package io.headroom.jobs.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class IngestionsTests {

    @Test
    void aFailedStepsReasonShouldBeItsMessageWithoutTheExceptionsClassOrStack() {
        String description = "io.headroom.jobs.ingest.CorpusIngestion$CorpusTooLargeException: the corpus reads as "
                + "4381 tokens; the model holds 2048 (2333 too many)\n\tat io.headroom.jobs.ingest.X.y(X.java:1)";
        assertThat(Ingestions.reason(description))
                .isEqualTo("the corpus reads as 4381 tokens; the model holds 2048 (2333 too many)");
        assertThat(Ingestions.reason(null)).isEqualTo("the ingestion failed");
        assertThat(Ingestions.reason("")).isEqualTo("the ingestion failed");
    }
}
