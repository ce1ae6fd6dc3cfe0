"""brainedge-train: fine-tune MobileNetV2 on a split manifest (or a folder), then QAT.

Multi-GPU: runs under MirroredStrategy automatically when a machine has several GPUs.
Several machines: set TF_CONFIG on each worker (see docs/training.md) and run the same command.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser, stop_like_ctrl_c
from brainedge.edge_runtime.files import check_named_folder, is_utf8_name, scan_folder, shown
from brainedge.edge_runtime.manifest import check_images_present, read_manifest
from brainedge.train.config import ModelConfig, TrainConfig
from brainedge.train.run_dir import RunDirectory
from brainedge.train.stack import add_verbose_option, run_training_command

MANIFEST_NAME = "manifest.csv"
RESUME_OPTIONS = ("out", "resume", "manifest", "verbose")
"""What --resume reads from the command line; every other setting comes from the run's config.json."""
DEFAULTS = TrainConfig(model=ModelConfig(num_classes=0))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-train", description=__doc__, formatter_class=DefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--manifest", type=Path, help="split manifest from brainedge-data split")
    source.add_argument("--data", type=Path, help="class-per-folder images; a leak-free split is made")
    parser.add_argument("--out", type=Path, default=Path("runs/train"), help="run directory (default: runs/train)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run in --out with its saved settings")
    model, recipe = DEFAULTS.model, DEFAULTS
    parser.add_argument("--alpha", type=float, default=model.alpha, help="MobileNetV2 width multiplier")
    parser.add_argument("--input-size", type=int, default=model.input_size)
    parser.add_argument(
        "--weights", default=model.weights, help="'imagenet' (Keras download), a local .h5 file, or 'none'"
    )
    parser.add_argument("--dropout", type=float, default=model.dropout)
    parser.add_argument("--hidden-units", type=int, nargs="*", default=list(model.hidden_units))
    parser.add_argument("--batch-size", type=int, default=recipe.batch_size, help="per replica")
    parser.add_argument("--head-epochs", type=int, default=recipe.head_epochs)
    parser.add_argument("--finetune-epochs", type=int, default=recipe.finetune_epochs)
    parser.add_argument(
        "--finetune-blocks", default=recipe.finetune_blocks, help="top backbone blocks to unfreeze, or 'all'"
    )
    parser.add_argument("--head-lr", type=float, default=recipe.head_learning_rate)
    parser.add_argument("--finetune-lr", type=float, default=recipe.finetune_learning_rate)
    parser.add_argument(
        "--train-batch-norm",
        action="store_true",
        default=recipe.train_batch_norm,
        help="update batch-norm statistics while fine-tuning (off: see docs/training.md)",
    )
    parser.add_argument("--patience", type=int, default=recipe.patience)
    parser.add_argument(
        "--keep-last-epoch",
        action="store_true",
        default=recipe.keep_last_epoch,
        help="run every epoch and keep the last one's weights (off: the epoch with the best val accuracy, "
        "stopping early after --patience epochs without gain)",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        default=recipe.refit,
        help="train on the train and val splits together, every epoch, the last one's weights kept: "
        "the final model of a settled recipe (its val scores, temperature and OOD threshold are then "
        "on trained images)",
    )
    parser.add_argument("--label-smoothing", type=float, default=recipe.label_smoothing)
    parser.add_argument(
        "--mixup",
        type=float,
        default=recipe.mixup,
        help="mixup: blend each training image (and its label) with another of its batch by a Beta(alpha, "
        "alpha) weight folded to >= 0.5, in fine-tuning and QAT, after label smoothing; 0 (default) is off",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=recipe.weight_decay,
        help="decoupled weight decay (AdamW; biases and batch norm exempt) in every phase; 0 (default) is Adam",
    )
    parser.add_argument(
        "--ema",
        type=float,
        default=recipe.ema,
        metavar="MOMENTUM",
        help="keep a moving average of the weights (e.g. 0.99) and put it in the model at the end of each epoch, "
        "so validation, early stopping and the saved model see the average; 0 (default) is off",
    )
    parser.add_argument("--no-class-weights", action="store_true", default=not recipe.use_class_weights)
    parser.add_argument("--qat-epochs", type=int, default=recipe.qat_epochs, help="0 skips quantization-aware training")
    parser.add_argument("--qat-lr", type=float, default=recipe.qat_learning_rate)
    parser.add_argument("--seed", type=int, default=recipe.seed)
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default=recipe.mixed_precision)
    parser.add_argument(
        "--cpu-replicas",
        type=int,
        default=recipe.cpu_replicas,
        help="split the CPU into N logical devices under MirroredStrategy (testing)",
    )
    add_verbose_option(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    model = ModelConfig(
        num_classes=0,
        input_size=args.input_size,
        alpha=args.alpha,
        weights=args.weights,
        dropout=args.dropout,
        hidden_units=tuple(args.hidden_units),
    )
    config = TrainConfig(
        model=model,
        batch_size=args.batch_size,
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        finetune_blocks=args.finetune_blocks,
        head_learning_rate=args.head_lr,
        finetune_learning_rate=args.finetune_lr,
        train_batch_norm=args.train_batch_norm,
        patience=args.patience,
        keep_last_epoch=args.keep_last_epoch,
        refit=args.refit,
        label_smoothing=args.label_smoothing,
        mixup=args.mixup,
        weight_decay=args.weight_decay,
        ema=args.ema,
        use_class_weights=not args.no_class_weights,
        qat_epochs=args.qat_epochs,
        qat_learning_rate=args.qat_lr,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        cpu_replicas=args.cpu_replicas,
    )
    config.check()
    return config


def resolve_manifest(args: argparse.Namespace) -> Path:
    """The manifest to train on; a --data folder is audited and split into the run directory."""
    if args.manifest:
        return args.manifest
    if args.data is None:
        raise BrainEdgeError("give --manifest (from brainedge-data split) or --data FOLDER")
    from brainedge.train.data.split import make_split

    path = args.out / MANIFEST_NAME
    args.out.mkdir(parents=True, exist_ok=True)
    make_split(args.data, path, seed=args.seed)
    return path


def run(args: argparse.Namespace) -> int:
    check_out_folder(args)
    run_directory = RunDirectory(args.out)
    if not args.resume and run_directory.has_config():
        raise BrainEdgeError(f"{args.out}: already holds a run; pass --resume or choose another --out")
    if args.resume and not run_directory.has_config():
        raise BrainEdgeError(f"{args.out}: nothing to resume (no {run_directory.config_path.name})")
    config = None if args.resume else config_from_args(args)  # bad settings: refused before anything is written
    with run_directory.locked():
        return train(args, run_directory, config)


def check_out_folder(args: argparse.Namespace) -> None:
    """--out must name a folder TensorFlow can write checkpoints to (a UTF-8 path) that holds a run
    or nothing yet: a run's files mixed into a dataset or the current folder are hard to undo."""
    check_named_folder(args.out, "the run's files")
    if not is_utf8_name(str(args.out)):
        raise BrainEdgeError(
            f"{shown(args.out)}: --out is not valid UTF-8, which TensorFlow cannot write checkpoints to"
        )
    if args.resume or not args.out.is_dir() or RunDirectory(args.out).has_config():
        return
    entries = scan_folder(args.out)
    others = [path.name for path in entries.folders + entries.files if path.name != MANIFEST_NAME]  # --data's split
    if others:
        raise BrainEdgeError(
            f"{args.out}: already holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
            "choose a new or empty --out"
        )


def check_same_split(manifest: Path, saved: dict[str, Any]) -> None:
    """A resumed run may read its split from a new place (the dataset moved), not another split."""
    fingerprint = saved.get("split_fingerprint")  # runs before this check have none
    if fingerprint is not None and read_manifest(manifest).split_fingerprint() != fingerprint:
        raise BrainEdgeError(
            f"{manifest}: not the split this run was trained on (other images, labels or splits than "
            f"{saved['manifest']}); resume with that split, or train a new --out"
        )


def train(args: argparse.Namespace, run_directory: RunDirectory, config: TrainConfig | None) -> int:
    if args.resume:
        saved = run_directory.read_config()
        config = run_directory.train_config()  # a misspelt or ill-typed setting: refused, naming config.json
        manifest = args.manifest or Path(saved["manifest"])  # --manifest: the dataset moved
        check_same_split(manifest, saved)
        run_directory.completed_phases(), run_directory.history()  # damaged: refused now, not after the training
        print(f"resuming {args.out} with its saved {run_directory.config_path.name}", flush=True)
        ignored = ignored_on_resume(args, config)
        if ignored:
            print(
                f"warning: ignored {', '.join(ignored)}: a resumed run keeps its saved settings (a new --out "
                "changes them)",
                file=sys.stderr,
            )
    else:
        manifest = resolve_manifest(args)
    check_images_present(read_manifest(manifest), manifest)  # not at the first batch, after the run is written
    from brainedge.train.trainer import Trainer  # TensorFlow: only once the settings are known to be usable

    Trainer(manifest, args.out, config).run()
    print(f"run directory: {args.out}  (next: brainedge-export {shlex.quote(str(args.out))})")
    return 0


def ignored_on_resume(args: argparse.Namespace, saved: TrainConfig) -> list[str]:
    """The typed options whose value differs from the resumed run's, as typed (``--seed 3``)."""
    return [
        as_typed(dest, getattr(args, dest))
        for dest in args.given
        if dest not in RESUME_OPTIONS and (dest == "data" or getattr(args, dest) != saved_setting(saved, dest))
    ]


def as_typed(dest: str, value: Any) -> str:
    """``--seed 3``; a flag (``--refit``) alone."""
    option = f"--{dest.replace('_', '-')}"
    return option if isinstance(value, bool) else f"{option} {value}"


def saved_setting(config: TrainConfig, dest: str) -> Any:
    """A run's value of the setting an option sets, in the option's terms."""
    if dest == "no_class_weights":
        return not config.use_class_weights
    if dest == "hidden_units":
        return list(config.model.hidden_units)
    field = {"head_lr": "head_learning_rate", "finetune_lr": "finetune_learning_rate", "qat_lr": "qat_learning_rate"}
    name = field.get(dest, dest)
    return getattr(config.model, name) if hasattr(config.model, name) else getattr(config, name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.given = given_options(argv, args)
    stop_like_ctrl_c(signal.SIGTERM)  # a killed job (systemd, a batch scheduler) ends like Ctrl-C: lock released
    return run_training_command("brainedge-train", run, args)


def given_options(argv: list[str] | None, args: argparse.Namespace) -> list[str]:
    """The options typed on the command line, as their argparse destinations: argparse leaves an
    attribute the namespace already has alone unless the option is given."""
    untyped = object()
    typed = build_parser().parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys(vars(args), untyped)))
    return [dest for dest, value in vars(typed).items() if value is not untyped]
