package io.headroom.service;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The service's own OpenAPI 3.0 document, read the way a generated client reads it: operations by
 * id (path, method, parameters, body schema, documented responses), sample bodies built from the
 * schemas, and a validator for the subset of JSON Schema the document uses ({@code $ref},
 * {@code type}, {@code nullable}, {@code enum}, {@code required}, {@code properties},
 * {@code additionalProperties}, {@code items}, {@code oneOf}, {@code minimum} (and
 * {@code exclusiveMinimum})/{@code maximum},
 * {@code minItems}, {@code minLength}). Tests that drive the API from it break when the document
 * and the wire disagree.
 */
final class OpenApiDocument {

    /** One operation of the document. */
    record Operation(String id, String method, String path, JsonNode node) {

        JsonNode bodySchema() {
            JsonNode s = node.at("/requestBody/content/application~1json/schema");
            return s.isMissingNode() ? null : s;
        }

        JsonNode responseSchema(int status, String mediaType) {
            JsonNode s = node.at("/responses/" + status + "/content/" + mediaType.replace("/", "~1") + "/schema");
            return s.isMissingNode() ? null : s;
        }

        boolean documents(int status) {
            return node.path("responses").has(Integer.toString(status));
        }

        List<JsonNode> parameters(String in) {
            List<JsonNode> out = new ArrayList<>();
            node.path("parameters").forEach(p -> {
                if (in.equals(p.path("in").asString())) {
                    out.add(p);
                }
            });
            return out;
        }
    }

    private final JsonNode doc;
    private final List<Operation> operations = new ArrayList<>();

    OpenApiDocument(JsonNode doc) {
        this.doc = doc;
        for (Map.Entry<String, JsonNode> path : doc.get("paths").properties()) {
            for (Map.Entry<String, JsonNode> op : path.getValue().properties()) {
                operations.add(new Operation(op.getValue().path("operationId").asString(null),
                        op.getKey().toUpperCase(java.util.Locale.ROOT), path.getKey(), op.getValue()));
            }
        }
    }

    List<Operation> operations() {
        return operations;
    }

    Operation operation(String id) {
        return operations.stream().filter(o -> id.equals(o.id())).findFirst()
                .orElseThrow(() -> new AssertionError("the OpenAPI document has no operation " + id));
    }

    /** Follows a {@code $ref} to its schema. */
    JsonNode resolve(JsonNode schema) {
        JsonNode s = schema;
        while (s != null && s.has("$ref")) {
            String ref = s.get("$ref").asString();
            s = doc.at(ref.substring(1));
            if (s.isMissingNode()) {
                throw new AssertionError("dangling $ref " + ref);
            }
        }
        return s;
    }

    /** A smallest valid value: required properties, examples or enum values, numbers at their minimum. */
    JsonNode sample(JsonNode schema) {
        JsonNode s = resolve(schema);
        JsonNodeFactory f = JsonNodeFactory.instance;
        if (s.has("example")) {
            return s.get("example");
        }
        if (s.has("enum")) {
            return s.get("enum").get(0);
        }
        if (s.has("oneOf")) {
            return sample(s.get("oneOf").get(0));
        }
        String type = s.path("type").asString(s.has("properties") ? "object" : "string");
        return switch (type) {
            case "object" -> {
                ObjectNode o = f.objectNode();
                for (Map.Entry<String, JsonNode> p : s.path("properties").properties()) {
                    JsonNode ps = resolve(p.getValue());
                    boolean required = contains(s.path("required"), p.getKey());
                    boolean bounded = ps.has("minimum") && ("integer".equals(ps.path("type").asString()));
                    boolean flag = "boolean".equals(ps.path("type").asString());
                    if (required || bounded || flag) {
                        o.set(p.getKey(), flag && !required ? f.booleanNode(false) : sample(ps));
                    }
                }
                yield o;
            }
            case "array" -> {
                var a = f.arrayNode();
                for (int i = 0; i < Math.max(1, s.path("minItems").asInt(0)); i++) {
                    a.add(sample(s.get("items")));
                }
                yield a;
            }
            case "integer" -> f.numberNode(s.has("minimum") ? s.get("minimum").asLong() : 1);
            case "number" -> f.numberNode(s.has("minimum") ? s.get("minimum").asDouble() : 0.5);
            case "boolean" -> f.booleanNode(false);
            default -> f.stringNode("uuid".equals(s.path("format").asString()) ? java.util.UUID.randomUUID().toString()
                    : "x");
        };
    }

    /** What is wrong with {@code value} against {@code schema}; empty when it conforms. */
    List<String> validate(JsonNode value, JsonNode schema) {
        List<String> errors = new ArrayList<>();
        validate(value, schema, "$", errors);
        return errors;
    }

    private void validate(JsonNode v, JsonNode schema, String at, List<String> errors) {
        JsonNode s = resolve(schema);
        if (v == null || v.isMissingNode()) {
            errors.add(at + ": missing");
            return;
        }
        if (v.isNull()) {
            if (!s.path("nullable").asBoolean(false)) {
                errors.add(at + ": null where the document does not allow it");
            }
            return;
        }
        if (s.has("oneOf")) {
            int matches = 0;
            for (JsonNode alt : s.get("oneOf")) {
                if (validate(v, alt).isEmpty()) {
                    matches++;
                }
            }
            if (matches != 1) {
                errors.add(at + ": matches " + matches + " of the oneOf alternatives");
            }
            return;
        }
        if (s.has("enum") && !contains(s.get("enum"), v.asString(v.toString()))) {
            errors.add(at + ": " + v + " is not one of " + s.get("enum"));
        }
        String type = s.path("type").asString(s.has("properties") ? "object" : null);
        if (type == null) {
            return;
        }
        boolean ok = switch (type) {
            case "object" -> v.isObject();
            case "array" -> v.isArray();
            case "string" -> v.isString();
            case "integer" -> v.isIntegralNumber();
            case "number" -> v.isNumber();
            case "boolean" -> v.isBoolean();
            default -> true;
        };
        if (!ok) {
            errors.add(at + ": " + v.getNodeType() + " where the document says " + type);
            return;
        }
        if (v.isNumber()) {
            if (s.has("minimum") && v.asDouble() < s.get("minimum").asDouble()) {
                errors.add(at + ": below the minimum " + s.get("minimum"));
            }
            if (s.path("exclusiveMinimum").asBoolean(false) && v.asDouble() <= s.get("minimum").asDouble()) {
                errors.add(at + ": not above the exclusive minimum " + s.get("minimum"));
            }
            if (s.has("maximum") && v.asDouble() > s.get("maximum").asDouble()) {
                errors.add(at + ": above the maximum " + s.get("maximum"));
            }
        }
        if (v.isString() && s.has("minLength") && v.asString().length() < s.get("minLength").asInt()) {
            errors.add(at + ": shorter than " + s.get("minLength"));
        }
        if (v.isArray()) {
            if (s.has("minItems") && v.size() < s.get("minItems").asInt()) {
                errors.add(at + ": fewer items than " + s.get("minItems"));
            }
            for (int i = 0; i < v.size(); i++) {
                if (s.has("items")) {
                    validate(v.get(i), s.get("items"), at + "[" + i + "]", errors);
                }
            }
        }
        if (v.isObject()) {
            for (JsonNode r : s.path("required")) {
                if (!v.has(r.asString())) {
                    errors.add(at + "." + r.asString() + ": required but absent");
                }
            }
            JsonNode props = s.path("properties");
            JsonNode extra = s.get("additionalProperties");
            for (Iterator<Map.Entry<String, JsonNode>> it = v.properties().iterator(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                if (props.has(e.getKey())) {
                    validate(e.getValue(), props.get(e.getKey()), at + "." + e.getKey(), errors);
                } else if (extra != null && extra.isObject()) {
                    validate(e.getValue(), extra, at + "." + e.getKey(), errors);
                } else if (extra != null && extra.isBoolean() && !extra.asBoolean()
                        || extra == null && !props.isEmpty()) {
                    errors.add(at + "." + e.getKey() + ": not in the document");
                }
            }
        }
    }

    private static boolean contains(JsonNode array, String value) {
        for (JsonNode n : array) {
            if (n.asString(n.toString()).equals(value)) {
                return true;
            }
        }
        return false;
    }
}
