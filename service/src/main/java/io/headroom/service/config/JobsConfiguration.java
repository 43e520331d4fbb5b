package io.headroom.service.config;

import io.headroom.jobs.corpus.BlobStore;
import io.headroom.jobs.corpus.CorpusStore;
import io.headroom.engine.LoadedModel;
import io.headroom.jobs.corpus.CorpusUploads;
import io.headroom.jobs.ingest.CorpusDocuments;
import io.headroom.jobs.ingest.CorpusIngestion;
import io.headroom.jobs.batch.BatchJobs;
import io.headroom.jobs.batch.BatchRun;
import io.headroom.jobs.batch.Batches;
import io.headroom.jobs.batch.OpenAiFiles;
import io.headroom.jobs.ingest.Ingestions;
import io.headroom.service.batch.OpenAiBatchRequests;
import io.headroom.service.corpora.CorpusSessions;
import tools.jackson.databind.json.JsonMapper;
import io.headroom.jobs.ingest.SnapshotPersist;
import io.headroom.jobs.ingest.SnapshotPrefill;
import io.headroom.sessions.SessionEngine;
import io.headroom.sessions.corpus.CorpusSnapshots;
import org.springframework.batch.core.job.Job;
import org.springframework.batch.core.launch.JobOperator;
import org.springframework.batch.core.repository.JobRepository;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.transaction.PlatformTransactionManager;
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
    CorpusDocuments corpusDocuments(JdbcClient jdbc) {
        return new CorpusDocuments(jdbc);
    }

    @Bean
    CorpusSnapshots corpusSnapshots(JdbcClient jdbc, JobsProperties p) {
        return new CorpusSnapshots(jdbc, p.snapshotDirectory());
    }

    /** Snapshots are built at the configured sparsity, else 0.5 where a pattern is loaded, else full attention. */
    @Bean
    SnapshotPrefill snapshotPrefill(SessionEngine engine, CorpusSnapshots snapshots, CorpusDocuments documents,
            DocumentTexts texts, JobsProperties p) {
        Double sparsity = p.snapshot().sparsity() != null ? p.snapshot().sparsity()
                : engine.hasPattern() ? Double.valueOf(0.5) : null;
        return new SnapshotPrefill(engine, snapshots, documents, texts, sparsity, p.snapshot().checkpointInterval());
    }

    /** The ingestion job, reading with the served model's tokenizer up to its context, then prefilling. */
    @Bean
    Job corpusIngestionJob(JobRepository jobs, PlatformTransactionManager tx, CorpusDocuments documents,
            DocumentTexts texts, LoadedModel model, SessionEngine engine, CorpusSnapshots snapshots,
            SnapshotPrefill prefill) {
        return CorpusIngestion.job(jobs, tx, documents, texts, text -> model.tokenizer().encode(text, false),
                model.config().maxPositions(), prefill, new SnapshotPersist(engine, snapshots, prefill.sparsity()));
    }

    @Bean(destroyMethod = "close")
    Ingestions ingestions(JobOperator operator, JobRepository jobs, Job corpusIngestionJob, CorpusStore corpora,
            CorpusDocuments documents, JdbcClient jdbc, SnapshotPrefill prefill, CorpusSnapshots snapshots) {
        return new Ingestions(operator, jobs, corpusIngestionJob, corpora, documents, jdbc, prefill, snapshots);
    }

    /** Ingestions a crash cut off go on once the service is up. */
    @Bean
    ApplicationListener<ApplicationReadyEvent> resumeIngestions(Ingestions ingestions) {
        return event -> ingestions.resumeInterrupted();
    }

    @Bean
    OpenAiFiles openAiFiles(JdbcClient jdbc, JobsProperties p) {
        return new OpenAiFiles(jdbc, p.filesDirectory());
    }

    @Bean
    Batches batches(JdbcClient jdbc) {
        return new Batches(jdbc);
    }

    @Bean
    Job openAiBatchJob(JobRepository jobs, PlatformTransactionManager tx, Batches batches, OpenAiFiles files,
            SessionEngine engine, EngineProperties limits, CorpusSessions corpora, JsonMapper json, JobsProperties p) {
        return BatchRun.job(jobs, tx, batches, files, new OpenAiBatchRequests(engine, limits, corpora, json),
                p.batches().maxRequests());
    }

    @Bean(destroyMethod = "close")
    BatchJobs batchJobs(JobOperator operator, JobRepository jobs, Job openAiBatchJob, Batches batches) {
        return new BatchJobs(operator, jobs, openAiBatchJob, batches);
    }

    /** Batches a crash cut off go on once the service is up. */
    @Bean
    ApplicationListener<ApplicationReadyEvent> resumeBatches(BatchJobs batchJobs) {
        return event -> batchJobs.resumeInterrupted();
    }

    @Bean
    CorpusUploads corpusUploads(CorpusStore store, BlobStore blobs, TransactionTemplate tx) {
        return new CorpusUploads(store, blobs, tx);
    }
}
