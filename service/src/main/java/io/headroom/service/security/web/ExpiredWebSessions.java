package io.headroom.service.security.web;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/** Deletes browser sessions past their idle time (reads never return them; this keeps the table small). */
@Component
class ExpiredWebSessions {

    private static final Logger LOG = LoggerFactory.getLogger(ExpiredWebSessions.class);

    private final PostgresWebSessionStore store;

    ExpiredWebSessions(PostgresWebSessionStore store) {
        this.store = store;
    }

    @Scheduled(fixedDelayString = "PT5M", initialDelayString = "PT1M")
    void delete() {
        int n = store.deleteExpired();
        if (n > 0) {
            LOG.debug("deleted {} expired browser session(s)", n);
        }
    }
}
