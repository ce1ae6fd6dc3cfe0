"""brainedge-demo: the whole pipeline on built-in synthetic MRI slices, in a few minutes on a CPU.

generate data → leak-free split → fine-tune MobileNetV2 → export float32 and int8 TFLite
bundles (each verified against Keras) → evaluate both with the edge runtime on held-out
images → one table. ``--data PATH`` runs it on real class-per-folder images instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser
from brainedge.edge_runtime.metrics import paired_test, with_interval
from brainedge.train.scoring import images_label
from brainedge.train.stack import add_verbose_option, run_training_command


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-demo", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, help="class-per-folder images (default: generate synthetic)")
    parser.add_argument("--out", type=Path, default=Path("brainedge-demo"), help="working directory")
    parser.add_argument("--images-per-class", type=int, default=300, help="synthetic images per class")
    parser.add_argument(
        "--weights",
        default="auto",
        help="'auto' (ImageNet if Keras can get it, else from scratch), 'imagenet', a local .h5 file, or 'none'",
    )
    parser.add_argument("--alpha", type=float, default=0.35)
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=20, help="training epochs in all")
    parser.add_argument("--seed", type=int, default=0)
    add_verbose_option(parser)
    return parser


def resolve_weights(choice: str, alpha: float, input_size: int) -> str:
    """'auto' → ImageNet when the standard Keras download (or its cache) works, else scratch."""
    if choice != "auto":
        return choice
    from brainedge.train.config import ModelConfig
    from brainedge.train.model import build_model

    try:
        build_model(ModelConfig(num_classes=2, input_size=input_size, alpha=alpha, weights="imagenet"))
    except BrainEdgeError as error:
        print(
            f"ImageNet weights unavailable ({error.args[0].split('(')[0].strip()}): "
            "training from scratch. Pass --weights PATH to use a local file.",
            flush=True,
        )
        return "none"
    print("using ImageNet weights (Keras download or cache)", flush=True)
    return "imagenet"


def train_model(manifest: Path, run_dir: Path, args: argparse.Namespace) -> None:
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.trainer import Trainer

    weights = resolve_weights(args.weights, args.alpha, args.input_size)
    head_epochs = 2 if weights != "none" else 0
    config = TrainConfig(
        model=ModelConfig(num_classes=0, input_size=args.input_size, alpha=args.alpha, weights=weights),
        head_epochs=head_epochs,
        finetune_epochs=args.epochs - head_epochs,
        head_learning_rate=2e-3,
        finetune_learning_rate=2e-3 if weights == "none" else 2e-4,
        patience=args.epochs,
        qat_epochs=0,
        seed=args.seed,
    )
    Trainer(manifest, run_dir, config).run()


def evaluate_on_test(run_dir: Path, sizes: dict[Path, int]) -> list[dict[str, Any]]:
    """Held-out accuracy (95% interval), agreement and flips against Keras (exact McNemar), calibration,
    refusals and latency of each bundle (edge runtime)."""
    from brainedge.edge_runtime.engine import BatchOutputs, Engine
    from brainedge.edge_runtime.head import softmax
    from brainedge.edge_runtime.scoring import score_bundle, score_predictions
    from brainedge.export.evaluate import answer_quality
    from brainedge.export.run import LabelledImages, TrainingRun

    run = TrainingRun.open(run_dir)
    images = LabelledImages.load(run, "test")
    keras_top1 = run.load_float_model().predict(images.float_inputs(run.input_spec), verbose=0).argmax(1)
    keras = score_predictions(keras_top1, images.labels)
    rows = []
    for bundle in sizes:
        engine = Engine.from_bundle(bundle)
        scored = score_bundle(engine, images.images, images.labels, images.leaked_left_out)
        logits, score = scored.outputs.logits, scored.score
        answers = BatchOutputs(softmax(logits), logits, None, scored.outputs.ood_scores)
        quality = answer_quality(engine.bundle, answers, images.labels)
        rows.append(
            {
                "bundle": bundle.name,
                "size_bytes": sizes[bundle],
                "accuracy": score.accuracy,
                "accuracy_interval": list(score.accuracy_interval),
                "agreement_with_keras": float((logits.argmax(1) == keras_top1).mean()),
                "keras_accuracy": keras.accuracy,
                "keras_accuracy_interval": list(keras.accuracy_interval),
                "flips_against_keras": paired_test(keras.correct, score.correct).record(),
                "invoke_ms_p50": statistics.median(scored.invoke_ms),
                "preprocess_and_invoke_ms_p50": statistics.median(scored.preprocess_and_invoke_ms),
                "test_images": score.count,
                "leaked_left_out": score.leaked_left_out,
                **quality,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    first = rows[0]
    images = images_label("test", {"count": first["test_images"], "leaked_left_out": first["leaked_left_out"]})
    print(
        f"held-out test split: {images}; Keras float model accuracy "
        f"{with_interval(first['keras_accuracy'], first['keras_accuracy_interval'])}"
    )
    print(
        f"{'bundle':<18}{'size':>9}{'accuracy [95% interval]':>26}{'agreement':>11}{'flips (p)':>15}"
        f"{'ECE T=1 -> T':>16}{'refused':>9}{'invoke p50':>12}{'+preproc p50':>14}"
    )
    for row in rows:
        calibration, flips = row["calibration"], row["flips_against_keras"]
        flipped = f"{flips['right_to_wrong']}/{flips['wrong_to_right']} ({flips['mcnemar_p']:.2g})"
        print(
            f"{row['bundle']:<18}{row['size_bytes'] / 1e6:>7.2f}MB"
            f"{with_interval(row['accuracy'], row['accuracy_interval']):>26}"
            f"{row['agreement_with_keras']:>11.4f}{flipped:>15}"
            f"{calibration['before']['ece']:>8.4f} -> {calibration['after']['ece']:.4f}{row['ood_flagged']:>9.1%}"
            f"{row['invoke_ms_p50']:>10.2f}ms{row['preprocess_and_invoke_ms_p50']:>12.2f}ms"
        )
    print(
        "(flips: images the Keras float model answers right and the bundle wrong / the reverse, and the exact "
        "McNemar p-value of those flips; ECE: expected calibration error of the printed probabilities, before "
        "and after the bundle's temperature; refused: test images the bundle calls 'not recognised')"
    )
    float_row, int8_row = rows[0], rows[-1]
    if float_row["accuracy"] > 0:
        print(
            f"int8 keeps {int8_row['accuracy'] / float_row['accuracy']:.1%} of float32 accuracy at "
            f"{int8_row['size_bytes'] / float_row['size_bytes']:.0%} of its size"
        )


def run(args: argparse.Namespace) -> int:
    from brainedge.train.data.split import make_split
    from brainedge.train.synthetic import generate_dataset

    started = time.monotonic()
    out = args.out
    if out.exists() and any(out.iterdir()):
        raise BrainEdgeError(f"{out}: exists and is not empty; remove it or pass --out")
    data = args.data
    if data is None:
        print(f"[1/5] generating {args.images_per_class} synthetic slices per class", flush=True)
        data = generate_dataset(out / "data", args.images_per_class, seed=args.seed)
    print("[2/5] auditing and splitting (near-duplicates kept inside one split)", flush=True)
    manifest = out / "manifest.csv"
    make_split(data, manifest, seed=args.seed)
    print("[3/5] training", flush=True)
    run_dir = out / "run"
    train_model(manifest, run_dir, args)
    print("[4/5] exporting float32 and int8 TFLite bundles", flush=True)
    from brainedge.edge_runtime.manifest import read_manifest
    from brainedge.export.cli import print_table as print_export_table
    from brainedge.export.exporter import export_run
    from brainedge.export.settings import ExportSettings

    calibration_images = min(200, len(read_manifest(manifest).files("train")))
    results = export_run(
        run_dir,
        out / "bundles",
        ExportSettings(variants=("tflite_float32", "tflite_int8_ptq"), representative=calibration_images),
    )
    print_export_table(results)
    if not all(row["passed"] for row in results):
        raise BrainEdgeError("an exported bundle disagreed with the Keras model (see above)")
    print("[5/5] evaluating the bundles on the held-out test split with the edge runtime", flush=True)
    rows = evaluate_on_test(run_dir, {Path(row["bundle"]): row["size_bytes"] for row in results})
    print_table(rows)
    (out / "demo_report.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"\ndone in {time.monotonic() - started:.0f}s; bundles in {out / 'bundles'}; try:\n"
        f"  brainedge-classify --bundle {out / 'bundles' / 'tflite_int8_ptq'} {data}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_training_command("brainedge-demo", run, args)


if __name__ == "__main__":
    sys.exit(main())
