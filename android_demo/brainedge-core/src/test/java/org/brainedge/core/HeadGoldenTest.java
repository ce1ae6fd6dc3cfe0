package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The Java head reproduces the Python runtime's Classifier on recorded feature maps (float32, int8
 * and uint8): pooled features, logits, calibrated probabilities, the OOD score, and every decision.
 */
public class HeadGoldenTest {

    private static Head head(Map<String, Object> c, BundleMetadata metadata) throws Exception {
        byte[] file = Golden.bytes((String) c.get("head"));
        Sha256.checkHead(Sha256.hex(new ByteArrayInputStream(file)), metadata, (String) c.get("head"));
        return Head.load(metadata, file, (String) c.get("head"));
    }

    private static Outputs outputs(Map<String, Object> c, BundleMetadata metadata) throws Exception {
        ByteBuffer raw = ByteBuffer.wrap(Golden.bytes((String) c.get("raw"))).order(ByteOrder.LITTLE_ENDIAN);
        return Postprocessor.outputs(raw, metadata, head(c, metadata));
    }

    private static double number(Map<String, Object> c, String key) {
        return ((Number) c.get(key)).doubleValue();
    }

    @Test
    public void featuresLogitsAndProbabilitiesAreThePythonRuntimes() throws Exception {
        List<Map<String, Object>> cases = Golden.cases("head");
        assertTrue("expected head goldens", cases.size() >= 20);
        for (Map<String, Object> c : cases) {
            String name = (String) c.get("name");
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            Outputs outputs = outputs(c, metadata);
            double featureTolerance = number(c, "feature_tolerance");

            double[] features = doubles(Golden.bytes((String) c.get("features")));
            assertEquals(name, features.length, outputs.features.length);
            for (int i = 0; i < features.length; i++) {
                assertEquals(name + " feature " + i, features[i], outputs.features[i],
                        featureTolerance * Math.max(1, Math.abs(features[i])));
            }
            @SuppressWarnings("unchecked")
            List<Number> logits = (List<Number>) c.get("logits");
            for (int i = 0; i < logits.size(); i++) {
                double expected = logits.get(i).doubleValue();
                assertEquals(name + " logit " + i, expected, outputs.logits[i],
                        featureTolerance * Math.max(1, Math.abs(expected)));
            }
            float[] probabilities = PostprocessorGoldenTest.floats(Golden.bytes((String) c.get("probabilities")));
            for (int i = 0; i < probabilities.length; i++) {
                assertEquals(name + " probability " + i, probabilities[i], outputs.probabilities[i],
                        number(c, "tolerance"));
            }
        }
    }

    @Test
    public void oodScoresAndEveryDecisionMatch() throws Exception {
        int ood = 0;
        int recognised = 0;
        int cannotTell = 0;
        int uncertain = 0;
        int confidentButNotRecognised = 0;
        for (Map<String, Object> c : Golden.cases("head")) {
            String name = (String) c.get("name");
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            Prediction prediction = Postprocessor.rank(outputs(c, metadata), metadata.classNames,
                    ((Number) c.get("k")).intValue(), metadata.confidenceThreshold);

            @SuppressWarnings("unchecked")
            List<Map<String, Object>> ranked = (List<Map<String, Object>>) c.get("top_k");
            assertEquals(name + " top-k length", ranked.size(), prediction.topK.size());
            for (int i = 0; i < ranked.size(); i++) {
                assertEquals(name + " rank " + i, ranked.get(i).get("label"), prediction.topK.get(i).label);
                assertEquals(name + " score " + i, ((Number) ranked.get(i).get("score")).doubleValue(),
                        prediction.topK.get(i).score, number(c, "tolerance"));
            }
            assertEquals(name + " uncertain", c.get("uncertain"), prediction.uncertain);
            assertEquals(name + " out of distribution", c.get("ood"), prediction.outOfDistribution);
            if (c.get("ood_score") == null) {
                assertNull(name + " has no OOD model", prediction.oodScore);
                cannotTell++;
            } else {
                double expected = number(c, "ood_score");
                assertEquals(name + " OOD score", expected, prediction.oodScore,
                        number(c, "ood_relative_tolerance") * Math.abs(expected));
                ood += prediction.notRecognised() ? 1 : 0;
                recognised += prediction.notRecognised() ? 0 : 1;
                confidentButNotRecognised += prediction.notRecognised() && !prediction.uncertain ? 1 : 0;
            }
            uncertain += prediction.uncertain ? 1 : 0;
            String headline = prediction.notRecognised() ? Prediction.NOT_RECOGNISED
                    : prediction.uncertain ? Prediction.UNCERTAIN : prediction.best().label;
            assertEquals(name + " headline", headline, prediction.headline());
        }
        assertTrue("goldens must hold recognised and not recognised images", ood > 0 && recognised > 0);
        assertTrue("goldens must hold a bundle without an OOD model", cannotTell > 0);
        assertTrue("goldens must hold uncertain answers", uncertain > 0);
        assertTrue("goldens must hold a confident answer that is still not recognised", confidentButNotRecognised > 0);
    }

    @Test
    public void everyFeatureMapDtypeIsCovered() throws Exception {
        java.util.Set<String> dtypes = new java.util.TreeSet<String>();
        for (Map<String, Object> c : Golden.cases("head")) {
            dtypes.add((String) c.get("raw_dtype"));
        }
        assertEquals("[float32, int8, uint8]", dtypes.toString());
    }

    @Test
    public void thePhrasesAreThePythonRuntimes() throws Exception {
        Map<String, Object> phrases = Golden.section("phrases");
        assertEquals(phrases.get("uncertain"), Prediction.UNCERTAIN);
        assertEquals(phrases.get("not_recognised"), Prediction.NOT_RECOGNISED);
    }

    static double[] doubles(byte[] littleEndian) {
        double[] values = new double[littleEndian.length / 8];
        ByteBuffer.wrap(littleEndian).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(values);
        return values;
    }
}
