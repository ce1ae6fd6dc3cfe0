"""Score exported bundles on any split of the run's manifest, as export verifies them.

Export verifies on the validation split; the held-out test split is for the final record
(test images with a near-duplicate in train or val are left out, and counted). Same numbers
as the export table: accuracy, top-1 agreement with the Keras model each bundle came from and
with the float Keras model, probability differences; with them each accuracy's 95% interval
and the answers that flipped against the float Keras model on the same images (exact McNemar).

usage: python -m brainedge.export.evaluate RUN_DIR EXPORT_DIR [--split test] [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.bundle import Bundle, is_bundle
from brainedge.edge_runtime.calibration import accepted_answers, calibration_scores
from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.engine import BatchOutputs
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser
from brainedge.edge_runtime.files import check_replaceable, write_text_atomically
from brainedge.edge_runtime.head import beyond_threshold, softmax
from brainedge.edge_runtime.metrics import with_interval
from brainedge.edge_runtime.scoring import bundle_outputs, score_predictions
from brainedge.edge_runtime.variants import VARIANTS
from brainedge.export.settings import DEFAULTS
from brainedge.train.scoring import LEAK_FREE_TEST, images_label
from brainedge.train.stack import add_verbose_option, run_training_command


def evaluate(run_dir: Path, export_dir: Path, split: str = "test") -> list[dict[str, Any]]:
    """One row per bundle in ``export_dir``, in export_report.json's format."""
    from brainedge.export.run import LabelledImages, TrainingRun, load_qat_model
    from brainedge.export.verify import passes, verification

    bundles = [Bundle.open(export_dir / f.name) for f in VARIANTS if is_bundle(export_dir / f.name)]
    if not bundles:
        raise BrainEdgeError(f"{export_dir}: no bundles to evaluate")
    run = TrainingRun.open(run_dir)
    images = LabelledImages.load(run, split)
    inputs = images.float_inputs(run.input_spec)
    references = {"float": run.load_float_model().predict(inputs, verbose=0)}
    if any(bundle.variant.needs_qat for bundle in bundles):
        references["qat"] = load_qat_model(run).predict(inputs, verbose=0)
    rows = []
    for bundle in bundles:
        print(f"[{bundle.name}] {len(images.labels)} {split} images", flush=True)
        source = "qat" if bundle.variant.needs_qat else "float"
        outputs = bundle_outputs(bundle, images.images)
        check = verification(outputs.probabilities, references, source, images.labels, split, DEFAULTS.min_agreement)
        rows.append(
            {
                "variant": bundle.name,
                "bundle": str(bundle.directory),
                "size_bytes": bundle.size_bytes,
                "model_bytes": bundle.model_path.stat().st_size,
                "passed": passes(check, DEFAULTS.min_agreement),
                **check,
                **({"leaked_left_out": images.leaked_left_out} if split == LEAK_FREE_TEST else {}),
                **answer_quality(bundle, outputs, images.labels),
            }
        )
    return rows


def answer_quality(bundle: Bundle, outputs: BatchOutputs, labels: np.ndarray) -> dict[str, Any]:
    """Calibration before and after the bundle's temperature, its referral and out-of-distribution
    rates on these (in-distribution) images; empty for a bundle without a head.

    An answer is accepted when it is not refused as out-of-distribution and its calibrated confidence
    reaches the bundle's threshold; coverage counts accepted answers among all images.
    """
    if outputs.logits is None or bundle.metadata.head is None:
        return {}
    metadata = bundle.metadata
    temperature = metadata.calibration.temperature if metadata.calibration else 1.0
    calibrated = softmax(outputs.logits, temperature)
    refused = np.zeros(len(labels), bool)
    if metadata.out_of_distribution is not None and outputs.ood_scores is not None:
        refused = beyond_threshold(outputs.ood_scores, metadata.out_of_distribution.threshold)
    accepted = accepted_answers(calibrated.max(axis=1), refused, metadata.confidence_threshold)
    accepted_score = score_predictions(calibrated.argmax(axis=1)[accepted], labels[accepted])
    return {
        "temperature": temperature,
        "calibration": {
            "before": calibration_scores(softmax(outputs.logits), labels),
            "after": calibration_scores(calibrated, labels),
        },
        "referral": {
            "threshold": metadata.confidence_threshold,
            "target_accuracy": metadata.referral.target_accuracy if metadata.referral else None,
            "coverage": float(accepted.mean()),
            "accepted_accuracy": accepted_score.accuracy if accepted.any() else None,
        },
        "ood_flagged": float(refused.mean()) if metadata.out_of_distribution is not None else None,
    }


def print_answer_quality(rows: list[dict[str, Any]], split: str) -> None:
    """Calibration, referral and refusal per bundle, for the bundles that carry them."""
    qualified = [row for row in rows if "calibration" in row]
    if not qualified:
        return
    print(f"\n{'variant':<22}{'T':>7}{'ECE T=1 -> T':>18}{'coverage':>10}{'accepted acc':>14}{'refused':>9}")
    for row in qualified:
        ece, referral = row["calibration"], row["referral"]
        accepted = referral["accepted_accuracy"]
        print(
            f"{row['variant']:<22}{row['temperature']:>7.3f}{ece['before']['ece']:>9.4f} -> {ece['after']['ece']:.4f}"
            f"{referral['coverage']:>10.1%}{'-' if accepted is None else f'{accepted:.2%}':>14}"
            f"{row['ood_flagged'] or 0:>9.1%}"
        )
    print(
        f"(on the {split} split: ECE of the probabilities before and after the bundle's temperature; coverage: "
        "answers neither refused as not recognised nor referred as uncertain; refused: not recognised)"
    )


def print_statistics(rows: list[dict[str, Any]]) -> None:
    """Each bundle's accuracy with its 95% interval, and against the float Keras model on the same
    images: the answers that flipped each way and the exact McNemar p-value of those flips."""
    print(f"\n{'variant':<22}{'accuracy [95% interval]':>26}{'right->wrong':>14}{'wrong->right':>14}{'McNemar p':>11}")
    for row in rows:
        flips = row["float_flips"]
        print(
            f"{row['variant']:<22}{with_interval(row['accuracy'], row['accuracy_interval']):>26}"
            f"{flips['right_to_wrong']:>14}{flips['wrong_to_right']:>14}{flips['mcnemar_p']:>11.3g}"
        )
    first = rows[0]
    print(
        f"(on {images_label(first['split'], first)}; float Keras model "
        f"{with_interval(first['float_reference_accuracy'], first['float_reference_accuracy_interval'])}; "
        "right->wrong: images the float Keras model answers right and the bundle wrong; McNemar: exact "
        "two-sided test that the flips lean neither way)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m brainedge.export.evaluate",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--out", type=Path, help="write the rows here (default EXPORT_DIR/evaluation_SPLIT.json)")
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    return run_training_command("export.evaluate", run, args)


def is_evaluation_text(start: bytes) -> bool:
    """Whether a file's first bytes are this command's record (a list of rows, each naming its variant)."""
    return start.lstrip().startswith(b"[") and (b'"variant"' in start or start.strip() == b"[]")


def run(args: argparse.Namespace) -> int:
    out = args.out or args.export_dir / f"evaluation_{args.split}.json"
    check_replaceable(out, is_evaluation_text, "an export.evaluate record")  # before the work
    rows = evaluate(args.run_dir, args.export_dir, args.split)
    write_text_atomically(out, json.dumps(rows, indent=2) + "\n")
    from brainedge.export.cli import print_table

    print_table(rows, failure="below export's threshold")
    print_statistics(rows)
    print_answer_quality(rows, args.split)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
