package org.brainedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A bundle's metadata.json: the one place that says how to feed the model and read its output.
 *
 * <p>Mirrors {@code edge_runtime/metadata.py} (schema version 2) field for field, with its defaults.
 * Anything this app could silently misread is refused here with a one-line message. Version 1
 * bundles still read as before: they have no head, and their model outputs the class scores (one
 * that claims a head, calibration, OOD model or referral is refused: only version 2 has them).
 */
public final class BundleMetadata {
    /** 2 added the head, calibration, out-of-distribution refusal and referral. */
    public static final int SCHEMA_VERSION = 2;
    static final String METADATA_FILE = "metadata.json";
    public static final String RESIZE_METHOD = "bilinear_half_pixel";
    public static final List<String> DTYPES = Collections.unmodifiableList(Arrays.asList("float32", "uint8", "int8"));
    static final double[] MOBILENET_MEAN = {127.5, 127.5, 127.5};
    static final double[] MOBILENET_STD = {127.5, 127.5, 127.5};
    static final double DEFAULT_CONFIDENCE_THRESHOLD = 0.5;

    private static final Set<String> TOP_KEYS = keys("schema_version", "model_file", "model_format", "variant",
            "model_sha256", "class_names", "input", "output", "confidence_threshold", "provenance",
            "verification", "labels_file", "head", "calibration", "out_of_distribution", "referral");
    private static final Set<String> INPUT_KEYS = keys("height", "width", "channels", "color_mode", "dtype",
            "quantization", "resize_method", "mean", "std");
    private static final Set<String> OUTPUT_KEYS = keys("num_classes", "dtype", "quantization", "activation");
    private static final Set<String> QUANTIZATION_KEYS = keys("scale", "zero_point");
    private static final Set<String> HEAD_KEYS = keys("file", "sha256", "feature_map", "layers", "pooling");
    private static final Set<String> LAYER_KEYS = keys("kernel", "bias", "activation");
    private static final Set<String> CALIBRATION_KEYS = keys("temperature", "method", "fit");
    private static final Set<String> OOD_KEYS = keys("threshold", "class_means", "basis", "variances",
            "residual_variance", "method", "fit");
    private static final Set<String> REFERRAL_KEYS = keys("target_accuracy", "validation_coverage",
            "validation_accuracy", "validation_count");

    public final int schemaVersion;
    public final String modelFile;
    public final String modelFormat;
    public final String variant;
    public final String modelSha256;
    public final List<String> classNames;
    public final InputSpec input;
    public final OutputSpec output;
    public final double confidenceThreshold;
    public final String labelsFile;
    /** Provenance and verification records, kept as parsed JSON for display. */
    public final Map<String, Object> provenance;
    public final Map<String, Object> verification;
    /** The head (the model outputs its feature map), or null: the model outputs the class scores. */
    public final HeadSpec head;
    /** Null when probabilities are softmax(logits) as they come (temperature 1). */
    public final Calibration calibration;
    /** Null when the bundle cannot tell whether an image is like its training images. */
    public final OutOfDistribution outOfDistribution;
    /** How confidenceThreshold was chosen, or null. */
    public final Referral referral;

    private BundleMetadata(Fields f) {
        schemaVersion = f.integer("schema_version");
        modelFile = f.string("model_file");
        modelFormat = f.string("model_format");
        variant = f.string("variant");
        modelSha256 = f.string("model_sha256");
        classNames = Collections.unmodifiableList(f.strings("class_names"));
        input = inputSpec(f.object("input", INPUT_KEYS));
        output = outputSpec(f.object("output", OUTPUT_KEYS));
        confidenceThreshold = f.has("confidence_threshold") ? f.number("confidence_threshold")
                : DEFAULT_CONFIDENCE_THRESHOLD;
        labelsFile = f.has("labels_file") ? f.string("labels_file") : "labels.txt";
        provenance = f.has("provenance") ? f.rawObject("provenance") : Collections.<String, Object>emptyMap();
        verification = f.has("verification") ? f.rawObject("verification")
                : Collections.<String, Object>emptyMap();
        head = headSpec(f.optionalObject("head", HEAD_KEYS));
        calibration = calibration(f.optionalObject("calibration", CALIBRATION_KEYS));
        outOfDistribution = outOfDistribution(f.optionalObject("out_of_distribution", OOD_KEYS));
        referral = referral(f.optionalObject("referral", REFERRAL_KEYS));
    }

    /** The temperature that divides the logits: the calibration's, or 1 without one. */
    public double temperature() {
        return calibration == null ? 1.0 : calibration.temperature;
    }

    /** Parse metadata.json text; source (a file or asset name) prefixes every error message. */
    public static BundleMetadata parse(String json, String source) {
        Object raw;
        try {
            raw = Json.parse(json);
        } catch (IllegalArgumentException error) {
            throw new BrainEdgeException(source + ": not valid JSON (" + error.getMessage() + ")");
        }
        if (!(raw instanceof Map)) {
            throw new BrainEdgeException(source + ": not a JSON object");
        }
        Object version = asMap(raw).get("schema_version");
        if (!(version instanceof Long)) {
            throw new BrainEdgeException(source + ": no integer schema_version");
        }
        if ((Long) version > SCHEMA_VERSION) {
            throw new BrainEdgeException(source + ": schema version " + version + " is newer than this app's ("
                    + SCHEMA_VERSION + "); update the app");
        }
        if ((Long) version < 1) {
            throw new BrainEdgeException(source + ": schema version " + version + " does not exist (the first is 1)");
        }
        // After the version: a newer bundle's new keys are reported as a newer version, not as unknown keys.
        Fields fields = new Fields(asMap(raw), source, "", TOP_KEYS);
        BundleMetadata metadata = new BundleMetadata(fields);
        metadata.validate(source);
        return metadata;
    }

    /** Refuse a labels.txt that disagrees with class_names (the Python runtime does the same). */
    public void checkLabels(List<String> labels, String labelsSource) {
        if (!labels.equals(classNames)) {
            throw new BrainEdgeException(labelsSource + ": labels differ from the class names in the bundle metadata");
        }
    }

    private void validate(String source) {
        if (!RESIZE_METHOD.equals(input.resizeMethod)) {
            throw new BrainEdgeException(source + ": unsupported resize method \"" + input.resizeMethod
                    + "\"; expected \"" + RESIZE_METHOD + "\"");
        }
        if (input.channels != 3 || !"RGB".equals(input.colorMode)) {
            throw new BrainEdgeException(source + ": unsupported input " + input.channels + " x " + input.colorMode
                    + "; expected 3 x RGB");
        }
        if (input.height < 1 || input.width < 1) {
            throw new BrainEdgeException(source + ": input size " + input.height + "x" + input.width + " is empty");
        }
        checkDtype(source, "input", input.dtype, input.quantization);
        checkDtype(source, "output", output.dtype, output.quantization);
        if (input.mean.length != input.channels || input.std.length != input.channels) {
            throw new BrainEdgeException(source + ": input mean and std need one value per channel");
        }
        for (float s : input.std) {
            if (!(s != 0f) || Float.isNaN(s)) {
                throw new BrainEdgeException(source + ": input std must be non-zero");
            }
        }
        if (!OutputSpec.ACTIVATION_SOFTMAX.equals(output.activation)
                && !OutputSpec.ACTIVATION_NONE.equals(output.activation)) {
            throw new BrainEdgeException(source + ": unknown output activation \"" + output.activation
                    + "\"; expected \"softmax\" or \"none\"");
        }
        if (output.numClasses != classNames.size()) {
            throw new BrainEdgeException(source + ": output.num_classes is " + output.numClasses + " but there are "
                    + classNames.size() + " class names");
        }
        validateQualification(source);
    }

    /**
     * The schema 2 parts: what their schema says, then what a schema cannot (they need schema version 2,
     * calibration and OOD need a head), in the order Python's {@code _check_consistent} says it.
     */
    private void validateQualification(String source) {
        if (head != null) {
            MetadataChecks.head(head, source);
        }
        if (calibration != null) {
            MetadataChecks.calibration(calibration, source);
        }
        if (outOfDistribution != null) {
            MetadataChecks.outOfDistribution(outOfDistribution, source);
        }
        if (referral != null) {
            MetadataChecks.referral(referral, source);
        }
        // A version 1 bundle was written by a runtime that knew none of these parts: one that claims
        // them was edited by hand or mislabelled, and reading it as version 2 would be a guess.
        if (schemaVersion < 2) {
            Object[][] parts = {{"head", head}, {"calibration", calibration},
                {"out_of_distribution", outOfDistribution}, {"referral", referral}};
            for (Object[] part : parts) {
                if (part[1] != null) {
                    throw new BrainEdgeException(source + ": " + part[0] + ": needs schema_version 2, found "
                            + schemaVersion);
                }
            }
        }
        String needsHead = calibration != null ? "calibration" : outOfDistribution != null ? "out_of_distribution" : null;
        if (needsHead != null && head == null) {
            throw new BrainEdgeException(source + ": " + needsHead
                    + " needs a head (it works on the head's logits and features)");
        }
        if (head != null
                && (head.file.equals(modelFile) || head.file.equals(labelsFile) || head.file.equals(METADATA_FILE))) {
            throw new BrainEdgeException(source + ": head.file \"" + head.file + "\" is another file of the bundle");
        }
    }

    private static void checkDtype(String source, String tensor, String dtype, Quantization quantization) {
        if (!DTYPES.contains(dtype)) {
            throw new BrainEdgeException(source + ": " + tensor + " dtype \"" + dtype + "\" is not one of " + DTYPES);
        }
        boolean integer = !"float32".equals(dtype);
        if (integer && quantization == null) {
            throw new BrainEdgeException(source + ": " + tensor + " is " + dtype + " but has no quantization");
        }
        if (quantization != null && !(quantization.scale > 0)) {
            throw new BrainEdgeException(source + ": " + tensor + " quantization scale must be positive");
        }
    }

    private static InputSpec inputSpec(Fields f) {
        return new InputSpec(f.integer("height"), f.integer("width"),
                f.has("channels") ? f.integer("channels") : 3,
                f.has("color_mode") ? f.string("color_mode") : "RGB",
                f.has("dtype") ? f.string("dtype") : "float32",
                f.quantization("quantization"),
                f.has("resize_method") ? f.string("resize_method") : RESIZE_METHOD,
                toFloats(f.has("mean") ? f.numbers("mean") : MOBILENET_MEAN),
                toFloats(f.has("std") ? f.numbers("std") : MOBILENET_STD));
    }

    private static OutputSpec outputSpec(Fields f) {
        return new OutputSpec(f.integer("num_classes"),
                f.has("dtype") ? f.string("dtype") : "float32",
                f.quantization("quantization"),
                f.has("activation") ? f.string("activation") : OutputSpec.ACTIVATION_SOFTMAX);
    }

    private static HeadSpec headSpec(Fields f) {
        if (f == null) {
            return null;
        }
        int[] featureMap = f.integers("feature_map");
        List<DenseLayer> layers = new ArrayList<DenseLayer>();
        List<?> raw = f.list("layers");
        for (int i = 0; i < raw.size(); i++) {
            if (!(raw.get(i) instanceof Map)) {
                throw f.malformed("\"head.layers[" + i + "]\" must be an object");
            }
            Fields layer = new Fields(asMap(raw.get(i)), f.source, "head.layers[" + i + "].", LAYER_KEYS);
            layers.add(new DenseLayer(layer.string("kernel"), layer.string("bias"),
                    layer.has("activation") ? layer.string("activation") : DenseLayer.NONE));
        }
        return new HeadSpec(f.string("file"), f.string("sha256"), featureMap, layers,
                f.has("pooling") ? f.string("pooling") : HeadSpec.POOLING_AVERAGE);
    }

    private static Calibration calibration(Fields f) {
        if (f == null) {
            return null;
        }
        return new Calibration(f.number("temperature"),
                f.has("method") ? f.string("method") : Calibration.METHOD_TEMPERATURE, f.fit());
    }

    private static OutOfDistribution outOfDistribution(Fields f) {
        if (f == null) {
            return null;
        }
        return new OutOfDistribution(f.number("threshold"), f.string("class_means"), f.string("basis"),
                f.string("variances"), f.number("residual_variance"),
                f.has("method") ? f.string("method") : OutOfDistribution.METHOD_PPCA_MAHALANOBIS, f.fit());
    }

    private static Referral referral(Fields f) {
        if (f == null) {
            return null;
        }
        return new Referral(f.number("target_accuracy"), f.number("validation_coverage"),
                f.number("validation_accuracy"), f.integer("validation_count"));
    }

    /** float32 values, rounded from the JSON doubles as numpy's np.float32(x) rounds them. */
    private static float[] toFloats(double[] values) {
        float[] result = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = (float) values[i];
        }
        return result;
    }

    private static Set<String> keys(String... names) {
        return Collections.unmodifiableSet(new HashSet<String>(Arrays.asList(names)));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object value) {
        return (Map<String, Object>) value;
    }

    /** Typed access to one JSON object, with errors that name the field. */
    private static final class Fields {
        final Map<String, Object> map;
        final String source;
        final String path;

        Fields(Map<String, Object> map, String source, String path, Set<String> allowed) {
            this.map = map;
            this.source = source;
            this.path = path;
            for (String key : map.keySet()) {
                if (!allowed.contains(key)) {
                    throw malformed("unexpected key \"" + path + key + "\"");
                }
            }
        }

        boolean has(String key) {
            return map.containsKey(key);
        }

        Object get(String key) {
            if (!map.containsKey(key)) {
                throw malformed("missing \"" + path + key + "\"");
            }
            return map.get(key);
        }

        String string(String key) {
            Object value = get(key);
            if (!(value instanceof String)) {
                throw malformed("\"" + path + key + "\" must be a string");
            }
            return (String) value;
        }

        int integer(String key) {
            Object value = get(key);
            if (!(value instanceof Long) || (Long) value != ((Long) value).intValue()) {
                throw malformed("\"" + path + key + "\" must be an integer");
            }
            return ((Long) value).intValue();
        }

        double number(String key) {
            Object value = get(key);
            if (!(value instanceof Number)) {
                throw malformed("\"" + path + key + "\" must be a number");
            }
            return ((Number) value).doubleValue();
        }

        int[] integers(String key) {
            List<?> list = list(key);
            int[] result = new int[list.size()];
            for (int i = 0; i < result.length; i++) {
                Object item = list.get(i);
                if (!(item instanceof Long) || (Long) item != ((Long) item).intValue()) {
                    throw malformed("\"" + path + key + "\" must hold integers");
                }
                result[i] = ((Long) item).intValue();
            }
            return result;
        }

        double[] numbers(String key) {
            List<?> list = list(key);
            double[] result = new double[list.size()];
            for (int i = 0; i < result.length; i++) {
                if (!(list.get(i) instanceof Number)) {
                    throw malformed("\"" + path + key + "\" must hold numbers");
                }
                result[i] = ((Number) list.get(i)).doubleValue();
            }
            return result;
        }

        List<String> strings(String key) {
            List<String> result = new ArrayList<String>();
            for (Object item : list(key)) {
                if (!(item instanceof String)) {
                    throw malformed("\"" + path + key + "\" must hold strings");
                }
                result.add((String) item);
            }
            return result;
        }

        List<?> list(String key) {
            Object value = get(key);
            if (!(value instanceof List)) {
                throw malformed("\"" + path + key + "\" must be a list");
            }
            return (List<?>) value;
        }

        Map<String, Object> rawObject(String key) {
            Object value = get(key);
            if (!(value instanceof Map)) {
                throw malformed("\"" + path + key + "\" must be an object");
            }
            return Collections.unmodifiableMap(asMap(value));
        }

        Fields object(String key, Set<String> allowed) {
            return new Fields(rawObject(key), source, path + key + ".", allowed);
        }

        /** An optional object of schema 2: absent and null both mean the bundle has none. */
        Fields optionalObject(String key, Set<String> allowed) {
            return has(key) && map.get(key) != null ? object(key, allowed) : null;
        }

        /** A "fit" record: an object when present, empty when not. */
        Map<String, Object> fit() {
            return has("fit") ? rawObject("fit") : Collections.<String, Object>emptyMap();
        }

        Quantization quantization(String key) {
            if (!has(key) || map.get(key) == null) {
                return null;
            }
            Fields q = object(key, QUANTIZATION_KEYS);
            return new Quantization(q.number("scale"), q.integer("zero_point"));
        }

        BrainEdgeException malformed(String problem) {
            return new BrainEdgeException(source + ": malformed bundle metadata (" + problem + ")");
        }
    }
}
