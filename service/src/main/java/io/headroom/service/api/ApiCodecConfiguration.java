package io.headroom.service.api;

import org.springframework.boot.jackson.autoconfigure.JsonMapperBuilderCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.codec.ServerCodecConfigurer;
import org.springframework.web.reactive.config.WebFluxConfigurer;
import org.springframework.beans.factory.ObjectProvider;
import tools.jackson.core.JsonParser;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.DeserializationContext;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.cfg.CoercionAction;
import tools.jackson.databind.cfg.CoercionInputShape;
import tools.jackson.databind.cfg.MutableCoercionConfig;
import tools.jackson.databind.deser.jdk.StringDeserializer;
import tools.jackson.databind.exc.InvalidFormatException;
import tools.jackson.databind.module.SimpleModule;
import tools.jackson.databind.type.LogicalType;

/**
 * The API's wire contract, for every endpoint at once: request bodies are read strictly (a field
 * of the wrong JSON type, an unknown field, a fraction for an integer, a number out of range or a
 * string holding U+0000 is a 400 naming the field, see {@link ApiErrors}), and event streams are
 * framed as OpenAI frames them ({@link ServerSentEventWriter}).
 *
 * <p>Why NUL is refused rather than stripped: PostgreSQL cannot store it in text, and silently
 * changing what a user sent would make the stored conversation differ from the one they had.
 */
@Configuration(proxyBeanMethods = false)
public class ApiCodecConfiguration implements WebFluxConfigurer {

    private final ObjectProvider<JsonMapper> json;

    public ApiCodecConfiguration(ObjectProvider<JsonMapper> json) {
        this.json = json;
    }

    /** The message a string with U+0000 is refused with (the field is named by {@link ApiErrors}). */
    static final String NUL_MESSAGE = "must not contain the NUL character (U+0000)";

    @Bean
    JsonMapperBuilderCustomizer strictRequestBodies() {
        return builder -> builder
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .withCoercionConfig(LogicalType.Textual, c -> fail(c, CoercionInputShape.Integer,
                        CoercionInputShape.Float, CoercionInputShape.Boolean))
                .withCoercionConfig(LogicalType.Integer, c -> fail(c, CoercionInputShape.String,
                        CoercionInputShape.Float, CoercionInputShape.Boolean, CoercionInputShape.EmptyString))
                .withCoercionConfig(LogicalType.Float, c -> fail(c, CoercionInputShape.String,
                        CoercionInputShape.Boolean, CoercionInputShape.EmptyString))
                .withCoercionConfig(LogicalType.Boolean, c -> fail(c, CoercionInputShape.String,
                        CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.EmptyString))
                .withCoercionConfig(LogicalType.Collection, c -> fail(c, CoercionInputShape.EmptyString))
                .withCoercionConfig(LogicalType.POJO, c -> fail(c, CoercionInputShape.EmptyString,
                        CoercionInputShape.String))
                .addModule(new SimpleModule("headroom-strict-strings")
                        .addDeserializer(String.class, new NulRefusingStringDeserializer()));
    }

    private static void fail(MutableCoercionConfig config, CoercionInputShape... shapes) {
        for (CoercionInputShape s : shapes) {
            config.setCoercion(s, CoercionAction.Fail);
        }
    }

    @Override
    public void configureHttpMessageCodecs(ServerCodecConfigurer configurer) {
        configurer.customCodecs().register(new ServerSentEventWriter(json.getObject()));
    }

    /** Jackson's string reading, refusing U+0000 wherever a string appears in a body. */
    static final class NulRefusingStringDeserializer extends StringDeserializer {

        private static final long serialVersionUID = 1L;

        @Override
        public String deserialize(JsonParser p, DeserializationContext ctxt) {
            String s = super.deserialize(p, ctxt);
            if (s != null && s.indexOf('\0') >= 0) {
                throw InvalidFormatException.from(p, NUL_MESSAGE, "(a string with U+0000)", String.class);
            }
            return s;
        }
    }
}
