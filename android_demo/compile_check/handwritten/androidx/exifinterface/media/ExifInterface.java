// Compile-check stub (never packaged): the members of androidx.exifinterface.media.ExifInterface
// (androidx.exifinterface:exifinterface:1.3.7, the version in gradle/libs.versions.toml) that the
// app may use. No chaquopy-stubs package covers exifinterface, so these few are written by hand.
package androidx.exifinterface.media;

import java.io.IOException;
import java.io.InputStream;

public class ExifInterface {
    public static final String TAG_ORIENTATION = "Orientation";
    public static final int ORIENTATION_UNDEFINED = 0;
    public static final int ORIENTATION_NORMAL = 1;
    public static final int ORIENTATION_FLIP_HORIZONTAL = 2;
    public static final int ORIENTATION_ROTATE_180 = 3;
    public static final int ORIENTATION_FLIP_VERTICAL = 4;
    public static final int ORIENTATION_TRANSPOSE = 5;
    public static final int ORIENTATION_ROTATE_90 = 6;
    public static final int ORIENTATION_TRANSVERSE = 7;
    public static final int ORIENTATION_ROTATE_270 = 8;

    public ExifInterface(String filename) throws IOException { }
    public ExifInterface(InputStream inputStream) throws IOException { }
    public ExifInterface(java.io.File file) throws IOException { }

    public String getAttribute(String tag) { throw new UnsupportedOperationException(); }
    public int getAttributeInt(String tag, int defaultValue) { throw new UnsupportedOperationException(); }
    public int getRotationDegrees() { throw new UnsupportedOperationException(); }
    public boolean isFlipped() { throw new UnsupportedOperationException(); }
}
