package io.headroom.jobs.batch;

import java.util.UUID;

/**
 * What a batch's lines mean: the wire format of the endpoint a batch runs (OpenAI's chat
 * completions), kept out of the job that runs them.
 */
public interface BatchRequests {

    /** One input line checked: its {@code custom_id} and request body, or why it cannot run. */
    record Line(String customId, String body, String errorCode, String errorMessage) {
        public boolean valid() {
            return errorCode == null;
        }
    }

    /** One request's outcome: a line for the output file ({@code ok}) or for the error file. */
    record Outcome(boolean ok, String jsonLine) {
    }

    /** Checks one line of the input file (1-based {@code lineNo}) for a batch against {@code endpoint}. */
    Line check(int lineNo, String line, String endpoint);

    /** The error file's line for a line that did not pass {@link #check}. */
    String errorLine(String customId, String code, String message);

    /** Runs one request for {@code owner}, over {@code corpus} when not null; a request's own fault is an outcome. */
    Outcome run(String owner, UUID corpus, String customId, String body);
}
