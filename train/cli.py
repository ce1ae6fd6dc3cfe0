"""brainedge-train: fine-tune MobileNetV2 on a split manifest (or a folder), then QAT.

Multi-GPU: runs under MirroredStrategy automatically when a machine has several GPUs.
Several machines: set TF_CONFIG on each worker (see the README) and run the same command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors

MANIFEST_NAME = "manifest.csv"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainedge-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--manifest", type=Path, help="split manifest from brainedge-data split")
    source.add_argument("--data", type=Path, help="class-per-folder images; a leak-free split is made")
    parser.add_argument("--out", type=Path, default=Path("runs/train"), help="run directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed run in --out with its saved settings")
    parser.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2 width multiplier")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (Keras download), a local .h5 file, or 'none'")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--hidden-units", type=int, nargs="*", default=[])
    parser.add_argument("--batch-size", type=int, default=32, help="per replica")
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--finetune-epochs", type=int, default=12)
    parser.add_argument("--finetune-blocks", default="all", help="top backbone blocks to unfreeze, or 'all'")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--finetune-lr", type=float, default=3e-4)
    parser.add_argument("--train-batch-norm", action="store_true",
                        help="update batch-norm statistics while fine-tuning (off: see README)")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--no-class-weights", action="store_true")
    parser.add_argument("--qat-epochs", type=int, default=1, help="0 skips quantization-aware training")
    parser.add_argument("--qat-lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--cpu-replicas", type=int, default=0,
                        help="split the CPU into N logical devices under MirroredStrategy (testing)")
    return parser


def config_from_args(args: argparse.Namespace):  # -> TrainConfig, imported lazily (TensorFlow)
    from brainedge.train.model import ModelConfig
    from brainedge.train.trainer import TrainConfig

    if args.finetune_blocks != "all" and not args.finetune_blocks.isdigit():
        raise BrainEdgeError(f"--finetune-blocks must be a number or 'all', not {args.finetune_blocks!r}")
    model = ModelConfig(num_classes=0, input_size=args.input_size, alpha=args.alpha, weights=args.weights,
                        dropout=args.dropout, hidden_units=tuple(args.hidden_units))
    return TrainConfig(
        model=model, batch_size=args.batch_size, head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs, finetune_blocks=args.finetune_blocks,
        head_learning_rate=args.head_lr, finetune_learning_rate=args.finetune_lr,
        train_batch_norm=args.train_batch_norm, patience=args.patience,
        label_smoothing=args.label_smoothing, use_class_weights=not args.no_class_weights,
        qat_epochs=args.qat_epochs, qat_learning_rate=args.qat_lr, seed=args.seed,
        mixed_precision=args.mixed_precision, cpu_replicas=args.cpu_replicas)


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
    from brainedge.train.trainer import CONFIG_FILE, TrainConfig, Trainer

    config_path = args.out / CONFIG_FILE
    if args.resume:
        if not config_path.exists():
            raise BrainEdgeError(f"{args.out}: nothing to resume (no {CONFIG_FILE})")
        saved = json.loads(config_path.read_text())
        config = TrainConfig.from_dict(saved["train"])
        manifest = args.manifest or Path(saved["manifest"])  # --manifest: the dataset moved
        print(f"resuming {args.out} with its saved {CONFIG_FILE} (other options ignored)", flush=True)
    else:
        if config_path.exists():
            raise BrainEdgeError(f"{args.out}: already holds a run; pass --resume or choose another --out")
        config = config_from_args(args)
        manifest = resolve_manifest(args)
    Trainer(manifest, args.out, config).run()
    print(f"run directory: {args.out}  (next: brainedge-export {args.out})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))
