package io.headroom.service.api;

import io.headroom.service.config.SessionProperties;
import org.springframework.stereotype.Component;

/**
 * Who the caller is. Until SSO is configured every request acts as the configured default user;
 * every query already filters by this owner, so authentication changes no schema or query.
 */
@Component
public class CurrentUser {

    private final String defaultOwner;

    public CurrentUser(SessionProperties properties) {
        this.defaultOwner = properties.defaultOwner();
    }

    public String owner() {
        return defaultOwner;
    }
}
