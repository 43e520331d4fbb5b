package io.headroom.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.headroom.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A model's chat template: the Jinja {@code chat_template} of {@code tokenizer_config.json},
 * rendered with Jinjava the way transformers' {@code apply_chat_template} renders it (trim_blocks,
 * lstrip_blocks, {@code bos_token}/{@code eos_token}, {@code raise_exception}). Models without a
 * template get a plain "role: content" layout. The rendered text already holds the special tokens
 * the template wants, so it is tokenised without adding more.
 */
public final class ChatTemplate {

    public static final String CONFIG_FILE = "tokenizer_config.json";

    private final String template; // null: plain fallback
    private final String bosToken;
    private final String eosToken;
    private Jinjava jinjava; // created on first render: models without a template never need it

    ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
    }

    private synchronized Jinjava jinjava() {
        if (jinjava == null) {
            jinjava = new Jinjava(JinjavaConfig.newBuilder()
                    .withTrimBlocks(true)
                    .withLstripBlocks(true)
                    .withFailOnUnknownTokens(false)
                    .build());
            jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                    ChatTemplate.class, "raiseException", String.class));
        }
        return jinjava;
    }

    /** Reads the template of {@code modelDir}; a directory without tokenizer_config.json gets the fallback. */
    public static ChatTemplate load(Path modelDir) {
        Path file = modelDir.resolve(CONFIG_FILE);
        JsonNode cfg;
        try {
            cfg = JsonMapper.builder().build().readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            return new ChatTemplate(null, null, null);
        } catch (IOException | JacksonException e) {
            throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return new ChatTemplate(templateText(cfg.path("chat_template"), file), tokenText(cfg.path("bos_token")),
                tokenText(cfg.path("eos_token")));
    }

    private static String templateText(JsonNode node, Path file) {
        if (node.isString()) {
            return node.asString();
        }
        if (node.isArray()) { // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asString(null))) {
                    return named.path("template").asString();
                }
            }
            throw new ModelFormatException(file + ": chat_template list has no \"default\" entry");
        }
        return null;
    }

    private static String tokenText(JsonNode node) {
        if (node.isString()) {
            return node.asString();
        }
        if (node.isObject()) { // AddedToken form: {"content": "<s>", ...}
            return node.path("content").asString(null);
        }
        return null;
    }

    /** Whether the model has a template of its own (else the plain fallback is used). */
    public boolean isModelTemplate() {
        return template != null;
    }

    /** Renders {@code messages}; with {@code addGenerationPrompt} the text ends where the assistant speaks. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (template == null) {
            StringBuilder sb = new StringBuilder();
            for (ChatMessage m : messages) {
                sb.append(m.role()).append(": ").append(m.content()).append('\n');
            }
            if (addGenerationPrompt) {
                sb.append("assistant: ");
            }
            return sb.toString();
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", messages.stream().map(m -> Map.of("role", m.role(), "content", m.content())).toList());
        ctx.put("add_generation_prompt", addGenerationPrompt);
        ctx.put("bos_token", bosToken);
        ctx.put("eos_token", eosToken);
        RenderResult result = jinjava().renderForResult(template, ctx);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                    if (t instanceof TemplateRejection rejection) {
                        throw new IllegalArgumentException(rejection.getMessage(), rejection);
                    }
                }
                throw new IllegalArgumentException("chat template failed: " + error.getMessage());
            }
        }
        return result.getOutput();
    }

    /** Called by templates as {@code raise_exception('...')} to reject a conversation. */
    public static String raiseException(String message) {
        throw new TemplateRejection("chat template rejected the conversation: " + message);
    }

    /** Thrown by {@code raise_exception}; carries the template's own message through Jinjava. */
    static final class TemplateRejection extends RuntimeException {

        private static final long serialVersionUID = 1L;

        TemplateRejection(String message) {
            super(message);
        }
    }
}
