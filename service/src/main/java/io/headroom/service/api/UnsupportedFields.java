package io.headroom.service.api;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a request body type: fields of the API it mirrors that Headroom does not implement. Sent, they
 * get a 400 saying so ({@code unsupported_parameter}) instead of the generic unknown-field answer.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
public @interface UnsupportedFields {

    /** The JSON names. */
    String[] value();
}
