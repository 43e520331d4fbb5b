package io.headroom.service.config;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/** Prints where the service listens once it is ready. */
@Component
class ReadyBanner {

    private static final Logger LOG = LoggerFactory.getLogger(ReadyBanner.class);

    private final EngineProperties engine;

    ReadyBanner(EngineProperties engine) {
        this.engine = engine;
    }

    @EventListener
    void ready(ApplicationReadyEvent event) {
        int port = event.getApplicationContext() instanceof WebServerApplicationContext web
                ? web.getWebServer().getPort() : -1;
        LOG.info("Headroom is ready at http://localhost:{}/v1 (model {}, OpenAPI at /v3/api-docs)", port,
                engine.modelName());
    }
}
