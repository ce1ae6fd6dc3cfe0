"""How much would a brain-region crop enlarge the brain? The measurement behind issue 21's crop row.

Seed 003's crop (threshold a blurred slice, keep the largest bright region, crop to its box, resize
to the input size) can only help where the brain is small in its image: it magnifies the brain by
the image's side over the box's longer side. This finds that box for every image of a manifest,
the seed's way (Gaussian blur, threshold 45 of 255, two erosions and dilations, largest connected
region), and reports the magnification per class, with a histogram:

  python -m brainedge.benchmarks.studies.brain_extent --manifest runs/mri_224/manifest.csv \\
      --out benchmarks/results/brain_extent_mri_224
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.studies import record_paths, study_command, write_record
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser, report_user_errors
from brainedge.edge_runtime.manifest import check_images_present, read_manifest
from brainedge.edge_runtime.preprocess import decode_pixels

THRESHOLD = 45
"""Of 255, on the blurred gray slice: seed 003's value."""
BLUR_SIGMA = 1.0
"""A 5 x 5 Gaussian kernel's sigma, as OpenCV derives it for the seed's GaussianBlur(5, 5)."""
SMOOTHING_ITERATIONS = 2
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
INPUT_288 = 288 / 224
"""The recipe study's input-288 row magnifies every image this much (and gained nothing)."""
HISTOGRAM_EDGES = np.linspace(1.0, 2.0, 21)
"""Magnifications of 2x and more are counted in the last bin."""


def brain_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right), bottom and right exclusive, of the largest bright region; None
    for an image with none (all dark)."""
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(gray.astype(np.float32), BLUR_SIGMA)
    mask = blurred > THRESHOLD
    mask = ndimage.binary_erosion(mask, iterations=SMOOTHING_ITERATIONS)
    mask = ndimage.binary_dilation(mask, iterations=SMOOTHING_ITERATIONS)
    regions, count = ndimage.label(mask)
    if count == 0:
        return None
    sizes = np.bincount(regions.ravel())[1:]
    rows, columns = np.nonzero(regions == 1 + int(np.argmax(sizes)))
    return int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1


def magnification(gray: np.ndarray) -> float | None:
    """How many times larger the crop would draw the brain: the image's side over the box's longer
    side (a crop resized to a square stretches its shorter side further)."""
    box = brain_box(gray)
    if box is None:
        return None
    top, left, bottom, right = box
    return max(gray.shape) / max(bottom - top, right - left)


def gray_slice(path: Path) -> np.ndarray:
    """The image as the runtime decodes it (its size limit and one-line errors), in ITU-R 601 luma."""
    pixels = decode_pixels(path)
    if pixels.shape[2] == 1:
        return pixels[..., 0]
    return pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def measure(manifest_path: Path) -> dict[str, Any]:
    manifest = read_manifest(manifest_path)
    check_images_present(manifest, manifest_path)
    by_class: dict[str, list[float]] = {name: [] for name in manifest.class_names()}
    no_region: list[str] = []
    for number, row in enumerate(manifest.rows, 1):
        factor = magnification(gray_slice(manifest.root / row.path))
        if factor is None:
            no_region.append(row.path)
        else:
            by_class[row.label].append(factor)
        if number % 1000 == 0:
            print(f"{number:,} / {len(manifest.rows):,} images", file=sys.stderr, flush=True)
    every = [factor for factors in by_class.values() for factor in factors]
    if not every:
        raise BrainEdgeError(
            f"{manifest_path}: none of its {len(manifest.rows):,} images has a region brighter than {THRESHOLD}/255 "
            "(all dark: are these MRI slices?)"
        )
    return {
        "manifest": str(manifest_path),
        "images": len(manifest.rows),
        "no_bright_region": no_region,
        "method": {"blur_sigma": BLUR_SIGMA, "threshold": THRESHOLD, "erode_dilate": SMOOTHING_ITERATIONS},
        "magnification": {name: summary(factors) for name, factors in {"all": every, **by_class}.items()},
        "histogram": {name: histogram(factors) for name, factors in by_class.items()},
    }


def histogram(factors: list[float]) -> list[int]:
    return np.histogram(np.minimum(factors, HISTOGRAM_EDGES[-1] - 1e-9), bins=HISTOGRAM_EDGES)[0].tolist()


def summary(factors: list[float]) -> dict[str, Any]:
    if not factors:
        return {"images": 0}
    values = np.array(factors)
    return {
        "images": len(factors),
        "mean": float(values.mean()),
        "quantiles": {f"{q:g}": float(np.quantile(values, q)) for q in QUANTILES},
        "share_at_least_1.2": float(np.mean(values >= 1.2)),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "# Brain-region crop: how much it would magnify the brain",
        "",
        f"Command: `{result['command']}`",
        "",
        f"{result['images']:,} images of `{result['manifest']}`. The brain's box is the largest region above "
        f"{THRESHOLD}/255 after a Gaussian blur (sigma {BLUR_SIGMA:g}) and {SMOOTHING_ITERATIONS} erosions and "
        "dilations (seed 003's crop); the magnification is the image's side over the box's longer side.",
        "",
        "| images | n | mean | 5% | 25% | median | 75% | 95% | share >= 1.2x |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, stats in result["magnification"].items():
        if not stats["images"]:
            lines.append(f"| {name} | 0 | - | - | - | - | - | - | - |")
            continue
        quantiles = " | ".join(f"{value:.2f}x" for value in stats["quantiles"].values())
        lines.append(
            f"| {name} | {stats['images']:,} | {stats['mean']:.2f}x | {quantiles} | {stats['share_at_least_1.2']:.0%} |"
        )
    if left_out := result["no_bright_region"]:
        more = f" and {len(left_out) - 10:,} more (all in the JSON record)" if len(left_out) > 10 else ""
        lines += ["", f"{len(left_out):,} images with no bright region, left out: {', '.join(left_out[:10])}{more}"]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.5))
    for name, counts in result["histogram"].items():
        axes.stairs(counts, HISTOGRAM_EDGES, label=name, linewidth=1.5)
    axes.axvline(INPUT_288, color="gray", linestyle="--")
    axes.annotate(" input 288 px row's upsampling", (INPUT_288, axes.get_ylim()[1] * 0.9), color="gray", fontsize=8)
    axes.set_xlabel("magnification of the brain by the crop (image side / brain box's longer side; 2 = 2 or more)")
    axes.set_ylabel("images")
    axes.set_title("How much a brain-region crop would enlarge each image's brain")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    outputs = record_paths(args.out, (".json", ".md", ".png"))
    result = {"command": args.command, **measure(args.manifest)}
    write_record(outputs, result, render, {".png": plot(result)})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m brainedge.benchmarks.studies.brain_extent", description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True, help="a brainedge-data split manifest")
    parser.add_argument("--out", type=Path, required=True, help="OUT.json, OUT.md and OUT.png are written")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command = study_command("brain_extent", argv)
    return report_user_errors(run, args)


if __name__ == "__main__":
    sys.exit(main())
