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
 */
public class BundleSchemaTest {
    private static final String[] VALID = {"metadata/int8.json", "metadata/uint8_google.json",
            "metadata/float32_logits.json", "metadata/float32_probs.json"};

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object value) {
        return (Map<String, Object>) value;
    }

    private static Map<String, Object> schema() throws IOException {
        return object(Json.parse(Golden.text("metadata.schema.json")));
    }

    private static Map<String, Object> document(String relative) throws IOException {
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
        Map<String, Object> valid = document("metadata/int8.json");
        for (String key : (List<String>) schema.get("required")) {
            Map<String, Object> mutated = copy(valid);
            mutated.remove(key);
            assertRefused(mutated, "no " + key);
        }
        Map<String, Object> properties = object(schema.get("properties"));
        for (String part : new String[] {"input", "output"}) {
            for (String key : (List<String>) object(properties.get(part)).get("required")) {
                Map<String, Object> mutated = copy(valid);
                object(mutated.get(part)).remove(key);
                assertRefused(mutated, "no " + part + "." + key);
            }
        }
    }

    @Test
    public void keysOutsideTheSchemaAreRefused() throws IOException {
        Map<String, Object> valid = document("metadata/int8.json");
        Map<String, Object> mutated = copy(valid);
        mutated.put("calibration", new LinkedHashMap<String, Object>());
        assertRefused(mutated, "an unknown top-level key");
        for (String part : new String[] {"input", "output"}) {
            mutated = copy(valid);
            object(mutated.get(part)).put("unknown", 1L);
            assertRefused(mutated, "an unknown key in " + part);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void theSchemaAndTheParserKnowTheSameKeys() throws IOException {
        Map<String, Object> schema = schema();
        Map<String, Object> valid = document("metadata/int8.json");
        List<String> documentKeys = new ArrayList<String>(valid.keySet());
        List<String> schemaKeys = new ArrayList<String>(object(schema.get("properties")).keySet());
        java.util.Collections.sort(documentKeys);
        java.util.Collections.sort(schemaKeys);
        assertEquals("the Python writer emits exactly the schema's keys", schemaKeys, documentKeys);
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
}
