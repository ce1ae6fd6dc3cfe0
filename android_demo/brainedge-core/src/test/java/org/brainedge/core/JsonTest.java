package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {

    @Test
    public void parsesPythonJsonDumpsOutput() {
        Object value = Json.parse(" {\"a\": [1, -2.5, 1e-3, 3E2, true, false, null],\n"
                + " \"s\": \"q\\\"\\\\\\/\\n\\u00e9\\u2014\", \"n\": NaN, \"i\": -Infinity, \"e\": {}, \"l\": []} ");
        Map<?, ?> map = (Map<?, ?>) value;
        assertEquals(Arrays.<Object>asList(1L, -2.5, 0.001, 300.0, true, false, null), map.get("a"));
        assertEquals("q\"\\/\n\u00e9\u2014", map.get("s"));
        assertTrue(Double.isNaN((Double) map.get("n")));
        assertEquals(Double.NEGATIVE_INFINITY, map.get("i"));
        assertTrue(((Map<?, ?>) map.get("e")).isEmpty());
        assertTrue(((List<?>) map.get("l")).isEmpty());
    }

    @Test
    public void keepsDoublesExactlyAsPythonWroteThem() {
        assertEquals(0.007843137718737125, (Double) Json.parse("0.007843137718737125"), 0);
        assertEquals(9007199254740993L, Json.parse("9007199254740993"));
        assertEquals(1e30, (Double) Json.parse("1000000000000000000000000000000"), 0);
    }

    @Test
    public void refusesBrokenJson() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"abc", "tru", "{} x",
                "{\"a\": 1, \"a\": 2}", "\"\\x\"", "-"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().contains("offset"));
            }
        }
    }

    @Test
    public void writesWhatItReads() {
        Map<String, Object> map = new LinkedHashMap<String, Object>();
        map.put("text", "tab\tquote\" \u2014");
        map.put("int", 3);
        map.put("long", 1L << 40);
        map.put("double", 0.1);
        map.put("nan", Double.NaN);
        map.put("list", Arrays.<Object>asList(1L, "x", null, new LinkedHashMap<String, Object>()));
        Map<?, ?> back = (Map<?, ?>) Json.parse(Json.write(map));
        assertEquals("tab\tquote\" \u2014", back.get("text"));
        assertEquals(3L, back.get("int"));
        assertEquals(1L << 40, back.get("long"));
        assertEquals(0.1, back.get("double"));
        assertNull(back.get("nan"));
        assertEquals(4, ((List<?>) back.get("list")).size());
    }
}
