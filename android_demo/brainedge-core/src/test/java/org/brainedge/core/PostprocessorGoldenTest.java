package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Java postprocessing ranks Python's recorded raw outputs as the Python classifier does. */
public class PostprocessorGoldenTest {

    @Test
    public void recordedOutputsGivePythonsTopKScoresAndUncertainty() throws Exception {
        List<Map<String, Object>> cases = Golden.cases("postprocess");
        assertTrue("expected postprocessing goldens", cases.size() >= 8);
        int uncertain = 0;
        for (Map<String, Object> c : cases) {
            String name = (String) c.get("name");
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            double tolerance = ((Number) c.get("tolerance")).doubleValue();
            ByteBuffer raw = ByteBuffer.wrap(Golden.bytes((String) c.get("raw"))).order(ByteOrder.LITTLE_ENDIAN);
            float[] probabilities = Postprocessor.probabilities(raw, metadata.output);

            float[] expected = floats(Golden.bytes((String) c.get("probabilities")));
            assertEquals(name, expected.length, probabilities.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(name + " probability " + i, expected[i], probabilities[i], tolerance);
            }

            int topK = ((Number) c.get("k")).intValue();
            Prediction prediction = Postprocessor.rank(probabilities, metadata.classNames, topK,
                    metadata.confidenceThreshold);
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> ranked = (List<Map<String, Object>>) c.get("top_k");
            assertEquals(name + " top-k length", ranked.size(), prediction.topK.size());
            for (int i = 0; i < ranked.size(); i++) {
                assertEquals(name + " rank " + i, ranked.get(i).get("label"), prediction.topK.get(i).label);
                assertEquals(name + " score " + i, ((Number) ranked.get(i).get("score")).doubleValue(),
                        prediction.topK.get(i).score, tolerance);
            }
            assertEquals(name + " uncertain", c.get("uncertain"), prediction.uncertain);
            uncertain += prediction.uncertain ? 1 : 0;
        }
        assertTrue("goldens must hold confident and uncertain cases", uncertain > 0 && uncertain < cases.size());
    }

    @Test
    public void quantizedOutputsDequantizeExactly() throws Exception {
        for (Map<String, Object> c : Golden.cases("postprocess")) {
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            if (metadata.output.quantization == null) {
                continue;
            }
            ByteBuffer raw = ByteBuffer.wrap(Golden.bytes((String) c.get("raw")));
            float[] expected = floats(Golden.bytes((String) c.get("probabilities")));
            float[] actual = Postprocessor.probabilities(raw, metadata.output);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(c.get("name") + " class " + i, Float.floatToIntBits(expected[i]),
                        Float.floatToIntBits(actual[i]));
            }
        }
    }

    @Test
    public void schemaOneBundlesPostprocessAsBeforeWithNoOodState() throws Exception {
        for (Map<String, Object> c : Golden.cases("postprocess")) {
            String name = (String) c.get("name");
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            assertEquals(name, 1, metadata.schemaVersion);
            ByteBuffer raw = ByteBuffer.wrap(Golden.bytes((String) c.get("raw"))).order(ByteOrder.LITTLE_ENDIAN);
            Outputs outputs = Postprocessor.outputs(raw, metadata, null);
            float[] probabilities = Postprocessor.probabilities(raw, metadata.output);
            for (int i = 0; i < probabilities.length; i++) {
                assertEquals(name, Float.floatToIntBits(probabilities[i]), Float.floatToIntBits(outputs.probabilities[i]));
            }
            assertNull(outputs.features);
            assertNull(outputs.oodScore);
            Prediction prediction = Postprocessor.rank(outputs, metadata.classNames, ((Number) c.get("k")).intValue(),
                    metadata.confidenceThreshold);
            assertNull(name, prediction.outOfDistribution);
            assertNull(name, prediction.oodScore);
            assertFalse(name, prediction.notRecognised());
            assertEquals(name, prediction.uncertain ? Prediction.UNCERTAIN : prediction.best().label,
                    prediction.headline());
        }
    }

    static float[] floats(byte[] littleEndian) {
        float[] values = new float[littleEndian.length / 4];
        ByteBuffer.wrap(littleEndian).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }
}
