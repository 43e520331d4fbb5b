package io.headroom.service;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;
import org.springframework.boot.persistence.autoconfigure.EntityScan;
import org.springframework.data.jpa.repository.config.EnableJpaRepositories;
import org.springframework.scheduling.annotation.EnableScheduling;

/** The Headroom service: session API, OpenAI-compatible API, over the DuoAttention engine. */
@SpringBootApplication(scanBasePackages = "io.headroom")
@ConfigurationPropertiesScan("io.headroom.service")
@EnableJpaRepositories(basePackages = "io.headroom.sessions")
@EntityScan(basePackages = "io.headroom.sessions")
@EnableScheduling
public class HeadroomApplication {

    public static void main(String[] args) {
        SpringApplication.run(HeadroomApplication.class, args);
    }
}
