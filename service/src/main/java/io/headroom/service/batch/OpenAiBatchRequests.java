package io.headroom.service.batch;

import io.headroom.engine.generate.TokenListener;
import io.headroom.engine.sched.EngineQueue;
import io.headroom.jobs.batch.BatchRequests;
import io.headroom.jobs.batch.OpenAiFiles;
import io.headroom.service.api.ApiErrors;
import io.headroom.service.api.ApiException;
import io.headroom.service.config.EngineProperties;
import io.headroom.service.corpora.CorpusSessions;
import io.headroom.service.openai.ChatCompletionApi.AssistantMessage;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletion;
import io.headroom.service.openai.ChatCompletionApi.ChatCompletionRequest;
import io.headroom.service.openai.ChatCompletionApi.Choice;
import io.headroom.service.openai.ChatCompletionApi.CompletionUsage;
import io.headroom.service.openai.ChatRequests;
import io.headroom.service.openai.OpenAiController;
import io.headroom.sessions.SessionEngine;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The lines of a chat-completions batch, as OpenAI's Batch API has them: an input line is
 * {@code {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}}; an output
 * line {@code {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}};
 * a request the API refuses is an error line with the refusal's status and envelope as its response,
 * and a line that could not be read has {@code "response": null} and the reason in {@code error}.
 * Each request runs like {@code POST /v1/chat/completions} (the same checks and limits), on the
 * engine's background lane.
 */
public final class OpenAiBatchRequests implements BatchRequests {

    private final SessionEngine engine;
    private final EngineProperties limits;
    private final CorpusSessions corpora;
    private final JsonMapper json;

    public OpenAiBatchRequests(SessionEngine engine, EngineProperties limits, CorpusSessions corpora,
            JsonMapper json) {
        this.engine = engine;
        this.limits = limits;
        this.corpora = corpora;
        this.json = json;
    }

    @Override
    public Line check(int lineNo, String line, String endpoint) {
        JsonNode n;
        try {
            n = json.readTree(line);
        } catch (JacksonException e) {
            return new Line(null, null, "invalid_json", "the line is not JSON");
        }
        if (n == null || !n.isObject()) {
            return new Line(null, null, "invalid_request", "the line must be a JSON object");
        }
        JsonNode id = n.get("custom_id");
        String customId = id != null && id.isString() ? id.asString() : null;
        if (customId == null || customId.isEmpty() || customId.length() > 512) {
            return new Line(null, null, "missing_custom_id", "custom_id must be a string of 1 to 512 characters");
        }
        JsonNode method = n.get("method");
        if (method == null || !"POST".equals(method.asString(null))) {
            return new Line(customId, null, "invalid_method", "method must be POST");
        }
        JsonNode url = n.get("url");
        if (url == null || !endpoint.equals(url.asString(null))) {
            return new Line(customId, null, "mismatched_endpoint", "url must be the batch's endpoint " + endpoint);
        }
        JsonNode body = n.get("body");
        if (body == null || !body.isObject()) {
            return new Line(customId, null, "invalid_body", "body must be a JSON object");
        }
        for (String field : n.propertyNames()) {
            if (!List.of("custom_id", "method", "url", "body").contains(field)) {
                return new Line(customId, null, "invalid_request", "unknown field '" + field + "'");
            }
        }
        return new Line(customId, json.writeValueAsString(body), null, null);
    }

    @Override
    public String errorLine(String customId, String code, String message) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("id", "batch_req_" + OpenAiFiles.randomHex());
        line.put("custom_id", customId);
        line.put("response", null);
        line.put("error", Map.of("code", code, "message", message));
        return json.writeValueAsString(line);
    }

    @Override
    public Outcome run(String owner, UUID corpus, String customId, String body) {
        String requestId = "req_" + OpenAiFiles.randomHex();
        try {
            ChatCompletionRequest request = json.readValue(body, ChatCompletionRequest.class);
            ChatRequests.Parsed p = ChatRequests.parse(request, engine.modelName(), limits);
            if (p.stream()) {
                throw ApiException.invalid("stream is not supported in a batch", "stream");
            }
            if (p.session() != null) {
                throw ApiException.invalid("headroom_session is not supported in a batch", "headroom_session");
            }
            String over = p.corpus() != null ? p.corpus() : corpus == null ? null : corpus.toString();
            TokenListener none = (tokenId, text) -> {
            };
            CompletableFuture<SessionEngine.TurnResult> f = over == null
                    ? engine.complete(owner, p.messages(), p.options(), none, new AtomicBoolean(),
                            EngineQueue.Priority.BACKGROUND)
                    : engine.complete(owner, corpora.readySnapshot(owner, over, "headroom_corpus"), p.messages(),
                            p.options(), none, new AtomicBoolean(), EngineQueue.Priority.BACKGROUND);
            SessionEngine.TurnResult r = f.join();
            int prompt = r.usage().promptTokens() + r.usage().contextTokens();
            ChatCompletion c = new ChatCompletion("chatcmpl-" + OpenAiFiles.randomHex(), "chat.completion",
                    System.currentTimeMillis() / 1000, engine.modelName(), List.of(new Choice(0,
                            new AssistantMessage("assistant", r.text(), null), null,
                            OpenAiController.finish(r.finishReason()))), new CompletionUsage(prompt,
                            r.usage().completionTokens(), prompt + r.usage().completionTokens()), null);
            return new Outcome(true, line(customId, 200, requestId, json.valueToTree(c)));
        } catch (JacksonException e) {
            ApiException a = ApiErrors.classify(e);
            return new Outcome(false, line(customId, a.status().value(), requestId, json.valueToTree(
                    ApiErrors.envelope(a))));
        } catch (RuntimeException e) {
            ApiException a = ApiErrors.classify(e instanceof CompletionException && e.getCause() != null
                    ? e.getCause() : e);
            if (a.status().is5xxServerError() || a.status().value() == 429) {
                throw e; // the service's fault, not the request's: the step fails and the batch resumes later
            }
            return new Outcome(false, line(customId, a.status().value(), requestId, json.valueToTree(
                    ApiErrors.envelope(a))));
        }
    }

    private String line(String customId, int status, String requestId, JsonNode body) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("status_code", status);
        response.put("request_id", requestId);
        response.put("body", body);
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("id", "batch_req_" + OpenAiFiles.randomHex());
        line.put("custom_id", customId);
        line.put("response", response);
        line.put("error", null);
        return json.writeValueAsString(line);
    }
}
