package io.headroom.service.config;

import io.headroom.sessions.store.SessionStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.stereotype.Component;

/**
 * At start-up, before the web server takes requests: turns a crash cut off are committed as what a
 * cancelled turn leaves (the user message and the answer as last saved, finish reason
 * {@code cancelled}), so an interrupted turn has the same outcome whether the client went away or
 * the service died.
 */
@Component
class InterruptedTurnRecovery implements SmartInitializingSingleton {

    private static final Logger LOG = LoggerFactory.getLogger(InterruptedTurnRecovery.class);

    private final SessionStore store;

    InterruptedTurnRecovery(SessionStore store) {
        this.store = store;
    }

    @Override
    public void afterSingletonsInstantiated() {
        int n = store.recoverInterruptedTurns();
        if (n > 0) {
            LOG.warn("{} turn(s) cut off by the previous instance's end were kept as cancelled answers", n);
        }
    }
}
