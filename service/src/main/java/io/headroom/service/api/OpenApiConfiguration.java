package io.headroom.service.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.swagger.v3.core.jackson.ModelResolver;
import io.swagger.v3.core.util.Json;
import io.swagger.v3.oas.models.Components;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.info.Info;
import io.swagger.v3.oas.models.media.Content;
import io.swagger.v3.oas.models.media.MediaType;
import io.swagger.v3.oas.models.media.ObjectSchema;
import io.swagger.v3.oas.models.media.Schema;
import io.swagger.v3.oas.models.media.StringSchema;
import io.swagger.v3.oas.models.responses.ApiResponse;
import io.swagger.v3.oas.models.responses.ApiResponses;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.springdoc.core.customizers.OpenApiCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The OpenAPI document at {@code /v3/api-docs} describes the wire as it is: property names in
 * snake_case (the document's model reader is told what the service's JSON mapper does), and every
 * operation under {@code /v1} lists the errors it can answer, each with the error envelope.
 * New endpoints inherit the error responses without anyone writing them.
 */
@Configuration(proxyBeanMethods = false)
public class OpenApiConfiguration {

    /** The operations that queue engine work: they may also answer 409 (session busy) and 429. */
    private static final Set<String> ENGINE_OPERATIONS = Set.of("createTurn", "appendContext",
            "createChatCompletion");

    /** Reads request and response types with the service's naming (swagger-core uses Jackson 2). */
    @Bean
    ModelResolver snakeCaseModelResolver() {
        ObjectMapper mapper = Json.mapper().copy().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
        return new ModelResolver(mapper);
    }

    @Bean
    OpenApiCustomizer errorResponses() {
        return api -> {
            api.info(new Info().title("Headroom API").version("v1").description("Sessions over whole corpora "
                    + "(DuoAttention long-context inference) and an OpenAI-compatible chat completions API. Requests "
                    + "are read strictly: unknown fields and wrong JSON types are 400s naming the field."));
            if (api.getComponents() == null) {
                api.setComponents(new Components());
            }
            api.getComponents().addSchemas("ErrorEnvelope", envelopeSchema());
            api.getComponents().addSecuritySchemes("bearer", new io.swagger.v3.oas.models.security.SecurityScheme()
                    .type(io.swagger.v3.oas.models.security.SecurityScheme.Type.HTTP).scheme("bearer")
                    .description("an API key (hr_...) or an access token from the identity provider; in local mode "
                            + "none is needed"));
            api.addSecurityItem(new io.swagger.v3.oas.models.security.SecurityRequirement().addList("bearer"));
            if (api.getPaths() == null) {
                return;
            }
            api.getPaths().forEach((path, item) -> {
                if (ApiErrorWebExceptionHandler.isApi(path)) {
                    item.readOperationsMap().forEach((method, op) -> addErrors(method, op));
                }
            });
            closeRequestSchemas(api);
        };
    }

    /**
     * Request bodies are read strictly (an unknown field is a 400): their schemas, and the schemas
     * they reference, say {@code additionalProperties: false}.
     */
    @SuppressWarnings("rawtypes")
    private static void closeRequestSchemas(io.swagger.v3.oas.models.OpenAPI api) {
        Map<String, Schema> schemas = api.getComponents().getSchemas();
        java.util.Deque<String> todo = new java.util.ArrayDeque<>();
        api.getPaths().values().forEach(item -> item.readOperations().forEach(op -> {
            if (op.getRequestBody() != null && op.getRequestBody().getContent() != null) {
                op.getRequestBody().getContent().values().forEach(mt -> refs(mt.getSchema(), todo));
            }
        }));
        Set<String> done = new java.util.HashSet<>();
        while (!todo.isEmpty()) {
            String name = todo.pop();
            Schema<?> schema = schemas == null ? null : schemas.get(name);
            if (schema == null || !done.add(name)) {
                continue;
            }
            if (schema.getProperties() != null) {
                schema.setAdditionalProperties(false);
                schema.getProperties().values().forEach(p -> refs(p, todo));
            }
        }
    }

    private static void refs(Schema<?> schema, java.util.Deque<String> into) {
        if (schema == null) {
            return;
        }
        if (schema.get$ref() != null) {
            into.push(schema.get$ref().substring(schema.get$ref().lastIndexOf('/') + 1));
        }
        refs(schema.getItems(), into);
        if (schema.getOneOf() != null) {
            schema.getOneOf().forEach(s -> refs(s, into));
        }
    }

    private static void addErrors(PathItem.HttpMethod method, Operation op) {
        ApiResponses responses = op.getResponses() == null ? new ApiResponses() : op.getResponses();
        Map<String, String> errors = new LinkedHashMap<>();
        errors.put("400", "the request is not valid (the message names the field)");
        errors.put("401", "no credentials, or credentials that are not valid (WWW-Authenticate says why)");
        errors.put("403", "admin routes for a user who is not an admin; a browser request without its CSRF token; "
                + "an API key creating API keys");
        errors.put("404", "no such object for this caller (another user's object is a 404 too), or no such model");
        if (op.getRequestBody() != null) {
            errors.put("413", "the body or a field is larger than the limit");
            errors.put("415", "the body is not application/json");
        }
        if (ENGINE_OPERATIONS.contains(op.getOperationId())) {
            errors.put("409", "the session is busy with another turn or document");
        }
        if ("createApiKey".equals(op.getOperationId())) {
            errors.put("409", "the caller holds the most API keys allowed");
        }
        if ("uploadCorpusFiles".equals(op.getOperationId())) {
            errors.put("409", "the corpus already has a file at one of the paths");
        }
        errors.put("429", "a quota is used up (param names it), or the engine queue is full; Retry-After says when "
                + "to try again");
        errors.put("500", "internal error (nothing about it is sent)");
        errors.put("503", "credentials could not be checked: the identity provider did not answer (Retry-After)");
        errors.forEach((status, description) -> {
            if (!responses.containsKey(status)) {
                responses.addApiResponse(status, new ApiResponse().description(description)
                        .content(new Content().addMediaType("application/json",
                                new MediaType().schema(new Schema<>().$ref("#/components/schemas/ErrorEnvelope")))));
            }
        });
        // springdoc documents a 200 for every handler; those that answer otherwise say so themselves
        if (responses.containsKey("201") || responses.containsKey("204")) {
            responses.remove("200");
        }
        op.setResponses(responses);
    }

    private static Schema<?> envelopeSchema() {
        Schema<?> error = new ObjectSchema()
                .addProperty("message", new StringSchema().description("what is wrong, in the client's terms"))
                .addProperty("type", new StringSchema()._enum(List.of("invalid_request_error", "rate_limit_error",
                        "server_error")))
                .addProperty("param", new StringSchema().nullable(true).description("the field, when one is at fault"))
                .addProperty("code", new StringSchema().nullable(true).description("a stable machine-readable code"));
        error.setRequired(List.of("message", "type", "param", "code"));
        Schema<?> envelope = new ObjectSchema().addProperty("error", error);
        envelope.setRequired(List.of("error"));
        return envelope;
    }
}
