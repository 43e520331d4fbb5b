package io.headroom.service;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * When a test fails because something timed out (a request that got no response, a blocked
 * future), prints every thread's stack with the locks it holds and waits for to stderr, which the
 * failsafe report keeps, so a rare hang in CI shows where the server waited.
 */
public final class ThreadDumpOnTimeout implements TestExecutionExceptionHandler {

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable thrown) throws Throwable {
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException) {
                System.err.println(dump(context.getDisplayName()));
                break;
            }
        }
        throw thrown;
    }

    static String dump(String test) {
        StringBuilder out = new StringBuilder(test).append(" timed out; threads:\n");
        for (ThreadInfo info : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
            // ThreadInfo.toString stops after eight frames: print the whole stack
            out.append('"').append(info.getThreadName()).append("\" ").append(info.getThreadState());
            if (info.getLockName() != null) {
                out.append(" on ").append(info.getLockName());
            }
            if (info.getLockOwnerName() != null) {
                out.append(" owned by \"").append(info.getLockOwnerName()).append('"');
            }
            out.append('\n');
            for (StackTraceElement frame : info.getStackTrace()) {
                out.append("    at ").append(frame).append('\n');
            }
            for (var monitor : info.getLockedMonitors()) {
                out.append("    holds ").append(monitor).append(" (taken at ").append(monitor.getLockedStackFrame())
                        .append(")\n");
            }
            for (var sync : info.getLockedSynchronizers()) {
                out.append("    holds ").append(sync).append('\n');
            }
        }
        return out.toString();
    }
}
