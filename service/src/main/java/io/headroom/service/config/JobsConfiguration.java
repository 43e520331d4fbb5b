package io.headroom.service.config;

import io.headroom.jobs.corpus.BlobStore;
import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.jobs.corpus.CorpusUploads;
import io.headroom.jobs.extract.DocumentTexts;
import io.headroom.jobs.extract.Extractor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.transaction.support.TransactionTemplate;

/** The jobs module's parts, from {@code headroom.jobs.*}. */
@Configuration(proxyBeanMethods = false)
public class JobsConfiguration {

    @Bean
    BlobStore blobStore(JobsProperties p) {
        return new BlobStore(p.dataDirectoryOrDefault());
    }

    @Bean
    CorpusStore corpusStore(JdbcClient jdbc) {
        return new CorpusStore(jdbc);
    }

    /** The text extractor's child process starts on first use and stops with the service. */
    @Bean(destroyMethod = "close")
    Extractor extractor(JobsProperties p) {
        return new Extractor(p.extraction().limits());
    }

    @Bean
    DocumentTexts documentTexts(BlobStore blobs, Extractor extractor) {
        return new DocumentTexts(blobs, extractor);
    }

    @Bean
    CorpusUploads corpusUploads(CorpusStore store, BlobStore blobs, TransactionTemplate tx) {
        return new CorpusUploads(store, blobs, tx);
    }
}
