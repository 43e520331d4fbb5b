package io.headroom.service.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** Dependencies point one way: service → jobs → session-cache → gpu-engine (ARCHITECTURE.md). */
class ModuleDependencyRulesTests {

    static final JavaClasses CLASSES = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.headroom");

    @Test
    void sessionCacheShouldNotDependOnTheService() {
        noClasses().that().resideInAPackage("io.headroom.sessions..")
                .should().dependOnClassesThat().resideInAPackage("io.headroom.service..").check(CLASSES);
    }

    @Test
    void jobsShouldNotDependOnTheService() {
        noClasses().that().resideInAPackage("io.headroom.jobs..")
                .should().dependOnClassesThat().resideInAPackage("io.headroom.service..").check(CLASSES);
    }

    @Test
    void sessionCacheShouldNotDependOnJobs() {
        noClasses().that().resideInAPackage("io.headroom.sessions..")
                .should().dependOnClassesThat().resideInAPackage("io.headroom.jobs..").check(CLASSES);
    }

    @Test
    void engineShouldNotDependOnSessionsOrService() {
        noClasses().that().resideInAPackage("io.headroom.engine..")
                .should().dependOnClassesThat().resideInAnyPackage("io.headroom.sessions..", "io.headroom.service..",
                        "org.springframework..")
                .check(CLASSES);
    }
}
