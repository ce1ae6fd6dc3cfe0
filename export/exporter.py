"""Export a training run into verified bundles, one per format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from export.bundle import update_metadata, write_bundle
from export.formats import NEEDS_CALIBRATION, NEEDS_QAT_MODEL, chosen_formats
from export.run import FLOAT_MODEL, QAT_MODEL, LabelledImages, TrainingRun, representative_inputs
from export.tflite import convert
from export.verify import DEFAULT_MIN_AGREEMENT, bundle_probabilities, compare
from train.qat import load_qat_model
from train.tf_setup import keras, tf


def export_run(run_dir: Path, out: Path, formats: list[str], representative: int = 200,
               io_dtype: str = "uint8", verify_split: str = "val", verify_limit: int | None = None,
               min_agreement: float | None = None) -> list[dict[str, Any]]:
    """Convert, bundle and verify each format; a bundle that disagrees with Keras is removed."""
    run = TrainingRun.open(run_dir)
    formats = chosen_formats(formats, run.has_qat_model)
    min_agreement = DEFAULT_MIN_AGREEMENT if min_agreement is None else min_agreement
    images = LabelledImages.load(run, verify_split, verify_limit)
    inputs = images.float_inputs(run.input_spec)
    models = {"float": keras.models.load_model(run.path / FLOAT_MODEL)}
    if any(f in NEEDS_QAT_MODEL for f in formats):
        models["qat"] = load_qat_model(run.path / QAT_MODEL)
    references = {name: model.predict(inputs, verbose=0) for name, model in models.items()}
    calibration = None
    if any(f in NEEDS_CALIBRATION for f in formats):
        print(f"calibrating int8 on {representative} training images", flush=True)
        calibration = representative_inputs(run, representative)
    provenance = {**run.provenance(), "exporter": {"tensorflow": tf.__version__}}

    results = []
    for name in formats:
        source = "qat" if name in NEEDS_QAT_MODEL else "float"
        print(f"[{name}] converting and verifying on {len(images.labels)} {verify_split} images", flush=True)
        model_bytes = convert(models[source], name.removeprefix("tflite_"), calibration, io_dtype)
        bundle = out / name
        write_bundle(bundle, model_bytes, ".tflite", name, run.class_names, run.input_spec, provenance)
        check = compare(bundle_probabilities(bundle, images), references[source], images.labels)
        check.update(split=verify_split, reference=f"keras_{source}", min_agreement=min_agreement)
        update_metadata(bundle, verification=check)
        passed = check["agreement"] >= min_agreement
        if not passed:
            shutil.rmtree(bundle)
        results.append({"variant": name, "bundle": str(bundle), "size_bytes": len(model_bytes),
                        "passed": passed, **check})
    out.mkdir(parents=True, exist_ok=True)
    (out / "export_report.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
