package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** EXIF orientations 1..8 turn a photo upright exactly as the Python runtime's exif_transpose does. */
public class OrientationGoldenTest {

    @Test
    public void everyExifOrientationMatchesPython() throws Exception {
        List<Map<String, Object>> cases = Golden.cases("orientation");
        assertEquals(8, cases.size());
        for (Map<String, Object> c : cases) {
            int orientation = ((Number) c.get("orientation")).intValue();
            RgbImage upright = Golden.image((String) c.get("base")).oriented(orientation);
            RgbImage expected = Golden.image((String) c.get("expected"));
            assertEquals("width for orientation " + orientation, expected.width, upright.width);
            assertEquals("height for orientation " + orientation, expected.height, upright.height);
            assertArrayEquals("pixels for orientation " + orientation, expected.toArgb(), upright.toArgb());
        }
    }
}
