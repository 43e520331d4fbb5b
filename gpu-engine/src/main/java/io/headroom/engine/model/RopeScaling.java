package io.headroom.engine.model;

/**
 * How rotary position embedding frequencies are rescaled for long contexts. Semantics follow
 * transformers' {@code ROPE_INIT_FUNCTIONS} ("default", "linear", "llama3").
 */
public sealed interface RopeScaling {

    /** Scales the inverse frequencies {@code invFreq[i] = θ^(-2i/d)} in place. */
    void apply(double[] invFreq);

    /** No scaling. */
    record None() implements RopeScaling {
        @Override
        public void apply(double[] invFreq) {
        }
    }

    /** Position interpolation: every frequency divided by {@code factor}. */
    record Linear(double factor) implements RopeScaling {
        @Override
        public void apply(double[] invFreq) {
            for (int i = 0; i < invFreq.length; i++) {
                invFreq[i] /= factor;
            }
        }
    }

    /**
     * Llama 3.1's scaling: wavelengths longer than {@code originalMaxPositions / lowFreqFactor} are
     * divided by {@code factor}, shorter than {@code originalMaxPositions / highFreqFactor} kept, and
     * the band between interpolated smoothly.
     */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
            implements RopeScaling {
        @Override
        public void apply(double[] invFreq) {
            double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
            double highFreqWavelen = originalMaxPositions / highFreqFactor;
            for (int i = 0; i < invFreq.length; i++) {
                double wavelen = 2 * Math.PI / invFreq[i];
                double scaled = wavelen > lowFreqWavelen ? invFreq[i] / factor : invFreq[i];
                boolean medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
                if (medium) {
                    double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                }
                invFreq[i] = scaled;
            }
        }
    }
}
