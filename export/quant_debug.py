"""Per-layer quantization error report, for an int8 variant that lost accuracy.

TFLite's QuantizationDebugger runs the float and the int8 model side by side on the
representative images and measures every quantized layer's output error. Layers are
ranked by RMSE divided by the layer's quantization scale (the tutorial's measure): a
value well above ~0.3 (the error of rounding alone, 1/sqrt(12)) means the layer's int8
range fits its values badly. The debugger needs a calibrated (post-training) model, so
the report of a QAT or ONNX int8 variant is the post-training one of the same float
graph: it names the layers that are hard to quantize, which they share.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.export.tflite import converter_for, representative_batches
from brainedge.train.tf_setup import keras, tf

DEBUG_JSON = "quantization_debug.json"
DEBUG_MARKDOWN = "quantization_debug.md"
TOP_LAYERS = 5


def layer_errors(model: keras.Model, representative: np.ndarray) -> list[dict[str, Any]]:
    """Every quantized layer's error statistics, worst (highest RMSE/scale) first."""
    converter = converter_for(model, "int8_ptq", representative, io_dtype="float32")
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: representative_batches(representative)
        )
        debugger.run()
    except Exception as error:  # the debugger raises bare ValueErrors and RuntimeErrors
        raise BrainEdgeError(f"quantization debugger failed: {str(error).strip().splitlines()[0]}") from None
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)  # the public view: one CSV row per quantized layer
    layers = []
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        scale, rmse = float(row["scale"]), float(np.sqrt(float(row["mean_squared_error"])))
        layers.append(
            {
                "layer": row["tensor_name"],
                "op": row["op_name"],
                "rmse": rmse,
                "scale": scale,
                "rmse_over_scale": rmse / scale if scale else float("inf"),
                "max_abs_error": float(row["max_abs_error"]),
                "mean_error": float(row["mean_error"]),
            }
        )
    return sorted(layers, key=lambda layer: layer["rmse_over_scale"], reverse=True)


def write_report(
    directory: Path, variant: str, accuracy_drop: float, layers: list[dict[str, Any]], images: int
) -> None:
    """quantization_debug.json (every layer) and .md (the worst few, readable) in ``directory``."""
    record = {
        "variant": variant,
        "accuracy_drop_points": accuracy_drop,
        "debug_images": images,
        "method": "tf.lite.experimental.QuantizationDebugger on the float model, post-training "
        "int8; ranked by rmse/scale",
        "layers": layers,
    }
    (directory / DEBUG_JSON).write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"# Quantization debug: {variant}",
        "",
        f"Accuracy {accuracy_drop:.2f} points below the float model; per-layer error of post-training "
        f"int8 on {images} representative images, worst first (rmse/scale ≈ 0.29 is rounding alone).",
        "",
        "| layer | op | rmse/scale | rmse | scale | max abs error |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{layer['layer']}` | {layer['op']} | {layer['rmse_over_scale']:.3f} | {layer['rmse']:.5f} | "
        f"{layer['scale']:.5f} | {layer['max_abs_error']:.5f} |"
        for layer in layers
    ]
    (directory / DEBUG_MARKDOWN).write_text("\n".join(lines) + "\n")


def summary(layers: list[dict[str, Any]], top: int = TOP_LAYERS) -> str:
    """The worst layers, one per line, for the console."""
    return "\n".join(f"  {layer['rmse_over_scale']:8.3f}  {layer['op']:<18} {layer['layer']}" for layer in layers[:top])
