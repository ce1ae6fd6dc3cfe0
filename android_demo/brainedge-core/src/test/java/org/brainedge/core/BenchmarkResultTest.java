package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchmarkResultTest {

    @Test
    public void percentilesInterpolateLikeNumpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 90, 99]) == [3.0, 7.6, 9.76]
        Map<String, Object> summary = BenchmarkResult.latencySummary(new double[] {10, 2, 4, 1, 3});
        assertEquals(3.0, (Double) summary.get("p50"), 1e-12);
        assertEquals(7.6, (Double) summary.get("p90"), 1e-12);
        assertEquals(9.76, (Double) summary.get("p99"), 1e-12);
        assertEquals(4.0, (Double) summary.get("mean"), 1e-12);
        assertEquals(Math.sqrt(10.0), (Double) summary.get("std"), 1e-12);
        assertNull(BenchmarkResult.latencySummary(new double[0]).get("p50"));
    }

    @Test
    public void accuracyAndMacroF1CountUnreadableImagesAsWrong() {
        double[] scores = BenchmarkResult.accuracyAndMacroF1(new int[] {0, 0, 1, 1}, new int[] {0, 1, 1, -1}, 2);
        assertEquals(0.5, scores[0], 1e-12);
        // class 0: tp 1, fn 1 -> f1 2/3; class 1: tp 1, fp 1, fn 1 -> f1 1/2
        assertEquals((2.0 / 3 + 0.5) / 2, scores[1], 1e-12);
    }

    @Test
    public void peakRssComesFromVmHwm() {
        assertEquals(100.0, BenchmarkResult.peakRssMb("Name:\tx\nVmHWM:\t  102400 kB\nVmRSS:\t1 kB\n"), 1e-12);
        assertNull(BenchmarkResult.peakRssMb("Name:\tx\n"));
    }

    @Test
    public void documentHasEveryKeyTheHarnessSchemaRequires() throws Exception {
        BenchmarkResult.Row row = new BenchmarkResult.Row();
        row.artifact = "int8";
        row.backend = "litert-android";
        row.threads = 4;
        row.latencySamplesMs = new double[] {5, 6, 7};
        row.variant = "int8_ptq";
        row.accuracy = 0.75;
        row.macroF1 = 0.7;
        row.sizeBytes = 2_500_000L;
        row.initMs = 80.5;
        row.firstMs = 12.25;
        row.throughputIps = 30.0;
        row.peakRssMb = 180.0;
        row.images = 4;
        // What BenchmarkActivity writes: the same helpers, with a phone's values.
        Map<String, Object> device = BenchmarkResult.androidDevice("Google", "Pixel 8", "Tensor G3", 9, "arm64-v8a",
                "14", 34, "1.4.1", "0.1.0", "schedutil");
        Map<String, Object> settings = new LinkedHashMap<String, Object>();
        settings.put("threads", Arrays.asList(4));
        settings.put("backends", Arrays.asList("litert-android"));
        settings.put("runs", 3);
        settings.put("warmup", 1);
        settings.put("build", "release");
        Map<String, Object> testSet = BenchmarkResult.testSet("app assets/samples",
                Arrays.asList("glioma", "glioma", "meningioma", "notumor"));
        Map<String, Object> doc = BenchmarkResult.document("android-Pixel-8-2025-01-01T000000+0000", device,
                "BrainEdge Android app benchmark screen", "2025-01-01T00:00:00+00:00", settings, testSet,
                Arrays.asList(row));
        Map<?, ?> perClass = (Map<?, ?>) testSet.get("per_class");
        assertEquals(2, perClass.get("glioma"));
        assertEquals("Google Pixel 8", device.get("name"));
        String written = Json.write(doc);
        String sampleOut = System.getenv("BRAINEDGE_BENCH_SAMPLE_OUT"); // tests/test_java_parity.py validates it
        if (sampleOut != null) {
            Files.write(Paths.get(sampleOut), written.getBytes(StandardCharsets.UTF_8));
        }
        Map<?, ?> back = (Map<?, ?>) Json.parse(written);
        assertEquals(1L, back.get("schema_version"));
        assertTrue(back.containsKey("device"));
        Map<?, ?> parsedRow = (Map<?, ?>) ((List<?>) back.get("rows")).get(0);
        for (String key : new String[] {"run", "device", "artifact", "format", "variant", "backend", "threads",
                "accuracy", "macro_f1", "agreement", "size_bytes", "init_ms", "first_ms", "latency_ms",
                "throughput_ips", "peak_rss_mb", "status", "error"}) {
            assertTrue("row lacks " + key, parsedRow.containsKey(key));
        }
        assertEquals("android-Pixel-8-2025-01-01T000000+0000", parsedRow.get("run"));
        assertEquals("Google Pixel 8", parsedRow.get("device"));
        assertEquals(6.0, (Double) ((Map<?, ?>) parsedRow.get("latency_ms")).get("p50"), 0);
        Map<?, ?> run = (Map<?, ?>) ((List<?>) back.get("runs")).get(0);
        for (String key : new String[] {"id", "device", "command", "created"}) {
            assertTrue("run lacks " + key, run.containsKey(key));
        }
    }

    @Test
    public void sha256MatchesTheKnownDigest() throws Exception {
        String digest = Sha256.hex(new ByteArrayInputStream("abc".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", digest);
    }
}
