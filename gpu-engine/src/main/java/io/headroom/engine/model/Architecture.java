package io.headroom.engine.model;

import java.util.Arrays;
import java.util.Optional;

/** The Hugging Face model classes Headroom runs. All are Llama-shaped decoders. */
public enum Architecture {
    /** Llama 2, 3, 3.1 and relatives; optional q/k/v/o biases ({@code attention_bias}). */
    LLAMA("LlamaForCausalLM"),
    /** Mistral: Llama without biases; sliding-window attention is refused. */
    MISTRAL("MistralForCausalLM"),
    /** Qwen2 / Qwen2.5: q/k/v biases always, often tied embeddings. */
    QWEN2("Qwen2ForCausalLM");

    private final String hfClass;

    Architecture(String hfClass) {
        this.hfClass = hfClass;
    }

    public String hfClass() {
        return hfClass;
    }

    public static Optional<Architecture> fromHfClass(String name) {
        return Arrays.stream(values()).filter(a -> a.hfClass.equals(name)).findFirst();
    }

    public static String supportedNames() {
        return String.join(", ", Arrays.stream(values()).map(Architecture::hfClass).toList());
    }
}
