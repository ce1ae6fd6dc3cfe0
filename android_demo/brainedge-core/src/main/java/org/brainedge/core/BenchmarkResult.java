package org.brainedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A phone's benchmark in brainedge-bench's result schema (version 1), so
 * {@code brainedge-bench --merge phone.json desktop.json} puts phones in the same table.
 */
public final class BenchmarkResult {
    public static final int SCHEMA_VERSION = 1;

    /** One artifact x backend x thread-count measurement. */
    public static final class Row {
        public String artifact;
        public String format = "tflite";
        public String variant;
        public String backend;
        public int threads;
        public Double accuracy;
        public Double macroF1;
        /** Top-1 agreement with a float32 reference; null, as the app runs one model. */
        public Double agreement;
        public Long sizeBytes;
        public double initMs;
        public double firstMs;
        /** Invoke-only latency of steady-state runs on one fixed input, after warm-up. */
        public double[] latencySamplesMs = new double[0];
        /** End to end (decode, preprocess, invoke, rank) over the labelled images. */
        public Double throughputIps;
        public Double peakRssMb;
        public int images;
        public int imageErrors;
    }

    private BenchmarkResult() {
    }

    /**
     * The device record the app writes, with brainedge-bench's keys. The runtime is the Maven
     * artifact com.google.ai.edge.litert:litert, recorded as packages["litert-android"] (a desktop
     * records the pip package as packages["ai-edge-litert"]); python is null on a phone.
     */
    public static Map<String, Object> androidDevice(String manufacturer, String model, String cpu, int cores,
                                                    String abi, String release, int sdkInt, String litertVersion,
                                                    String appVersion, String cpuGovernor) {
        Map<String, Object> packages = new LinkedHashMap<String, Object>();
        packages.put("litert-android", litertVersion);
        packages.put("app", appVersion);
        Map<String, Object> device = new LinkedHashMap<String, Object>();
        device.put("name", manufacturer + " " + model);
        device.put("cpu", cpu);
        device.put("cores", cores);
        device.put("usable_cores", cores);
        device.put("arch", abi);
        device.put("os", "Android " + release + " (API " + sdkInt + ")");
        device.put("python", null);
        device.put("packages", packages);
        device.put("cpu_governor", cpuGovernor);
        device.put("temperature_c", null);
        return device;
    }

    /** The test set as brainedge-bench describes one: source, image count, images per class (sorted). */
    public static Map<String, Object> testSet(String source, List<String> sampleLabels) {
        Map<String, Object> perClass = new java.util.TreeMap<String, Object>();
        for (String label : sampleLabels) {
            Object count = perClass.get(label);
            perClass.put(label, count == null ? 1 : (Integer) count + 1);
        }
        Map<String, Object> testSet = new LinkedHashMap<String, Object>();
        testSet.put("source", source);
        testSet.put("images", sampleLabels.size());
        testSet.put("per_class", new LinkedHashMap<String, Object>(perClass));
        return testSet;
    }

    /** The result document: one run (this device, this invocation) and its rows; ratios left empty. */
    public static Map<String, Object> document(String runId, Map<String, Object> device, String command,
                                               String createdIso, Map<String, Object> settings,
                                               Map<String, Object> testSet, List<Row> rows) {
        Map<String, Object> run = new LinkedHashMap<String, Object>();
        run.put("id", runId);
        run.put("device", device);
        run.put("command", command);
        run.put("created", createdIso);
        run.put("settings", settings);
        run.put("test_set", testSet);
        run.put("reference", null);
        List<Object> rowMaps = new ArrayList<Object>();
        for (Row row : rows) {
            rowMaps.add(rowMap(row, runId, String.valueOf(device.get("name"))));
        }
        Map<String, Object> result = new LinkedHashMap<String, Object>();
        result.put("schema_version", SCHEMA_VERSION);
        result.put("device", device);
        result.put("runs", Arrays.<Object>asList(run));
        result.put("rows", rowMaps);
        result.put("ratios", new ArrayList<Object>());
        return result;
    }

    static Map<String, Object> rowMap(Row row, String runId, String deviceName) {
        Map<String, Object> map = new LinkedHashMap<String, Object>();
        map.put("run", runId);
        map.put("device", deviceName);
        map.put("artifact", row.artifact);
        map.put("format", row.format);
        map.put("variant", row.variant);
        map.put("backend", row.backend);
        map.put("threads", row.threads);
        map.put("accuracy", row.accuracy);
        map.put("macro_f1", row.macroF1);
        map.put("agreement", row.agreement);
        map.put("size_bytes", row.sizeBytes);
        map.put("init_ms", row.initMs);
        map.put("first_ms", row.firstMs);
        map.put("latency_ms", latencySummary(row.latencySamplesMs));
        List<Object> samples = new ArrayList<Object>();
        for (double sample : row.latencySamplesMs) {
            samples.add(sample);
        }
        map.put("latency_samples_ms", samples);
        map.put("throughput_ips", row.throughputIps);
        map.put("peak_rss_mb", row.peakRssMb);
        map.put("images", row.images);
        map.put("image_errors", row.imageErrors);
        map.put("status", "ok");
        map.put("error", null);
        return map;
    }

    /** p50/p90/p99 (numpy's default linear interpolation), mean, min, max and population std. */
    public static Map<String, Object> latencySummary(double[] samples) {
        Map<String, Object> summary = new LinkedHashMap<String, Object>();
        if (samples.length == 0) {
            for (String key : new String[] {"p50", "p90", "p99", "mean", "min", "max", "std"}) {
                summary.put(key, null);
            }
            return summary;
        }
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        double mean = mean(sorted);
        double squares = 0;
        for (double value : sorted) {
            squares += (value - mean) * (value - mean);
        }
        summary.put("p50", percentile(sorted, 50));
        summary.put("p90", percentile(sorted, 90));
        summary.put("p99", percentile(sorted, 99));
        summary.put("mean", mean);
        summary.put("min", sorted[0]);
        summary.put("max", sorted[sorted.length - 1]);
        summary.put("std", Math.sqrt(squares / sorted.length));
        return summary;
    }

    /** numpy.percentile(method="linear") of already sorted values. */
    static double percentile(double[] sorted, double q) {
        double position = q / 100.0 * (sorted.length - 1);
        int lower = (int) Math.floor(position);
        int upper = Math.min(lower + 1, sorted.length - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }

    private static double mean(double[] values) {
        double sum = 0;
        for (double value : values) {
            sum += value;
        }
        return sum / values.length;
    }

    /**
     * Accuracy and macro-F1 over numClasses, as brainedge-bench scores them: a prediction of -1
     * (an image that could not be read) counts as wrong.
     */
    public static double[] accuracyAndMacroF1(int[] truth, int[] predicted, int numClasses) {
        int[] truePositive = new int[numClasses];
        int[] falsePositive = new int[numClasses];
        int[] falseNegative = new int[numClasses];
        int correct = 0;
        for (int i = 0; i < truth.length; i++) {
            if (truth[i] == predicted[i]) {
                correct++;
                truePositive[truth[i]]++;
                continue;
            }
            falseNegative[truth[i]]++;
            if (predicted[i] >= 0 && predicted[i] < numClasses) {
                falsePositive[predicted[i]]++;
            }
        }
        double f1Sum = 0;
        for (int c = 0; c < numClasses; c++) {
            int denominator = 2 * truePositive[c] + falsePositive[c] + falseNegative[c];
            f1Sum += denominator == 0 ? 0 : 2.0 * truePositive[c] / denominator;
        }
        return new double[] {(double) correct / truth.length, f1Sum / numClasses};
    }

    /** Peak resident set in MiB from /proc/self/status text (its VmHWM line), or null if absent. */
    public static Double peakRssMb(String procStatus) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith("VmHWM:")) {
                String[] parts = line.substring("VmHWM:".length()).trim().split("\\s+");
                return Long.parseLong(parts[0]) / 1024.0;
            }
        }
        return null;
    }
}
