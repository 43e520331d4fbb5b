package io.headroom.service.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.headroom.jobs.corpus.UploadRefusedException;
import io.headroom.sessions.QuotaExceededException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.security.authentication.AuthenticationServiceException;

class ApiErrorsTests {

    @Test
    void anIdentityProviderThatDoesNotAnswerShouldBeA503WithRetryAfterNotA500() {
        ApiException a = ApiErrors.classify(new AuthenticationServiceException("Couldn't retrieve remote JWK set",
                new java.io.IOException("connection refused")));
        assertThat(a.status()).isEqualTo(HttpStatus.SERVICE_UNAVAILABLE);
        assertThat(a.code()).isEqualTo("identity_provider_unavailable");
        assertThat(a.retryAfter()).isPositive();
        assertThat(a.getMessage()).doesNotContain("JWK", "connection refused");
    }

    @Test
    void quotasAndUploadRefusalsShouldNameWhatWasHit() {
        ApiException q = ApiErrors.classify(new QuotaExceededException("sessions", "too many", Duration.ofMinutes(1)));
        assertThat(q.status()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
        assertThat(q.param()).isEqualTo("sessions");
        assertThat(q.retryAfter()).isEqualTo(Duration.ofMinutes(1));
        for (var kind : UploadRefusedException.Kind.values()) {
            ApiException u = ApiErrors.classify(new UploadRefusedException(kind, "max_file_size", "refused"));
            assertThat(u.param()).isEqualTo("max_file_size");
            assertThat(u.status().is4xxClientError()).isTrue();
        }
    }
}
