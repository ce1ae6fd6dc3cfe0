package org.brainedge.core;

import java.util.Arrays;

/** One float32 array of a head file: its shape and its values in row-major (C) order. */
public final class FloatTensor {
    private final int[] shape;
    private final float[] values;

    FloatTensor(int[] shape, float[] values) {
        this.shape = shape.clone();
        this.values = values;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int axis) {
        return shape[axis];
    }

    /** Whether every value is a number, neither NaN nor an infinity. */
    public boolean isFinite() {
        return Postprocessor.allFinite(values);
    }

    /** The values as doubles, the precision the head computes in (as Python's astype(np.float64)). */
    public double[] toDoubles() {
        double[] result = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = values[i];
        }
        return result;
    }

    /** A rank-2 tensor as rows of doubles. */
    public double[][] toMatrix() {
        if (shape.length != 2) {
            throw new IllegalStateException("not a matrix: shape " + Arrays.toString(shape));
        }
        double[][] rows = new double[shape[0]][shape[1]];
        for (int r = 0; r < shape[0]; r++) {
            for (int c = 0; c < shape[1]; c++) {
                rows[r][c] = values[r * shape[1] + c];
            }
        }
        return rows;
    }

    /** Shape as Python prints it, e.g. "(16, 8)" or "(4,)", for messages that match the runtime's. */
    public String shapeText() {
        return shapeText(shape);
    }

    static String shapeText(int[] shape) {
        StringBuilder text = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            text.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return text.append(shape.length == 1 ? ",)" : ")").toString();
    }
}
