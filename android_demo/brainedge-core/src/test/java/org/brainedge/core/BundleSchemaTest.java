package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * BundleMetadata accepts and refuses what metadata.schema.json (the Python runtime's schema, copied into
 * the goldens by make_golden.py) says: every required key, no unknown key, the enumerated values.
 * The schema is version 2's; the schema 1 goldens (written as that runtime wrote them) stay valid.
 */
public class BundleSchemaTest {
    private static final String[] VALID = {"metadata/int8.json", "metadata/uint8_google.json",
            "metadata/float32_logits.json", "metadata/float32_probs.json", "metadata/head_float32.json",
            "metadata/head_int8.json", "metadata/head_uint8.json", "metadata/head_plain.json"};
    /** A schema 2 golden with every optional part present (head, calibration, OOD, referral). */
    private static final String FULL = "metadata/head_float32.json";
    private static final String[] PARTS = {"input", "output", "head", "calibration", "out_of_distribution",
            "referral"};

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object value) {
        return (Map<String, Object>) value;
    }

    private static Map<String, Object> schema() throws IOException {
        return object(Json.parse(Golden.text("metadata.schema.json")));
    }

    static Map<String, Object> document(String relative) throws IOException {
        return object(Json.parse(Golden.text(relative)));
    }

    /** A deep copy, so each mutation starts from the valid document. */
    private static Map<String, Object> copy(Map<String, Object> document) {
        return object(Json.parse(Json.write(document)));
    }

    private static void assertRefused(Map<String, Object> document, String what) {
        try {
            BundleMetadata.parse(Json.write(document), what);
        } catch (BrainEdgeException expected) {
            return;
        }
        fail("accepted a document with " + what);
    }

    @Test
    public void everyGoldenDocumentIsValid() throws IOException {
        for (String relative : VALID) {
            BundleMetadata.parse(Golden.text(relative), relative);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void everyRequiredKeyIsRequired() throws IOException {
        Map<String, Object> schema = schema();
        for (String relative : new String[] {"metadata/int8.json", FULL}) {
            Map<String, Object> valid = document(relative);
            for (String key : (List<String>) schema.get("required")) {
                Map<String, Object> mutated = copy(valid);
                mutated.remove(key);
                assertRefused(mutated, "no " + key);
            }
        }
        Map<String, Object> valid = document(FULL);
        Map<String, Object> properties = object(schema.get("properties"));
        for (String part : PARTS) {
            for (String key : (List<String>) object(properties.get(part)).get("required")) {
                Map<String, Object> mutated = copy(valid);
                object(mutated.get(part)).remove(key);
                assertRefused(mutated, "no " + part + "." + key);
            }
        }
        Map<String, Object> layerSchema = object(object(schema.get("$defs")).get("dense_layer"));
        for (String key : (List<String>) layerSchema.get("required")) {
            Map<String, Object> mutated = copy(valid);
            object(((List<Object>) object(mutated.get("head")).get("layers")).get(0)).remove(key);
            assertRefused(mutated, "no head.layers[0]." + key);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void keysOutsideTheSchemaAreRefused() throws IOException {
        Map<String, Object> valid = document(FULL);
        Map<String, Object> mutated = copy(valid);
        mutated.put("explanations", new LinkedHashMap<String, Object>());
        assertRefused(mutated, "an unknown top-level key");
        for (String part : PARTS) {
            mutated = copy(valid);
            object(mutated.get(part)).put("unknown", 1L);
            assertRefused(mutated, "an unknown key in " + part);
        }
        mutated = copy(valid);
        object(((List<Object>) object(mutated.get("head")).get("layers")).get(0)).put("dropout", 0.5);
        assertRefused(mutated, "an unknown key in a head layer");
    }

    @Test
    @SuppressWarnings("unchecked")
    public void theSchemaAndTheParserKnowTheSameKeys() throws IOException {
        Map<String, Object> schema = schema();
        Map<String, Object> properties = object(schema.get("properties"));
        Map<String, Object> valid = document(FULL);
        assertEquals("the Python writer emits exactly the schema's keys", sorted(properties.keySet()),
                sorted(valid.keySet()));
        for (String part : PARTS) {
            assertEquals("the Python writer emits exactly the schema's " + part + " keys",
                    sorted(object(object(properties.get(part)).get("properties")).keySet()),
                    sorted(object(valid.get(part)).keySet()));
        }
        List<String> schemaOne = new ArrayList<String>(properties.keySet());
        schemaOne.removeAll(java.util.Arrays.asList("head", "calibration", "out_of_distribution", "referral"));
        assertEquals("a schema 1 bundle has the keys of version 1 only", sorted(schemaOne),
                sorted(document("metadata/int8.json").keySet()));
    }

    private static List<String> sorted(java.util.Collection<String> keys) {
        List<String> list = new ArrayList<String>(keys);
        java.util.Collections.sort(list);
        return list;
    }

    @Test
    @SuppressWarnings("unchecked")
    public void enumeratedValuesAreTheOnlyOnesAccepted() throws IOException {
        Map<String, Object> properties = object(schema().get("properties"));
        Map<String, Object> valid = document("metadata/float32_logits.json");
        for (Object activation : (List<Object>) object(object(object(properties.get("output")).get("properties"))
                .get("activation")).get("enum")) {
            Map<String, Object> mutated = copy(valid);
            object(mutated.get("output")).put("activation", activation);
            BundleMetadata.parse(Json.write(mutated), "activation " + activation);
        }
        Map<String, Object> mutated = copy(valid);
        object(mutated.get("output")).put("activation", "sigmoid");
        assertRefused(mutated, "an activation outside the schema's enum");
        mutated = copy(valid);
        object(mutated.get("input")).put("resize_method", "bicubic");
        assertRefused(mutated, "a resize method outside the schema");
        mutated = copy(valid);
        List<Object> std = (List<Object>) object(mutated.get("input")).get("std");
        std.set(1, 0.0);
        assertRefused(mutated, "a zero std, which the schema excludes");
    }

    @Test
    @SuppressWarnings("unchecked")
    public void schemaTwoEnumsAndConstantsAreTheOnlyValuesAccepted() throws IOException {
        Map<String, Object> schema = schema();
        Map<String, Object> properties = object(schema.get("properties"));
        Map<String, Object> layer = object(object(object(object(schema.get("$defs")).get("dense_layer"))
                .get("properties")).get("activation"));
        Map<String, Object> valid = document(FULL);
        for (Object activation : (List<Object>) layer.get("enum")) {
            Map<String, Object> mutated = copy(valid);
            object(((List<Object>) object(mutated.get("head")).get("layers")).get(0)).put("activation", activation);
            BundleMetadata.parse(Json.write(mutated), "layer activation " + activation);
        }
        String[][] constants = {{"head", "pooling"}, {"calibration", "method"}, {"out_of_distribution", "method"}};
        for (String[] constant : constants) {
            Object allowed = object(object(object(properties.get(constant[0])).get("properties")).get(constant[1]))
                    .get("const");
            Map<String, Object> mutated = copy(valid);
            object(mutated.get(constant[0])).put(constant[1], allowed);
            BundleMetadata.parse(Json.write(mutated), constant[0] + "." + constant[1]);
            object(mutated.get(constant[0])).put(constant[1], allowed + "_other");
            assertRefused(mutated, constant[0] + "." + constant[1] + " other than the schema's constant");
        }
        for (String part : new String[] {"head", "calibration", "out_of_distribution", "referral"}) {
            Map<String, Object> mutated = copy(valid);
            mutated.put(part, "yes");
            assertRefused(mutated, part + " that is not an object or null");
        }
    }
}
