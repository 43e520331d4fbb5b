package io.headroom.engine.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * gpu-engine stays a library anyone can embed: no Spring, JPA, servlet or web imports (see
 * ARCHITECTURE.md, "Dependencies point one way only").
 */
class EngineDependencyRulesTests {

    static final JavaClasses ENGINE = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.headroom.engine");

    @Test
    void engineShouldNotDependOnSpringJpaOrWebFrameworks() {
        noClasses().that().resideInAPackage("io.headroom.engine..")
                .should().dependOnClassesThat().resideInAnyPackage("org.springframework..", "jakarta.persistence..",
                        "jakarta.servlet..", "javax.persistence..", "reactor..", "org.hibernate..")
                .check(ENGINE);
    }

    @Test
    void engineShouldNotDependOnTheModulesAboveIt() {
        noClasses().that().resideInAPackage("io.headroom.engine..")
                .should().dependOnClassesThat().resideInAnyPackage("io.headroom.sessions..", "io.headroom.jobs..",
                        "io.headroom.service..")
                .check(ENGINE);
    }
}
