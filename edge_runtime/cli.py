"""brainedge-classify: classify images or folders with a bundle or a bare .tflite/.onnx model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from edge_runtime.backends import BACKENDS
from edge_runtime.classifier import UNCERTAIN, Classifier, Prediction
from edge_runtime.errors import BrainEdgeError
from edge_runtime.metadata import MOBILENET_MEAN, MOBILENET_STD


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """Files as given, folders walked recursively in sorted order; hidden files are skipped."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            yield path
        else:
            raise BrainEdgeError(f"{path}: no such file or directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainedge-classify", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="images or folders of images")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--bundle", type=Path, help="a model bundle directory (metadata.json inside)")
    model.add_argument("--model", type=Path, help="a bare .tflite or .onnx model (needs --labels)")
    parser.add_argument("--labels", type=Path, help="labels file for --model, one class per line")
    parser.add_argument("--mean", type=float, nargs=3, default=MOBILENET_MEAN,
                        help="per-channel mean for --model (default: MobileNetV2's 127.5)")
    parser.add_argument("--std", type=float, nargs=3, default=MOBILENET_STD,
                        help="per-channel std for --model (default: MobileNetV2's 127.5)")
    parser.add_argument("--logits", action="store_true", help="--model outputs logits, apply softmax")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads")
    parser.add_argument("--backend", choices=("auto",) + BACKENDS, default="auto")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence below which the answer is 'uncertain' (default: the bundle's)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    parser.add_argument("--progress", action="store_true", help="progress on stderr")
    return parser


def load_classifier(args: argparse.Namespace) -> Classifier:
    if args.bundle:
        return Classifier.from_bundle(args.bundle, args.backend, args.threads,
                                      confidence_threshold=args.threshold)
    if not args.labels:
        raise BrainEdgeError("--model needs --labels FILE (one class name per line)")
    extra = {} if args.threshold is None else {"confidence_threshold": args.threshold}
    return Classifier.from_model(args.model, args.labels, args.backend, args.threads,
                                 mean=tuple(args.mean), std=tuple(args.std),
                                 softmax_output=not args.logits, **extra)


def format_line(path: Path, prediction: Prediction, as_json: bool) -> str:
    if as_json:
        return json.dumps({"path": str(path), **prediction.as_dict()})
    verdict = UNCERTAIN if prediction.uncertain else prediction.label
    ranked = ", ".join(f"{label} {score:.3f}" for label, score in prediction.top_k)
    return f"{path}: {verdict}  [{ranked}]"


def run(args: argparse.Namespace) -> int:
    classifier = load_classifier(args)
    failures = 0
    for path, result in classifier.classify_many(expand_paths(args.paths), args.top_k, args.progress):
        if isinstance(result, BrainEdgeError):
            failures += 1
            print(f"error: {result}", file=sys.stderr)
        else:
            print(format_line(path, result, args.json), flush=True)
    if failures:
        print(f"error: {failures} file(s) could not be classified (listed above)", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
