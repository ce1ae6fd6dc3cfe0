package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.color.ICC_ColorSpace;
import java.awt.color.ICC_Profile;
import java.awt.image.BufferedImage;
import java.awt.image.ColorConvertOp;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;
import javax.imageio.ImageIO;
import org.junit.Test;

/**
 * Colour-profiled PNGs (an embedded ICC profile, a gAMA chunk): what the model sees.
 *
 * <p>Pillow, and so the Python runtime and training, ignore iCCP and gAMA: a pixel is the value
 * stored in the file (tests/test_android_app.py checks that side). Android's BitmapFactory
 * (API 26+) keeps the colour space the file embeds when it can, and {@code Bitmap.getPixels}
 * would convert to sRGB; the app therefore reads the stored values with
 * {@code copyPixelsToBuffer} (ImageDecoding.kt), which equals Pillow's decode whenever the decoder
 * kept the embedded colour space. A colour-managed read gives different pixels, so a different
 * input tensor. The JDK's PNG reader, like Pillow, ignores iCCP and gAMA; ColorConvertOp stands in
 * for Android's conversion.
 */
public class ColourProfileTest {
    private static final int WIDTH = 24;
    private static final int HEIGHT = 16;

    /** An RGB gradient: every channel takes many values, mid-tones included. */
    private static byte[] pixels() {
        byte[] rgb = new byte[WIDTH * HEIGHT * 3];
        for (int y = 0; y < HEIGHT; y++) {
            for (int x = 0; x < WIDTH; x++) {
                int i = (y * WIDTH + x) * 3;
                rgb[i] = (byte) (x * 255 / (WIDTH - 1));
                rgb[i + 1] = (byte) (y * 255 / (HEIGHT - 1));
                rgb[i + 2] = (byte) ((x * 7 + y * 13) % 256);
            }
        }
        return rgb;
    }

    @Test
    public void storedValuesOfAnIccProfiledPngGiveTheUnprofiledTensor() throws IOException {
        byte[] rgb = pixels();
        byte[] linearProfile = ICC_Profile.getInstance(ColorSpace.CS_LINEAR_RGB).getData();
        byte[] png = png(rgb, "iCCP", iccp(linearProfile));
        assertArrayEquals("raw samples = the stored values (what Pillow and the app read)", rgb, rawSamples(png));
        InputSpec spec = Golden.metadata("metadata/uint8_google.json").input;
        assertArrayEquals(Preprocessor.toInputTensor(RgbImage.fromRgb(rgb, WIDTH, HEIGHT), spec).bytes(),
                Preprocessor.toInputTensor(RgbImage.fromRgb(rawSamples(png), WIDTH, HEIGHT), spec).bytes());
    }

    @Test
    public void aColourManagedDecodeOfTheSameFileDiffers() throws IOException {
        // The JDK's PNG reader, like Pillow, does not apply iCCP: its getRGB equals the stored values.
        byte[] rgb = pixels();
        ICC_Profile linear = ICC_Profile.getInstance(ColorSpace.CS_LINEAR_RGB);
        byte[] png = png(rgb, "iCCP", iccp(linear.getData()));
        BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(stored(rgb, 5, 3), decoded.getRGB(5, 3) & 0xffffff);
        // A colour-managed decoder (Android's getPixels on a bitmap that kept this colour space, or
        // inPreferredColorSpace = sRGB) converts the stored values from the embedded profile to sRGB:
        WritableRaster raster = decoded.copyData(null);
        ColorModel model = new ComponentColorModel(new ICC_ColorSpace(linear), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_BYTE);
        BufferedImage tagged = new BufferedImage(model, raster, false, null);
        BufferedImage converted = new ColorConvertOp(null).filter(tagged,
                new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB));
        int differing = 0;
        for (int y = 0; y < HEIGHT; y++) {
            for (int x = 0; x < WIDTH; x++) {
                if ((converted.getRGB(x, y) & 0xffffff) != stored(rgb, x, y)) {
                    differing++;
                }
            }
        }
        assertTrue("converting a linear-RGB image to sRGB changes most pixels, got " + differing,
                differing > WIDTH * HEIGHT / 2);
    }

    private static int stored(byte[] rgb, int x, int y) {
        int i = (y * WIDTH + x) * 3;
        return (rgb[i] & 0xff) << 16 | (rgb[i + 1] & 0xff) << 8 | (rgb[i + 2] & 0xff);
    }

    @Test
    public void aGamaChunkDoesNotChangeTheStoredValues() throws IOException {
        byte[] rgb = pixels();
        byte[] gama = new byte[] {0, 1, (byte) 0x86, (byte) 0xa0}; // gamma 1.0 (100000 / 100000)
        byte[] png = png(rgb, "gAMA", gama);
        assertArrayEquals(rgb, rawSamples(png));
        assertEquals(WIDTH, ImageIO.read(new ByteArrayInputStream(png)).getWidth());
    }

    private static byte[] rawSamples(byte[] png) throws IOException {
        Raster raster = ImageIO.read(new ByteArrayInputStream(png)).getRaster();
        int[] samples = raster.getPixels(0, 0, WIDTH, HEIGHT, (int[]) null);
        byte[] out = new byte[samples.length];
        for (int i = 0; i < samples.length; i++) {
            out[i] = (byte) samples[i];
        }
        return out;
    }

    private static byte[] iccp(byte[] profile) throws IOException {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.write("linear".getBytes(StandardCharsets.ISO_8859_1));
        data.write(0); // name terminator
        data.write(0); // compression method: deflate
        data.write(deflate(profile));
        return data.toByteArray();
    }

    /** An 8-bit RGB PNG with one extra ancillary chunk before the image data. */
    static byte[] png(byte[] rgb, String extraType, byte[] extraData) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(header);
        h.writeInt(WIDTH);
        h.writeInt(HEIGHT);
        h.write(new byte[] {8, 2, 0, 0, 0}); // 8-bit, truecolour, deflate, adaptive filter, no interlace
        chunk(out, "IHDR", header.toByteArray());
        chunk(out, extraType, extraData);
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (int y = 0; y < HEIGHT; y++) {
            raw.write(0); // filter: none
            raw.write(rgb, y * WIDTH * 3, WIDTH * 3);
        }
        chunk(out, "IDAT", deflate(raw.toByteArray()));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeflaterOutputStream deflater = new DeflaterOutputStream(out)) {
            deflater.write(data);
        }
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        d.writeInt(data.length);
        d.write(typeBytes);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
