package org.brainedge.core;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

/**
 * A bundle's head: from the model's dequantized feature map to pooled features, logits, calibrated
 * probabilities and the out-of-distribution score, with the arithmetic of {@code edge_runtime/head.py}.
 *
 * <p>Everything is computed in double, as the Python runtime computes it in float64, and only the
 * probabilities are rounded to float32 at the end: the goldens then hold the probabilities to 1e-6,
 * the score to 1e-6 relative and every decision exactly, which float32 sums could not promise.
 */
public final class Head {
    private final HeadSpec spec;
    private final double temperature;
    private final OutOfDistribution ood;
    private final double[][][] kernels;
    private final double[][] biases;
    private final boolean[] relu;
    private final PpcaMahalanobis statistics;

    Head(HeadSpec spec, Map<String, FloatTensor> tensors, double temperature, OutOfDistribution ood) {
        this.spec = spec;
        this.temperature = temperature;
        this.ood = ood;
        List<DenseLayer> layers = spec.layers;
        kernels = new double[layers.size()][][];
        biases = new double[layers.size()][];
        relu = new boolean[layers.size()];
        int width = spec.channels();
        for (int i = 0; i < layers.size(); i++) {
            FloatTensor kernel = tensor(tensors, layers.get(i).kernel);
            FloatTensor bias = tensor(tensors, layers.get(i).bias);
            if (kernel.rank() != 2 || kernel.dim(0) != width || bias.rank() != 1 || bias.dim(0) != kernel.dim(1)) {
                throw new BrainEdgeException("head layer " + i + ": kernel " + kernel.shapeText() + " and bias "
                        + bias.shapeText() + " do not take " + width + " inputs");
            }
            kernels[i] = kernel.toMatrix();
            biases[i] = bias.toDoubles();
            relu[i] = DenseLayer.RELU.equals(layers.get(i).activation);
            width = kernel.dim(1);
        }
        statistics = ood == null ? null : PpcaMahalanobis.of(tensors, ood, spec.channels());
    }

    /**
     * The head of a bundle whose metadata has one, from its head file's bytes (the caller checks the
     * file's SHA-256 against {@code head.sha256} first). Refuses a file whose tensors do not fit the
     * metadata or the class names, naming the source.
     */
    public static Head load(BundleMetadata metadata, ByteBuffer file, String source) {
        if (metadata.head == null) {
            throw new BrainEdgeException(source + ": the bundle has no head");
        }
        Map<String, FloatTensor> tensors = SafeTensors.read(file, source);
        Head head;
        try {
            head = new Head(metadata.head, tensors, metadata.temperature(), metadata.outOfDistribution);
        } catch (BrainEdgeException error) {
            throw new BrainEdgeException(source + ": " + error.getMessage());
        }
        if (head.numClasses() != metadata.classNames.size()) {
            throw new BrainEdgeException(source + ": the head has " + head.numClasses() + " outputs but there are "
                    + metadata.classNames.size() + " labels");
        }
        return head;
    }

    public static Head load(BundleMetadata metadata, byte[] file, String source) {
        return load(metadata, ByteBuffer.wrap(file), source);
    }

    public HeadSpec spec() {
        return spec;
    }

    public int numClasses() {
        return biases[biases.length - 1].length;
    }

    /** Whether the bundle can say that an image is unlike its training images. */
    public boolean hasOutOfDistribution() {
        return statistics != null;
    }

    /**
     * One dequantized feature map (H x W x C, row-major, as the model writes it) through the whole head.
     * A map or logits holding NaN or an infinity (a broken model) is refused with
     * {@link Postprocessor#NOT_FINITE}, as Python's {@code Classifier.run} refuses it, never ranked.
     */
    public Outputs run(float[] featureMap) {
        if (!Postprocessor.allFinite(featureMap)) {
            throw new BrainEdgeException(Postprocessor.NOT_FINITE);
        }
        double[] features = pool(featureMap);
        double[] logits = logits(features);
        for (double logit : logits) {
            if (Double.isNaN(logit) || Double.isInfinite(logit)) {
                throw new BrainEdgeException(Postprocessor.NOT_FINITE);
            }
        }
        Double score = statistics == null ? null : statistics.distance(features);
        Boolean unrecognised = score == null ? null : outOfDistribution(score);
        return new Outputs(probabilities(logits, true), features, logits, score, unrecognised);
    }

    /** The average over H x W of each channel: the features the layers and the OOD model see. */
    public double[] pool(float[] featureMap) {
        int channels = spec.channels();
        checkSize(featureMap);
        double[] sums = new double[channels];
        for (int i = 0; i < featureMap.length; i++) {
            sums[i % channels] += featureMap[i];
        }
        int positions = featureMap.length / channels;
        for (int c = 0; c < channels; c++) {
            sums[c] /= positions;
        }
        return sums;
    }

    private void checkSize(float[] featureMap) {
        if (featureMap.length != spec.featureMapSize()) {
            throw new BrainEdgeException("feature map has " + featureMap.length + " values, the head expects "
                    + spec.featureMap[0] + " x " + spec.featureMap[1] + " x " + spec.channels());
        }
    }

    /** Whether {@link #classMap} can draw this head's maps: it has one dense layer, no hidden ones. */
    public boolean drawsClassMaps() {
        return kernels.length == 1;
    }

    /**
     * Where the model saw class {@code classIndex} in one dequantized feature map (H x W x C, row-major),
     * as Python's {@code Head.class_map}: at each position the feature vector times the layer's weights
     * for the class, in double; its positive part divided by its maximum, or all zero when that is not
     * above 0. Refused, with Python's words, for a head with hidden layers (any map would then be an
     * approximation) and for a class the head does not have; a map holding NaN or an infinity is refused
     * with {@link Postprocessor#NOT_FINITE}, as {@link #run} refuses it.
     */
    public ClassMap classMap(float[] featureMap, int classIndex) {
        if (kernels.length != 1) {
            throw new BrainEdgeException("class-activation maps need a head of one dense layer; this bundle's has "
                    + kernels.length);
        }
        if (classIndex < 0 || classIndex >= numClasses()) {
            throw new BrainEdgeException("class index " + classIndex + " is not one of the head's " + numClasses()
                    + " classes");
        }
        checkSize(featureMap);
        if (!Postprocessor.allFinite(featureMap)) {
            throw new BrainEdgeException(Postprocessor.NOT_FINITE);
        }
        double[][] kernel = kernels[0];
        int channels = spec.channels();
        double[] values = new double[featureMap.length / channels];
        double top = 0;
        for (int position = 0; position < values.length; position++) {
            double sum = 0;
            for (int c = 0; c < channels; c++) {
                sum += featureMap[position * channels + c] * kernel[c][classIndex];
            }
            values[position] = Math.max(sum, 0.0);
            top = Math.max(top, values[position]);
        }
        if (top > 0) {
            for (int position = 0; position < values.length; position++) {
                values[position] /= top;
            }
        }
        return new ClassMap(classIndex, spec.featureMap[0], spec.featureMap[1], values);
    }

    /** The dense layers: x @ kernel + bias, relu where the layer says so (never on the last). */
    public double[] logits(double[] features) {
        double[] x = features;
        for (int layer = 0; layer < kernels.length; layer++) {
            double[][] kernel = kernels[layer];
            double[] out = new double[biases[layer].length];
            for (int j = 0; j < out.length; j++) {
                double sum = 0;
                for (int i = 0; i < x.length; i++) {
                    sum += x[i] * kernel[i][j];
                }
                sum += biases[layer][j];
                out[j] = relu[layer] ? Math.max(sum, 0.0) : sum;
            }
            x = out;
        }
        return x;
    }

    /** softmax(logits / T) in double, rounded to float32; {@code calibrated = false} uses T = 1. */
    public float[] probabilities(double[] logits, boolean calibrated) {
        return Postprocessor.softmax(logits, calibrated ? temperature : 1.0);
    }

    /** Whether a score is beyond the bundle's threshold (strictly above, as in Python); a NaN score is too. */
    public boolean outOfDistribution(double score) {
        if (ood == null) {
            throw new BrainEdgeException("the bundle carries no out-of-distribution model");
        }
        return !(score <= ood.threshold);
    }

    /**
     * A tensor the head computes with, refused when absent or when any value is NaN or an infinity:
     * a single one would turn every image's logits or OOD score into NaN, an answer-shaped nothing.
     */
    static FloatTensor tensor(Map<String, FloatTensor> tensors, String name) {
        FloatTensor tensor = tensors.get(name);
        if (tensor == null) {
            throw new BrainEdgeException("no tensor named '" + name + "'");
        }
        if (!tensor.isFinite()) {
            throw new BrainEdgeException("tensor '" + name + "' has non-finite values (NaN or infinity)");
        }
        return tensor;
    }
}
