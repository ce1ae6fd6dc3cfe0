package org.brainedge.core;

/** Affine quantization of a tensor: real = (q - zeroPoint) * scale. */
public final class Quantization {
    public final double scale;
    public final int zeroPoint;

    public Quantization(double scale, int zeroPoint) {
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** Same zero point and a scale equal to within 1e-6 relative, as the Python runtime compares them. */
    public static boolean same(Quantization a, Quantization b) {
        if (a == null || b == null) {
            return a == b;
        }
        return a.zeroPoint == b.zeroPoint && Math.abs(a.scale - b.scale) <= 1e-6 * Math.abs(b.scale);
    }

    @Override
    public String toString() {
        return "Quantization(scale=" + scale + ", zero_point=" + zeroPoint + ")";
    }
}
