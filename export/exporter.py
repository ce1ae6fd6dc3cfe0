"""Export a training run into verified bundles, one per variant."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.bundle import (
    PENDING,
    Bundle,
    holds_bundle,
    is_staging,
    publish,
    remove_abandoned_staging,
    staging_dir,
)
from brainedge.edge_runtime.engine import BatchOutputs
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import (
    LOCK_NAME,
    check_named_folder,
    check_output_folder,
    output_lock,
    shown,
    write_text_atomically,
)
from brainedge.edge_runtime.metadata import HeadSpec
from brainedge.edge_runtime.metrics import wilson_interval
from brainedge.edge_runtime.scoring import bundle_outputs
from brainedge.edge_runtime.tensors import tensors_to_bytes
from brainedge.edge_runtime.variants import VARIANT_NAMES, variant_named
from brainedge.export.bundle import write_bundle
from brainedge.export.head import feature_map_model, head_of
from brainedge.export.onnx import quantize_onnx, to_onnx
from brainedge.export.qualify import Qualification, SplitOutputs, qualify
from brainedge.export.quant_debug import DEBUG_JSON, DEBUG_MARKDOWN, layer_errors, summary, write_report
from brainedge.export.run import LabelledImages, TrainingRun, load_qat_model, representative_inputs
from brainedge.export.settings import DEFAULTS, ExportSettings
from brainedge.export.tflite import convert
from brainedge.export.tflite_metadata import embed_metadata
from brainedge.export.variants import chosen_variants
from brainedge.export.verify import passes, verification
from brainedge.train.tf_setup import keras, tf

DEBUG_IMAGES = 32


def check_export_folder(out: Path) -> None:
    """--out is new, empty or an earlier export's folder: a bundle replaces an older bundle of its name,
    so bundles written into a dataset or among a user's files would mix with them or replace them."""
    check_named_folder(out, "the bundles")
    check_output_folder(out)  # an --out under a file cannot take bundles
    if not out.is_dir():
        return
    entries = sorted(path.name for path in out.iterdir() if path.name != LOCK_NAME)  # an export at work
    not_bundles = [name for name in entries if name in VARIANT_NAMES and not holds_bundle(out / name)]
    if not_bundles:
        raise BrainEdgeError(
            f"{shown(out / not_bundles[0])}: not a bundle (no bundle metadata), which export would replace; "
            "move it or choose another --out"
        )
    if REPORT_FILE in entries and not is_export_report(out / REPORT_FILE):
        raise BrainEdgeError(f"{shown(out / REPORT_FILE)}: not brainedge-export's report; choose another --out")
    earlier_export = REPORT_FILE in entries or any(name in VARIANT_NAMES or is_staging(name) for name in entries)
    if entries and not earlier_export:
        raise BrainEdgeError(
            f"{shown(out)}: already holds other files ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}); "
            "choose a new or empty --out, or an earlier export's folder"
        )


def is_export_report(path: Path) -> bool:
    """export_report.json as update_report writes it: a list of rows naming their variant."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(rows, list) and all(isinstance(row, dict) and row.get("variant") in VARIANT_NAMES for row in rows)


def export_run(run_dir: Path, out: Path, settings: ExportSettings = DEFAULTS) -> list[dict[str, Any]]:
    """Convert, bundle, verify and qualify each variant; a bundle that disagrees with Keras is not kept."""
    settings.check()
    run = TrainingRun.open(run_dir)  # first: a RUN_DIR that is a file is named as such, not its export/
    check_export_folder(out)  # before hours of work
    with output_lock(out, "brainedge-export"):  # before anything in --out is removed or replaced
        return _export(run, out, settings)


def _export(run: TrainingRun, out: Path, settings: ExportSettings) -> list[dict[str, Any]]:
    """export_run's work, while it holds --out."""
    variants = chosen_variants(list(settings.variants), run.missing_qat_model())
    remove_abandoned_staging(out)
    calibration = None
    if any(variant_named(f).needs_calibration for f in variants):  # checked first: a short train split fails fast
        calibration = representative_inputs(run, settings.representative)
        print(f"calibrating int8 on {len(calibration)} training images", flush=True)
    images = LabelledImages.load(run, settings.verify_split, settings.verify_limit)
    same_images = settings.verify_split == "val" and not settings.verify_limit
    validation = images if same_images else LabelledImages.load(run, "val")
    fitting = LabelledImages.sample(run, "train", settings.ood_train_images)
    print(
        f"qualifying answers: temperature{' and referral threshold' if settings.target_accuracy else ''} "
        f"on {len(validation.labels)} val images, out-of-distribution model on {len(fitting.labels)} train images",
        flush=True,
    )
    inputs = images.float_inputs(run.input_spec)
    models = {"float": run.load_float_model()}
    if any(variant_named(f).needs_qat for f in variants):
        models["qat"] = load_qat_model(run)
    references = {name: model.predict(inputs, verbose=0) for name, model in models.items()}
    exporter = _Exporter(run, out, settings, models, references, images, calibration, validation, fitting)
    results = []
    for name in variants:
        results.append(exporter.export(name))
        out.mkdir(parents=True, exist_ok=True)
        update_report(out / REPORT_FILE, results[-1])
    return results


REPORT_FILE = "export_report.json"


def update_report(path: Path, row: dict[str, Any]) -> None:
    """Replace this bundle's row of the export report, as soon as the bundle is published (or refused).

    Written after every bundle, the report always describes the bundles in the folder, also when an
    export is interrupted halfway: rows of bundles this export did not reach stay as they were.
    """
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        rows = [r for r in rows if isinstance(r, dict) and r.get("variant") != row["variant"]]
    except (OSError, ValueError, TypeError):  # no report yet, or one nobody can read: start afresh
        rows = []
    order = {name: index for index, name in enumerate(VARIANT_NAMES)}
    rows = sorted([*rows, row], key=lambda r: order.get(r.get("variant"), len(order)))
    write_text_atomically(path, json.dumps(rows, indent=2) + "\n")


@dataclass
class _Exporter:
    """What every variant's export shares: the run, the Keras models and their answers."""

    run: TrainingRun
    out: Path
    settings: ExportSettings
    models: dict[str, keras.Model]
    references: dict[str, np.ndarray]
    images: LabelledImages
    calibration: np.ndarray | None
    validation: LabelledImages
    """The val split, where temperature, OOD threshold and referral threshold are chosen."""
    fitting: LabelledImages
    """Training images the out-of-distribution model is fitted on."""

    def export(self, name: str) -> dict[str, Any]:
        """Convert, write into staging, verify, debug if needed, qualify, then move into place (or not)."""
        source = "qat" if variant_named(name).needs_qat else "float"
        print(
            f"[{name}] converting and verifying on {len(self.images.labels)} {self.settings.verify_split} images",
            flush=True,
        )
        model_bytes = self.model_file(name, self.feature_models[source])
        target = self.out / name
        staging = staging_dir(target)
        qualification = None
        try:
            provenance = {**self.run.provenance(), "exporter": {"tensorflow": tf.__version__}}
            bundle = write_bundle(
                staging, model_bytes, name, self.run.class_names, self.run.input_spec, provenance, verification=PENDING
            )
            head, weights = self.heads[source]
            bundle = bundle.with_head(head, tensors_to_bytes(weights))
            validation = bundle_outputs(bundle, self.validation.images)
            outputs = validation if self.images is self.validation else bundle_outputs(bundle, self.images.images)
            check = self.verify(outputs.probabilities, source)
            bundle = bundle.with_metadata(verification=check)
            if variant_named(name).full_integer and check["accuracy_drop_points"] > self.settings.debug_threshold:
                self.debug(staging, name, check["accuracy_drop_points"])
            passed = passes(check, self.settings.min_agreement)
            if passed:
                qualification = self.qualify(bundle, weights, validation)
                publish(staging, target)
            else:
                self.keep_debug_report(staging, name)
                shutil.rmtree(target, ignore_errors=True)  # an older bundle of this name is stale now
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        size = Bundle.open(target).size_bytes if passed else len(model_bytes)
        row = {
            "variant": name,
            "bundle": str(target),
            "size_bytes": size,
            "model_bytes": len(model_bytes),
            "passed": passed,
            **check,
        }
        return {**row, **(_qualification_record(qualification) if qualification else {})}

    def qualify(self, bundle: Bundle, weights: dict[str, np.ndarray], validation: BatchOutputs) -> Qualification:
        """Fit temperature, OOD model and referral from this bundle's outputs; write them into its head and metadata."""
        print(f"[{bundle.metadata.variant}] qualifying on {len(self.fitting.labels)} train images", flush=True)
        fitted = bundle_outputs(bundle, self.fitting.images)
        result = qualify(
            SplitOutputs(fitted.logits, fitted.features, self.fitting.labels),
            SplitOutputs(validation.logits, validation.features, self.validation.labels),
            self.settings.ood_components,
            self.settings.ood_rejection,
            self.settings.target_accuracy,
            val_held_out=not self.run.train.refit,
        )
        threshold = {} if result.confidence_threshold is None else {"confidence_threshold": result.confidence_threshold}
        bundle.with_head(
            bundle.metadata.head,
            tensors_to_bytes({**weights, **result.ood_tensors}),
            calibration=result.calibration,
            out_of_distribution=result.out_of_distribution,
            referral=result.referral,
            **threshold,
        )
        print(f"[{bundle.metadata.variant}] {_qualification_line(result)}", flush=True)
        return result

    @cached_property
    def feature_models(self) -> dict[str, keras.Model]:
        """Each Keras model cut at its last feature map: what goes into the model files."""
        return {name: feature_map_model(model) for name, model in self.models.items()}

    @cached_property
    def heads(self) -> dict[str, tuple[HeadSpec, dict[str, np.ndarray]]]:
        return {name: head_of(model) for name, model in self.models.items()}

    def model_file(self, name: str, model: keras.Model) -> bytes:
        """The model file's bytes; TFLite files carry labels and normalization inside."""
        if name == "onnx_float32":
            return self.float_onnx
        if name == "onnx_int8":
            return quantize_onnx(self.float_onnx, self.calibration)
        variant = name.removeprefix("tflite_")
        model_bytes = convert(model, variant, self.calibration, self.settings.io_dtype)
        io_dtype = self.settings.io_dtype if variant.startswith("int8") else "float32"
        provenance = self.run.provenance()
        description = (
            f"Brain-MRI tumour classifier ({', '.join(self.run.class_names)}), {provenance['base_model']}, {name}."
        )
        fingerprint = provenance["dataset_fingerprint"][:12]
        return embed_metadata(
            model_bytes,
            f"BrainEdge {name}",
            description,
            f"{name}, data {fingerprint}",
            self.run.class_names,
            self.run.input_spec,
            io_dtype,
            io_dtype,
            feature_map_output=True,
        )

    @cached_property
    def float_onnx(self) -> bytes:
        """The float model in ONNX, converted once for both ONNX variants."""
        return to_onnx(self.feature_models["float"])

    def verify(self, probabilities: np.ndarray, source: str) -> dict[str, Any]:
        """The bundle's answers through the edge runtime vs its Keras model, and vs the float Keras model."""
        return verification(
            probabilities,
            self.references,
            source,
            self.images.labels,
            self.settings.verify_split,
            self.settings.min_agreement,
        )

    def debug(self, bundle: Path, name: str, drop: float) -> None:
        """Per-layer quantization error report into the bundle, worst layers on the console."""
        print(
            f"[{name}] accuracy {drop:.2f} points below float (> {self.settings.debug_threshold}); "
            "per-layer quantization debug",
            flush=True,
        )
        layers = self.float_layer_errors
        write_report(bundle, name, drop, layers, len(self.calibration[:DEBUG_IMAGES]))
        print(
            f"[{name}] worst layers (rmse/scale), full report in {name}/{DEBUG_MARKDOWN}:\n{summary(layers)}",
            flush=True,
        )

    @cached_property
    def float_layer_errors(self) -> list[dict[str, Any]]:
        """Post-training int8 error per layer of the float graph, computed once for every int8 variant."""
        return layer_errors(self.models["float"], self.calibration[:DEBUG_IMAGES])

    def keep_debug_report(self, staging: Path, name: str) -> None:
        """A rejected bundle is not kept, but its debug report is: OUT/NAME.quantization_debug.*"""
        for file_name in (DEBUG_JSON, DEBUG_MARKDOWN):
            if (staging / file_name).exists():
                self.out.mkdir(parents=True, exist_ok=True)
                shutil.move(staging / file_name, self.out / f"{name}.{file_name}")


def _qualification_record(result: Qualification) -> dict[str, Any]:
    """What export_report.json says of a bundle's qualification (the metadata holds the same)."""
    record: dict[str, Any] = {
        "temperature": result.calibration.temperature,
        "calibration_val": result.calibration.fit,
        "ood_threshold": result.out_of_distribution.threshold,
        "ood_val_rejection": result.out_of_distribution.fit["val_rejection"],
    }
    if result.referral is not None:
        record["referral"] = {**dataclasses.asdict(result.referral), "threshold": result.confidence_threshold}
    return record


def _qualification_line(result: Qualification) -> str:
    fit, ood = result.calibration.fit, result.out_of_distribution
    line = (
        f"temperature {result.calibration.temperature:.3f} (val ECE {fit['before']['ece']:.4f} -> "
        f"{fit['after']['ece']:.4f}{'; ' + fit['note'] if 'note' in fit else ''}); out-of-distribution model: "
        f"{ood.fit['components']} components from {ood.fit['train_images']} train images, threshold refuses "
        f"{100 * ood.fit['val_rejection']:.1f}% of val"
    )
    if result.referral is not None:
        referral = result.referral
        accepted = round(referral.validation_coverage * referral.validation_count)
        low, _ = wilson_interval(round(referral.validation_accuracy * accepted), accepted)
        line += (
            f"; referral below {result.confidence_threshold:.4f}: val coverage "
            f"{100 * referral.validation_coverage:.1f}%, accuracy {100 * referral.validation_accuracy:.2f}% of "
            f"{accepted} (95% lower bound {100 * low:.2f}%)"
        )
        if referral.validation_accuracy < referral.target_accuracy:
            line += " — target NOT reached"
        elif low < referral.target_accuracy:
            line += " — too few validation images to show the target with confidence"
    return line
