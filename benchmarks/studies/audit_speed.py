"""How long ``brainedge-data audit`` takes on the real Kaggle training folder (target: <= 2 minutes).

The headline figure is the wall time of the real command in a fresh process (imports,
worker start-up, hashing, near-duplicate search, report and plots included). An in-process
run then says where the time goes, and the audit's findings (near-duplicate images,
groups, pairs) are recorded next to the README's measurement so the speed cannot come
from skipping work.

  python -m brainedge.benchmarks.studies.audit_speed --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import SHARED, study_command
from brainedge.train.data.audit import Audit, run_audit, summarize
from brainedge.train.data.duplicates import DEFAULT_THRESHOLD, connected_groups, near_pairs
from brainedge.train.data.hashing import inspect_all
from brainedge.train.data.loading import load_dataset
from brainedge.train.data.report import write_report

TARGET_SECONDS = 120.0
SHARED_TRAINING = SHARED / "data" / "brain-tumor-mri" / "Training"
README_NEAR_DUPLICATE_IMAGES = 1061


def time_command(root: Path, workers: int, repeats: int) -> tuple[list[float], str]:
    """Wall seconds of ``python -m brainedge.train.data audit ROOT`` in a fresh process, ``repeats`` times."""
    seconds = []
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-m",
            "brainedge.train.data",
            "audit",
            str(root),
            "--out",
            out,
            "--quiet",
            "--workers",
            str(workers),
        ]
        for _ in range(repeats):
            start = time.monotonic()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            seconds.append(time.monotonic() - start)
    shown = [
        "python",
        "-m",
        "brainedge.train.data",
        "audit",
        str(root),
        "--out",
        "<tmp>",
        "--quiet",
        "--workers",
        str(workers),
    ]
    return seconds, shlex.join(shown)


def phase_seconds(root: Path, workers: int) -> tuple[dict[str, float], Audit]:
    """The same audit in process, timed phase by phase, and the audit itself."""
    phases = {}
    start = time.monotonic()
    dataset = load_dataset(root)
    phases["list files"] = time.monotonic() - start
    start = time.monotonic()
    infos = inspect_all([image.path for image in dataset.images], workers=workers, progress=False)
    phases["read + sha256 + decode + dhash"] = time.monotonic() - start
    start = time.monotonic()
    pairs = near_pairs([info.dhash for info in infos if info.ok], DEFAULT_THRESHOLD)
    phases["all-pairs Hamming search"] = time.monotonic() - start
    start = time.monotonic()
    connected_groups(len(infos), pairs)
    phases["union-find groups"] = time.monotonic() - start
    audit = run_audit(dataset, workers=workers, progress=False)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as out:
        write_report(audit, summarize(audit), Path(out))
    phases["summary + report + plots"] = time.monotonic() - start
    return phases, audit


def random_split_leaks(audit: Audit) -> int:
    """Cross-split near-duplicate pairs of a plain random 70/15/15 split: what the tool prevents."""
    split = np.random.default_rng(0).choice(3, size=len(audit.infos), p=[0.7, 0.15, 0.15])
    return sum(int((split[block[:, 0]] != split[block[:, 1]]).sum()) for block in audit.pair_blocks())


def render(result: dict[str, Any]) -> str:
    near = result["findings"]
    verdict = "met" if result["seconds"]["median"] <= TARGET_SECONDS else "**NOT met**"
    lines = [
        "# `brainedge-data audit` speed on the Kaggle MRI training folder",
        "",
        f"Command: `{result['benchmark_command']}`  ",
        f"Timed: `{result['command']}` (fresh process, {result['repeats']} run(s))  ",
        f"Device: {result['device']['cpu']} ({result['device']['cores']} cores), "
        f"Python {result['device']['python']}, 1-minute load average at the end "
        f"{result['device']['load_average_1m']:.2f}",
        "",
        "| measure | value | target | verdict |",
        "|---|---|---|---|",
        f"| audit wall time, {result['images']} images (median), s | {result['seconds']['median']:.1f} "
        f"| <= {TARGET_SECONDS:.0f} | {verdict} |",
        f"| images per second | {result['images'] / result['seconds']['median']:.0f} | - | - |",
        "",
        "## Where the time goes (in process)",
        "",
        "| phase | s |",
        "|---|---|",
    ]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in result["phases"].items()]
    lines += [
        "",
        "## What the audit found (so the speed is not from skipped work)",
        "",
        f"- Images with a near-duplicate (dhash 16x16, distance <= {DEFAULT_THRESHOLD}): "
        f"**{near['near_duplicate_images']}** (README's measurement: {README_NEAR_DUPLICATE_IMAGES}), "
        f"in {near['near_duplicate_groups']} groups, {near['near_duplicate_pairs']} pairs; "
        f"largest group {near['largest_group']}.",
        f"- Byte-identical copies: {near['exact_duplicate_images']} images in {near['exact_duplicate_groups']} groups.",
        f"- A plain random 70/15/15 split (seed 0) would put {result['random_split_cross_pairs']} near-duplicate "
        "pairs across splits; `brainedge-data split` puts 0 (re-audited in `tests/test_data_real.py`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.audit_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"error: {args.root}: dataset not found (the real data lives in ../shared)", file=sys.stderr)
        return 2
    seconds, command = time_command(args.root, args.workers, args.repeats)
    phases, audit = phase_seconds(args.root, args.workers)
    facts = summarize(audit)
    near, exact = facts["near_duplicates"], facts["exact_duplicates"]
    result = {
        "benchmark_command": study_command("audit_speed", argv),
        "command": command,
        "repeats": args.repeats,
        "workers": args.workers,
        "images": facts["images"],
        "seconds": {
            "runs": [round(s, 2) for s in seconds],
            "median": round(statistics.median(seconds), 2),
            "min": round(min(seconds), 2),
        },
        "target_seconds": TARGET_SECONDS,
        "target_met": statistics.median(seconds) <= TARGET_SECONDS,
        "phases": {name: round(value, 3) for name, value in phases.items()},
        "findings": {
            "near_duplicate_images": near["images"],
            "near_duplicate_groups": near["groups"],
            "near_duplicate_pairs": near["pairs"],
            "largest_group": near["largest_group"],
            "readme_near_duplicate_images": README_NEAR_DUPLICATE_IMAGES,
            "exact_duplicate_images": exact["images"],
            "exact_duplicate_groups": exact["groups"],
        },
        "random_split_cross_pairs": random_split_leaks(audit),
        "device": device_record(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audit_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "audit_speed.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
