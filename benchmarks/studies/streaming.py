"""Folder classification at the interpreter's speed? Decode workers against the bare invoke rate (issue 19).

  python -m brainedge.benchmarks.studies.streaming --bundle /work/runs/mri_224/export/tflite_int8_ptq \\
      --manifest /work/runs/mri_224/manifest.csv --out benchmarks/results/streaming_mri_224

Users of the Kaggle data classify folders of 512 px JPEGs; the manifest's test split (224 px here) is
resized to 512 px (bicubic, JPEG quality 90, gray images kept gray) into ``--images-dir`` once, class by
class, as a ``Testing/`` folder would be. Then, in one process, with the bundle's interpreter on
``--threads`` thread(s), these timings in interleaved rounds (``benchmarks.paired``'s seeded orders, one
pass over every image each per round):

- **bare**: ``Engine.run`` on one preprocessed image, as many times as there are images: the model and
  its head, what the interpreter's thread cannot avoid per image;
- **sequential**: ``classify_many(decode_workers=0)``, decoding, preprocessing and answering one image
  after another;
- **N decode workers** (1, 2 and the automatic choice for this machine): ``classify_many(decode_workers=N)``,
  the next images decoded while the interpreter answers.

Rates are images per second per pass; each folder timing over bare is paired round by round (the median of
the per-round ratios, with a distribution-free interval); the target is judged with the automatic number of
decode workers, what brainedge-classify uses by default. Every pass's answers must equal the sequential
pass's of the same round. Peak RSS is measured apart, one fresh ``brainedge-classify`` process per
decode-worker count over the whole folder (as ``overhead`` measures it), taken in turn ``--memory-repeats``
times.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.paired import DEFAULT_SEED, drift, median_interval, paired_ratio, round_orders
from brainedge.benchmarks.studies import CHECKOUT, record_paths, study_command, write_record
from brainedge.benchmarks.studies.overhead import classify_peak_rss
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors
from brainedge.edge_runtime.files import check_output_file, write_atomically
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.streaming import automatic_workers

TARGET = 0.8
"""Folder classification with decode workers should reach 80% of the bare invoke rate."""
IMAGE_SIZE = 512
JPEG_QUALITY = 90
DEFAULT_IMAGES_DIR = CHECKOUT / "runs" / "streaming_512"
DEFAULT_ROUNDS = 5

Answers = list[Any]
"""Each image's record without its timings (they differ from pass to pass), or its error's message."""
Pass = Callable[[], Answers | None]
"""One timed pass over the images; folder passes return their answers, the bare pass None."""


def testing_like_images(manifest_path: Path, folder: Path) -> list[Path]:
    """The manifest's test images as 512 px JPEGs in ``folder/CLASS/``, each written once (kept between runs)."""
    manifest = read_manifest(manifest_path)
    classes = manifest.class_names()
    paths = []
    for source, label in manifest.files("test", include_leaked=False):
        target = folder / classes[label] / f"{Path(source).stem}.jpg"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, enlarged_jpeg(source))
        paths.append(target)
    if not paths:
        raise BrainEdgeError(f"{manifest_path}: the test split has no images")
    return paths


def enlarged_jpeg(source: Path) -> bytes:
    """One image at 512 x 512 (bicubic), JPEG quality 90: gray stays 8-bit gray, anything else becomes RGB."""
    with Image.open(source) as image:
        enlarged = image.convert("L" if image.mode == "L" else "RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    stream = io.BytesIO()
    enlarged.save(stream, format="JPEG", quality=JPEG_QUALITY)
    return stream.getvalue()


def bare_pass(classifier: Engine, images: list[Path]) -> Pass:
    """The model and its head on one preprocessed image, once per image of the folder."""
    batch = classifier.prepare(images[0]).tensor

    def run() -> None:
        for _ in images:
            classifier.run(batch)

    return run


def folder_pass(classifier: Engine, images: list[Path], decode_workers: int) -> Pass:
    """``classify_many`` over the images; the answers are turned into comparable records after the clock stops."""

    def run() -> Answers:
        results = list(classifier.stream(((path, path) for path in images), decode_workers=decode_workers))
        return [comparable(path, result) for path, result in results]

    return run


def comparable(path: Path, result: Any) -> Any:
    if isinstance(result, BrainEdgeError):
        return str(result)
    return {**result.record(str(path)), "latency_ms": None, "timings_ms": None}


def interleave(passes: dict[str, Pass], rounds: int, seed: int) -> tuple[dict[str, list[float]], bool, Answers]:
    """Per timing, its seconds per pass round by round (a new seeded order each round); whether every folder
    pass answered exactly as the sequential pass of its round; and the sequential answers."""
    names = list(passes)
    for name in names:  # warm caches, the interpreter and the decode threads' first start
        passes[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    identical = True
    for order in round_orders(len(names), rounds, seed):
        answers = {}
        for index in order:
            start = time.perf_counter()
            answers[names[index]] = passes[names[index]]()
            seconds[names[index]].append(time.perf_counter() - start)
        folder_answers = [value for value in answers.values() if value is not None]
        identical &= all(value == answers["sequential"] for value in folder_answers)
    return seconds, identical, answers["sequential"]


def summarize(seconds: dict[str, list[float]], count: int, workers: int) -> dict[str, Any]:
    """Images per second per timing (median and interval over rounds), and each folder timing over bare, paired."""
    rates = {name: [count / s for s in values] for name, values in seconds.items()}
    streaming = f"workers_{workers}"
    ratios = {name: paired_ratio(rates[name], rates["bare"]) for name in rates if name != "bare"}
    return {
        "images_per_s": {name: float(np.median(values)) for name, values in rates.items()},
        "images_per_s_interval": {name: median_interval(values) for name, values in rates.items()},
        "images_per_s_rounds": rates,
        "over_bare": ratios,
        "bare_drift": drift([1000 / rate for rate in rates["bare"]]),
        "target": TARGET,
        "judged_on": streaming,
        "target_met": ratios[streaming]["ratio"] >= TARGET,
        "target_met_by_whole_interval": ratios[streaming]["low"] >= TARGET,
    }


def peak_memory(
    bundle: Path, threads: int, folder: Path, counts: list[int], repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """Peak RSS of brainedge-classify over the folder per decode-worker count, the counts taken in turn."""
    runs: dict[str, list[dict[str, Any]]] = {str(count): [] for count in counts}
    for _ in range(repeats):
        for count in counts:
            argv = ["--bundle", str(bundle), "--threads", str(threads), "--decode-workers", str(count), str(folder)]
            runs[str(count)].append(classify_peak_rss(argv, runs=1))  # this study repeats itself, interleaved
    return runs


def render(result: dict[str, Any]) -> str:
    device, rates, intervals = result["device"], result["images_per_s"], result["images_per_s_interval"]
    names = {
        "bare": "bare: model + head on a preprocessed image",
        "sequential": "folder, sequential (`--decode-workers 0`)",
        **{f"workers_{n}": f"folder, {n} decode worker(s) (`--decode-workers {n}`)" for n in result["worker_counts"]},
    }
    judged = result["over_bare"][result["judged_on"]]
    verdict = "**met**" if result["target_met"] else "**NOT met**"
    whole = "the whole interval too" if result["target_met_by_whole_interval"] else "not by the whole interval"
    bare_drift = result["bare_drift"]
    lines = [
        "# Folder classification with decode workers against the bare invoke rate",
        "",
        f"Command: `{result['command']}`  ",
        f"Bundle: `{result['bundle']}`, interpreter on {result['threads']} thread(s)  ",
        f"Images: {result['images']} Testing-like JPEGs of {IMAGE_SIZE} px (the test split of "
        f"`{result['manifest']}` resized, quality {JPEG_QUALITY}; {result['gray_jpegs']} stored 8-bit gray, "
        f"the others RGB), in `{result['images_dir']}`  ",
        f"{result['rounds']} interleaved rounds of one pass per timing (seed {result['seed']}), after one warm-up "
        "pass each  ",
        f"Device: {device['cpu']} ({device['cores']} cores), Python {device['python']}, "
        f"LiteRT {device['packages'].get('ai-edge-litert')}, numpy {device['packages'].get('numpy')}, "
        f"Pillow {device['packages'].get('pillow')}; 1-minute load average {result['load_average_before']:.2f} "
        f"before, {device['load_average_1m']:.2f} after (the machine was shared while this ran)",
        "",
        "| timing | images/s (median) | 95% interval (the range below 6 rounds) | / bare, paired (interval) |",
        "|---|---:|---|---|",
    ]
    for name in names:
        low, high = intervals[name]
        ratio = result["over_bare"].get(name)
        versus = "–" if ratio is None else f"{ratio['ratio']:.2f} ({ratio['low']:.2f}–{ratio['high']:.2f})"
        lines.append(f"| {names[name]} | {rates[name]:.0f} | {low:.0f}–{high:.0f} | {versus} |")
    lines += [
        "",
        f"- Target: with the automatic number of decode workers here ({result['automatic_workers']}), at least "
        f"{TARGET:.0%} of the bare rate: {judged['ratio']:.2f}, {verdict} ({whole}).",
        f"- Answers: every folder pass gave the same records as the sequential pass of its round: "
        f"{'yes' if result['identical'] else '**NO**'} ({result['images']} images, {result['errors']} errors).",
        f"- Bare rate drift, first round against last: {bare_drift['change']:+.1%}"
        f"{' (**flagged**: do not trust this run)' if bare_drift['flagged'] else ''}.",
        "",
        "## Peak memory of `brainedge-classify` over the folder",
        "",
        "| decode workers | peak RSS, MB (each run) | command |",
        "|---|---|---|",
    ]
    for count, runs in result["peak_rss"].items():
        peaks = ", ".join(f"{run['peak_rss_mb']:.1f}" for run in runs)
        lines.append(f"| {count} | {peaks} | `{runs[0]['command']}` |")
    lines += [
        "",
        "Peak RSS is the `VmHWM` of a fresh process at exit, the counts taken in turn. Each decode worker holds "
        "up to 2 images ahead of the interpreter as their input tensors (and their decoded pixels with "
        "`--explain`); what a worker adds beyond that is its own decoding buffers.",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.streaming",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bundle", type=Path, required=True, help="a model bundle")
    parser.add_argument("--manifest", type=Path, required=True, help="the split manifest; its test split is used")
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=DEFAULT_IMAGES_DIR,
        help="where the 512 px JPEGs are made and kept (default: runs/streaming_512 in this checkout, git-ignored)",
    )
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--memory-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    return parser


def run(args: argparse.Namespace) -> int:
    outputs = record_paths(args.out)
    for path in outputs.values():
        check_output_file(path)
    if min(args.threads, args.rounds, args.memory_repeats) < 1:
        raise BrainEdgeError("--threads, --rounds and --memory-repeats must be at least 1")
    load_before = device_record()["load_average_1m"]
    images = testing_like_images(args.manifest, args.images_dir)
    classifier = Engine.from_bundle(args.bundle, threads=args.threads)
    worker_counts = sorted({1, 2, automatic_workers()})
    passes = {
        "bare": bare_pass(classifier, images),
        "sequential": folder_pass(classifier, images, 0),
        **{f"workers_{count}": folder_pass(classifier, images, count) for count in worker_counts},
    }
    seconds, identical, answers = interleave(passes, args.rounds, args.seed)
    result = {
        "command": args.command,
        "bundle": str(args.bundle),
        "manifest": str(args.manifest),
        "images_dir": str(args.images_dir),
        "images": len(images),
        "gray_jpegs": sum(Image.open(path).mode == "L" for path in images),
        "errors": sum(isinstance(answer, str) for answer in answers),
        "threads": args.threads,
        "automatic_workers": automatic_workers(),
        "worker_counts": worker_counts,
        "rounds": args.rounds,
        "seed": args.seed,
        "seconds_per_pass": seconds,
        "identical": identical,
        **summarize(seconds, len(images), automatic_workers()),
        "peak_rss": peak_memory(args.bundle, args.threads, args.images_dir, [0, *worker_counts], args.memory_repeats),
        "load_average_before": load_before,
        "device": device_record(),
    }
    write_record(outputs, result, render)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command = study_command("streaming", argv)
    return report_user_errors(run, args)


if __name__ == "__main__":
    sys.exit(main())
