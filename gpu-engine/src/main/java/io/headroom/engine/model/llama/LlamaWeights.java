package io.headroom.engine.model.llama;

import io.headroom.engine.model.ModelConfig;
import io.headroom.engine.safetensors.Checkpoint;
import io.headroom.engine.tensor.WeightTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The weights of a Llama-family decoder, mapped from Hugging Face tensor names. Large matrices stay
 * in the checkpoint's memory-mapped storage; norms and biases are small and widened to float once.
 *
 * @param embedding {@code (vocab, hidden)}
 * @param layers one entry per decoder layer
 * @param finalNorm {@code (hidden)}
 * @param lmHead {@code (vocab, hidden)}; the embedding itself when embeddings are tied
 */
public record LlamaWeights(WeightTensor embedding, List<Layer> layers, float[] finalNorm, WeightTensor lmHead) {

    /**
     * One decoder layer.
     *
     * @param attnNorm {@code (hidden)}
     * @param wq {@code (qDim, hidden)}
     * @param wk {@code (kvDim, hidden)}
     * @param wv {@code (kvDim, hidden)}
     * @param wo {@code (hidden, qDim)}
     * @param bq {@code (qDim)} or null
     * @param bk {@code (kvDim)} or null
     * @param bv {@code (kvDim)} or null
     * @param bo {@code (hidden)} or null
     * @param mlpNorm {@code (hidden)}
     * @param wGate {@code (intermediate, hidden)}
     * @param wUp {@code (intermediate, hidden)}
     * @param wDown {@code (hidden, intermediate)}
     */
    public record Layer(float[] attnNorm, WeightTensor wq, WeightTensor wk, WeightTensor wv, WeightTensor wo,
            float[] bq, float[] bk, float[] bv, float[] bo,
            float[] mlpNorm, WeightTensor wGate, WeightTensor wUp, WeightTensor wDown) {
    }

    /** Maps and shape-checks every tensor the config calls for; a missing or misshapen one fails clearly. */
    public static LlamaWeights load(Checkpoint ckpt, ModelConfig c) {
        long h = c.hiddenSize();
        long q = c.qDim();
        long kv = c.kvDim();
        long ff = c.intermediateSize();
        WeightTensor embedding = ckpt.require("model.embed_tokens.weight", c.vocabSize(), h);
        List<Layer> layers = new ArrayList<>(c.numLayers());
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            String a = p + "self_attn.";
            layers.add(new Layer(
                    ckpt.require(p + "input_layernorm.weight", h).toFloatArray(),
                    ckpt.require(a + "q_proj.weight", q, h),
                    ckpt.require(a + "k_proj.weight", kv, h),
                    ckpt.require(a + "v_proj.weight", kv, h),
                    ckpt.require(a + "o_proj.weight", h, q),
                    c.qkvBias() ? ckpt.require(a + "q_proj.bias", q).toFloatArray() : null,
                    c.qkvBias() ? ckpt.require(a + "k_proj.bias", kv).toFloatArray() : null,
                    c.qkvBias() ? ckpt.require(a + "v_proj.bias", kv).toFloatArray() : null,
                    c.outputBias() ? ckpt.require(a + "o_proj.bias", h).toFloatArray() : null,
                    ckpt.require(p + "post_attention_layernorm.weight", h).toFloatArray(),
                    ckpt.require(p + "mlp.gate_proj.weight", ff, h),
                    ckpt.require(p + "mlp.up_proj.weight", ff, h),
                    ckpt.require(p + "mlp.down_proj.weight", h, ff)));
        }
        float[] norm = ckpt.require("model.norm.weight", h).toFloatArray();
        WeightTensor head = c.tieWordEmbeddings() && !ckpt.contains("lm_head.weight")
                ? embedding
                : ckpt.require("lm_head.weight", c.vocabSize(), h);
        return new LlamaWeights(embedding, List.copyOf(layers), norm, head);
    }
}
