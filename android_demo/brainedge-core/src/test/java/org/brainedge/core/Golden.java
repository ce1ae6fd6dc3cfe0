package org.brainedge.core;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** The golden files written by android_demo/tools/make_golden.py from the Python runtime. */
final class Golden {
    private Golden() {
    }

    static File dir() {
        URL url = Golden.class.getClassLoader().getResource("golden/cases.json");
        if (url == null) {
            throw new IllegalStateException("golden/cases.json is not on the test classpath");
        }
        try {
            return new File(url.toURI()).getParentFile();
        } catch (URISyntaxException error) {
            throw new IllegalStateException(error);
        }
    }

    static byte[] bytes(String relative) throws IOException {
        return Files.readAllBytes(new File(dir(), relative).toPath());
    }

    static String text(String relative) throws IOException {
        return new String(bytes(relative), StandardCharsets.UTF_8);
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> cases(String kind) throws IOException {
        Map<String, Object> all = (Map<String, Object>) Json.parse(text("cases.json"));
        return (List<Map<String, Object>>) all.get(kind);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> section(String kind) throws IOException {
        Map<String, Object> all = (Map<String, Object>) Json.parse(text("cases.json"));
        return (Map<String, Object>) all.get(kind);
    }

    static BundleMetadata metadata(String relative) throws IOException {
        return BundleMetadata.parse(text(relative), relative);
    }

    /** Decode a PNG to exact 8-bit samples (the raster, no colour conversion) as the Python side sees them. */
    static RgbImage image(String relative) throws IOException {
        BufferedImage image = ImageIO.read(new File(dir(), relative));
        Raster raster = image.getRaster();
        int width = image.getWidth();
        int height = image.getHeight();
        int bands = raster.getNumBands();
        int[] samples = raster.getPixels(0, 0, width, height, (int[]) null);
        byte[] packed = new byte[samples.length];
        for (int i = 0; i < samples.length; i++) {
            packed[i] = (byte) samples[i];
        }
        switch (bands) {
            case 1:
                return RgbImage.fromGray(packed, width, height);
            case 3:
                return RgbImage.fromRgb(packed, width, height);
            case 4:
                return RgbImage.fromRgba(packed, width, height);
            default:
                throw new IllegalStateException(relative + ": unexpected " + bands + " bands");
        }
    }
}
