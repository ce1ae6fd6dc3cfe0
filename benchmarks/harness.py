"""Run the matrix: every artifact x backend x thread count, each in a fresh ``benchmarks.runner``, then
the latency of every artifact of one backend and thread count in one ``benchmarks.paired`` process.

The isolated runs give what needs a process of its own (init, first inference, peak RSS) and the
end-to-end pass (throughput, predictions); the paired process times invoke latency in interleaved
rounds, so a change of the machine's speed reaches every artifact alike and ratios are paired round
by round. A row keeps its isolated latency beside, and as its latency when the paired process could
not time it. The parent holds the labels, so accuracy, macro-F1 and agreement with the float32
reference are computed here from the per-image predictions each subprocess returns.
A bundle that cannot be opened (bad metadata.json, missing model, an export's hidden staging
folder) is a failed row naming the problem, never the end of the run. Whether the answers can be
taken at their word (calibration, referral, out-of-distribution refusal, also of an ``--ood-set``
kept out of accuracy) is computed here too, by ``benchmarks.answers``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.answers import OodSet, answer_fields
from brainedge.benchmarks.dataset import LabelledSet
from brainedge.benchmarks.device import others_cores, others_cores_over, throttled_between
from brainedge.benchmarks.paired import (
    DEFAULT_BLOCK,
    DEFAULT_PROCESSES,
    DEFAULT_ROUNDS,
    DEFAULT_SEED,
    DEFAULT_SETTLE,
    busy,
    drift,
    median_interval,
    paired_ratio,
    per_process,
    round_medians,
)
from brainedge.benchmarks.rows import BenchRow
from brainedge.benchmarks.runner import DEFAULT_RUNS, DEFAULT_WARMUP, PARENT_ENV, latency_summary
from brainedge.benchmarks.schema import SCHEMA_VERSION
from brainedge.edge_runtime.backends import ONNX_BACKENDS, TFLITE_BACKENDS
from brainedge.edge_runtime.bundle import Bundle, find_bundles, is_bundle
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown
from brainedge.edge_runtime.metadata import BundleMetadata
from brainedge.edge_runtime.metrics import confusion_matrix, per_class_scores
from brainedge.edge_runtime.scoring import score_predictions
from brainedge.edge_runtime.variants import known_variant

RUNNER = (sys.executable, "-m", "brainedge.benchmarks.runner")
PAIRED = (sys.executable, "-m", "brainedge.benchmarks.paired")


UNKNOWN_FORMAT = "unknown"
"""The format of a row whose bundle could not be opened."""


@dataclass(frozen=True)
class Artifact:
    """A bundle as one benchmark row names it (its folder, or parent/folder when names repeat).

    ``opened`` is None when the bundle could not be opened; ``problem`` then says why.
    """

    name: str
    bundle: Path
    opened: Bundle | None
    problem: str | None = None

    @property
    def metadata(self) -> BundleMetadata:
        if self.opened is None:
            raise ValueError(f"{self.bundle} was not opened: {self.problem}")
        return self.opened.metadata

    @property
    def format(self) -> str:
        return self.metadata.model_format if self.opened else UNKNOWN_FORMAT


@dataclass(frozen=True)
class Settings:
    threads: Sequence[int | None] = (1,)
    backends: Sequence[str] = ("auto",)
    runs: int = DEFAULT_RUNS
    warmup: int = DEFAULT_WARMUP
    rounds: int = DEFAULT_ROUNDS
    block: int = DEFAULT_BLOCK
    settle: int = DEFAULT_SETTLE
    seed: int = DEFAULT_SEED
    processes: int = DEFAULT_PROCESSES
    timeout_s: float = 900.0
    runner: Sequence[str] = field(default_factory=lambda: RUNNER)
    paired: Sequence[str] = field(default_factory=lambda: PAIRED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "threads": list(self.threads),
            "backends": list(self.backends),
            "runs": self.runs,
            "warmup": self.warmup,
            "rounds": self.rounds,
            "block": self.block,
            "settle": self.settle,
            "seed": self.seed,
            "processes": self.processes,
            "timeout_s": self.timeout_s,
        }


def discover_bundles(paths: Sequence[Path]) -> list[Artifact]:
    """Bundle directories as given, or every published bundle below an export dir.

    A path that is neither is an error before any work; a bundle found but unopenable is kept,
    to become failed rows, so one bad metadata.json cannot cost the other bundles' results.
    """
    directories = find_bundles(paths)
    for folder in folders_without_bundles(paths, directories):
        print(f"note: {shown(folder)}: no bundle in this folder; skipped", file=sys.stderr)
    names = [_folder_name(d) for d in directories]
    return [
        _artifact(name if names.count(name) == 1 else f"{_folder_name(d.parent)}/{name}", d)
        for name, d in zip(names, directories)
    ]


def folders_without_bundles(paths: Sequence[Path], bundles: Sequence[Path]) -> list[Path]:
    """The folders directly inside a given export directory that hold no bundle, so none is passed over unsaid."""
    holding = {folder for bundle in bundles for folder in (bundle, *bundle.parents)}
    empty = []
    for path in map(Path, paths):
        if path in bundles or not path.is_dir():
            continue
        children = [child for child in path.iterdir() if child.is_dir() and not child.name.startswith(".")]
        empty += sorted(child for child in children if child not in holding)
    return empty


def _folder_name(directory: Path) -> str:
    """The folder's own name, also for "." and ".." (whose Path.name is no name at all)."""
    return Path(os.path.abspath(directory)).name


def _artifact(name: str, directory: Path) -> Artifact:
    if not is_bundle(Path(os.path.abspath(directory))):  # the one rule: hidden folders are export staging
        problem = f"{directory}: a hidden folder (an unfinished export's staging folder?) is never benchmarked"
        return Artifact(name, directory, None, problem)
    try:
        return Artifact(name, directory, Bundle.open(directory, check_model=False))
    except BrainEdgeError as error:
        return Artifact(name, directory, None, str(error))


def shared_class_names(artifacts: Sequence[Artifact]) -> list[str]:
    """All bundles must name the same classes in the same order, or accuracy is not comparable."""
    first = artifacts[0].metadata.class_names
    for artifact in artifacts[1:]:
        if artifact.metadata.class_names != first:
            raise BrainEdgeError(
                f"{artifact.bundle}: class names {artifact.metadata.class_names} "
                f"differ from {artifacts[0].bundle}'s {first}"
            )
    return first


def choose_reference(artifacts: Sequence[Artifact], name: str | None = None) -> str | None:
    """The float32 artifact agreement is measured against: named, else float32 TFLite, else any float32."""
    if name is not None:
        if name not in {a.name for a in artifacts}:
            raise BrainEdgeError(
                f"--reference {name!r} is not one of the artifacts ({', '.join(a.name for a in artifacts)})"
            )
        return name
    floats = [a for a in artifacts if a.opened and a.opened.is_float_reference]
    floats.sort(key=lambda a: a.format != "tflite")
    return floats[0].name if floats else None


def backends_for(artifact: Artifact, requested: Sequence[str]) -> list[str]:
    """The requested backends that can run this artifact's format ("auto" always can; all, if it is unknown)."""
    if artifact.opened is None:
        return list(requested)
    usable = TFLITE_BACKENDS if artifact.format == "tflite" else ONNX_BACKENDS
    return [b for b in requested if b == "auto" or b in usable]


def run_matrix(
    artifacts: Sequence[Artifact],
    test_set: LabelledSet | None,
    settings: Settings,
    run_id: str,
    device: str,
    reference: str | None,
    progress: bool = True,
    ood_set: OodSet | None = None,
) -> list[BenchRow]:
    """Every artifact x backend x threads, sequentially (parallel runs would skew each other's timings).

    ``ood_set``: images each artifact also tries to refuse as out-of-distribution, never in accuracy.
    """
    opened = [a for a in artifacts if a.opened]
    labels = test_set.labels_for(shared_class_names(opened)) if test_set and opened else []
    with tempfile.TemporaryDirectory() as scratch:
        images_file = Path(scratch) / "images.json"
        images_file.write_text(json.dumps([str(p) for p in test_set.paths] if test_set else []))
        ood_file = None
        if ood_set is not None:
            ood_file = Path(scratch) / "ood_images.json"
            ood_file.write_text(json.dumps([str(p) for p in ood_set.paths]))
        measured = [
            (
                artifact,
                backend,
                threads,
                run_isolated(artifact, backend, threads, images_file, settings, ood_file, progress),
            )
            for artifact in artifacts
            for backend in backends_for(artifact, settings.backends)
            for threads in settings.threads
        ]
        interleaved = time_interleaved(measured, images_file, settings, progress)
    rows = [
        make_row(
            a, backend, threads, payload, labels, run_id, device, ood_set, interleaved.get((a.name, backend, threads))
        )
        for a, backend, threads, payload in measured
    ]
    add_agreement(rows, [payload.get("predictions") for *_, payload in measured], reference)
    return rows


def run_isolated(
    artifact: Artifact,
    backend: str,
    threads: int | None,
    images_file: Path,
    settings: Settings,
    ood_file: Path | None,
    progress: bool,
) -> dict[str, Any]:
    """The runner's payload for one artifact, backend and thread count; a failed one for a bundle not opened."""
    if progress:
        doing = "benchmarking" if artifact.opened else "cannot benchmark"
        print(f"{doing} {artifact.name} [{backend}, {threads or 'default'} thread(s)]", file=sys.stderr, flush=True)
    if artifact.opened is None:
        payload = {"status": "failed", "error": artifact.problem}
    else:
        payload = run_one(artifact, backend, threads, images_file, settings, ood_file)
    if progress and payload.get("status") == "failed":
        print(f"  failed: {payload.get('error')}", file=sys.stderr, flush=True)
    return payload


def run_one(
    artifact: Artifact,
    backend: str,
    threads: int | None,
    images_file: Path,
    settings: Settings,
    ood_file: Path | None = None,
) -> dict[str, Any]:
    """The runner's JSON, or a failed payload saying why the subprocess gave none."""
    command = [
        *settings.runner,
        "--bundle",
        str(artifact.bundle),
        "--backend",
        backend,
        "--images",
        str(images_file),
        "--runs",
        str(settings.runs),
        "--warmup",
        str(settings.warmup),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    if ood_file is not None:
        command += ["--ood-images", str(ood_file)]
    return run_child(command, settings.timeout_s)


def phase_name(backend: str, threads: int | None) -> str:
    """Names the paired process that timed a row: rows of one run with the same phase were interleaved together."""
    return f"{backend}, {threads or 'default'} thread(s)"


def time_interleaved(
    measured: Sequence[tuple[Artifact, str, int | None, dict[str, Any]]],
    images_file: Path,
    settings: Settings,
    progress: bool = True,
) -> dict[tuple[str, str, int | None], dict[str, Any]]:
    """Per (artifact, backend, threads) measured fine in isolation, what the paired process of its phase timed.

    One paired process per backend and thread count times all of them; an artifact that failed its
    isolated run is left out, so a crashing interpreter cannot take the others' latency with it.
    """
    phases: dict[tuple[str, int | None], list[Artifact]] = {}
    for artifact, backend, threads, payload in measured:
        if payload.get("status") == "ok":
            phases.setdefault((backend, threads), []).append(artifact)
    timed = {}
    for (backend, threads), members in phases.items():
        name = phase_name(backend, threads)
        if progress:
            print(f"timing {len(members)} artifact(s) interleaved [{name}]", file=sys.stderr, flush=True)
        outcomes = []
        for index, rounds in enumerate(split_rounds(settings.rounds, settings.processes)):
            if progress:
                print(f"  process {index + 1}: {rounds} round(s)", file=sys.stderr, flush=True)
            payload = run_paired(members, backend, threads, images_file, settings, rounds, settings.seed + index)
            outcomes.append(phase_outcomes(name, payload, len(members)))
        for artifact, outcome in zip(members, join_processes(outcomes)):
            timed[(artifact.name, backend, threads)] = outcome
    return timed


def split_rounds(rounds: int, processes: int) -> list[int]:
    """The rounds each fresh process times: as even as they go, every process at least one."""
    processes = max(1, min(processes, rounds))
    return [rounds // processes + (index < rounds % processes) for index in range(processes)]


def join_processes(outcomes: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per artifact, the rounds of every process in order, how many came from each, and the device before the
    first and after the last; the first error any process had for it (its rounds are then dropped)."""
    joined = []
    for per_process_outcomes in zip(*outcomes):
        first, last = per_process_outcomes[0], per_process_outcomes[-1]
        error = next((o["error"] for o in per_process_outcomes if o.get("error")), None)
        rounds = [] if error else [block for o in per_process_outcomes for block in o["rounds"]]
        counts = [] if error else [len(o["rounds"]) for o in per_process_outcomes]
        spans = [(o.get("device_before"), o.get("device_after")) for o in per_process_outcomes]
        joined.append(
            {
                **first,
                "rounds": rounds,
                "process_rounds": counts,
                "error": error,
                "device_after": last["device_after"],
                "others_cores": others_cores_over(spans),
            }
        )
    return joined


def run_paired(
    members: Sequence[Artifact],
    backend: str,
    threads: int | None,
    images_file: Path,
    settings: Settings,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """The paired process's JSON for one phase, or a failed payload saying why it gave none.

    It gets the per-artifact ``--timeout`` once for each artifact it times.
    """
    command = [*settings.paired]
    for artifact in members:
        command += ["--bundle", str(artifact.bundle)]
    command += ["--backend", backend, "--images", str(images_file), "--warmup", str(settings.warmup)]
    command += ["--rounds", str(rounds), "--block", str(settings.block), "--settle", str(settings.settle)]
    command += ["--seed", str(seed)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return run_child(command, settings.timeout_s * len(members))


def phase_outcomes(name: str, payload: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Per artifact of the phase: its rounds (or why it has none) and the device before and after."""
    shared = {
        "phase": name,
        "artifacts": count,
        "device_before": payload.get("device_before"),
        "device_after": payload.get("device_after"),
    }
    entries = payload.get("artifacts") if payload.get("status") == "ok" else None
    if not isinstance(entries, list) or len(entries) != count:
        return [{**shared, "rounds": [], "error": payload.get("error", "no result")} for _ in range(count)]
    return [{**shared, "rounds": entry.get("rounds") or [], "error": entry.get("error")} for entry in entries]


def run_child(command: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """A measuring subprocess's JSON line, or a failed payload saying why it gave none.

    Ctrl-C here kills the child (subprocess.run does) before it reaches the CLI; on Linux the child
    also dies with this process however it is killed (see runner.die_with_parent).
    """
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout_s:g} s"}
    payload = _last_json_line(done.stdout)
    if payload is None:
        return {"status": "failed", "error": _crash_message(done.returncode, done.stderr)}
    return payload


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            continue
        return payload if isinstance(payload, dict) and "status" in payload else None
    return None


def _crash_message(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            cause = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            cause = f"killed by signal {-returncode}"
    else:
        cause = f"exited with status {returncode} without a result"
    tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:]
    return f"runner {cause}" + (f": {tail[0].strip()}" if tail else "")


def make_row(
    artifact: Artifact,
    backend: str,
    threads: int | None,
    payload: dict[str, Any],
    labels: list[int],
    run_id: str,
    device: str,
    ood_set: OodSet | None = None,
    interleaved: dict[str, Any] | None = None,
) -> BenchRow:
    """One schema row: identity, the runner's figures, the interleaved latency, accuracy from its predictions,
    and its answers' worth."""
    ok = payload.get("status") == "ok" and artifact.opened is not None
    predictions = payload.get("predictions") or []
    accuracy, macro_f1 = (
        classification_scores(labels, predictions, len(artifact.metadata.class_names))
        if ok and labels
        else (None, None)
    )
    size = artifact.opened.model_path if artifact.opened else None
    return BenchRow(
        run=run_id,
        device=device,
        artifact=artifact.name,
        format=artifact.format,
        variant=artifact.metadata.variant if artifact.opened else None,
        backend=payload.get("backend", backend) if ok else backend,
        threads=threads,
        accuracy=accuracy,
        macro_f1=macro_f1,
        agreement=None,
        size_bytes=size.stat().st_size if size and size.is_file() else None,
        init_ms=payload.get("init_ms"),
        first_ms=payload.get("first_ms"),
        **latency_fields(payload, interleaved if ok else None),
        throughput_ips=payload.get("throughput_ips"),
        peak_rss_mb=payload.get("peak_rss_mb"),
        images=payload.get("images"),
        image_errors=payload.get("image_errors"),
        unreadable_images=payload.get("unreadable_images", []),
        status="ok" if ok else "failed",
        error=None if ok else payload.get("error", "unknown error"),
        **answer_fields(labels, payload if ok else {}, ood_set, artifact.metadata.class_names if ok else None),
    )


def latency_fields(payload: dict[str, Any], interleaved: dict[str, Any] | None) -> dict[str, Any]:
    """The row's latency from the interleaved rounds, else the runner's (``payload``); the runner's always beside."""
    fields = {
        "latency_ms": payload.get("latency_ms"),
        "latency_samples_ms": payload.get("latency_samples_ms", []),
        "latency_isolated_ms": payload.get("latency_ms"),
        "paired": None if interleaved is None else paired_record(interleaved),
    }
    if interleaved and interleaved["rounds"]:
        samples = [round(ms, 4) for block in interleaved["rounds"] for ms in block]
        fields.update(latency_ms=latency_summary(samples), latency_samples_ms=samples)
    return fields


def paired_record(interleaved: dict[str, Any]) -> dict[str, Any]:
    """What the row keeps of its phase: per-round medians (for paired ratios), the p50's interval, drift, device."""
    round_ms = [round(ms, 4) for ms in round_medians(interleaved["rounds"])]
    before, after = interleaved.get("device_before") or {}, interleaved.get("device_after") or {}
    process_rounds = interleaved.get("process_rounds") or []
    interval = median_interval(per_process(round_ms, process_rounds))
    return {
        "phase": interleaved["phase"],
        "artifacts": interleaved["artifacts"],
        "round_ms": round_ms,
        "process_rounds": process_rounds,
        "p50_interval_ms": None if interval is None else list(interval),
        "drift": drift(round_ms),
        "device_before": interleaved.get("device_before"),
        "device_after": interleaved.get("device_after"),
        "throttled": throttled_between(before.get("throttled"), after.get("throttled")),
        "others_cores": interleaved["others_cores"] if "others_cores" in interleaved else others_cores(before, after),
        "error": interleaved.get("error"),
    }


def classification_scores(labels: list[int], predictions: list[int], num_classes: int) -> tuple[float, float]:
    """Accuracy and macro-F1; an unreadable image (-1) counts as wrong, in an extra column."""
    truth = np.asarray(labels)
    guessed = np.where(np.asarray(predictions) < 0, num_classes, predictions)
    matrix = confusion_matrix(truth, guessed, num_classes + 1)
    f1 = per_class_scores(matrix)["f1"][:num_classes]
    return score_predictions(predictions, labels).accuracy, float(f1.mean())


def add_agreement(rows: list[BenchRow], predictions: list[list[int] | None], reference: str | None) -> None:
    """Top-1 agreement of each row with the reference artifact at the same threads (and backend if it can)."""
    if reference is None:
        return
    for row, guessed in zip(rows, predictions):
        candidates = [(r, p) for r, p in zip(rows, predictions) if r.artifact == reference and r.status == "ok" and p]
        candidates.sort(key=lambda rp: (rp[0].threads != row.threads, rp[0].backend != row.backend))
        if guessed and candidates:
            ref = np.asarray(candidates[0][1])
            row.agreement = float((np.asarray(guessed) == ref).mean())


def is_float32(row: BenchRow) -> bool:
    """A row of a float reference variant (tflite_float32, onnx_float32), the base of ratios."""
    found = known_variant(row.variant)
    return found is not None and found.float_reference


def compute_ratios(rows: Sequence[BenchRow], references: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each non-float32 row against the float32 of the same run, format, backend and threads.

    When a file format has no float32 artifact (an ONNX int8 alone, say) the run's reference is used.
    """
    ratios = []
    ok = [r for r in rows if r.status == "ok"]
    for row in ok:
        if is_float32(row):
            continue
        peers = [r for r in ok if r.run == row.run and r.threads == row.threads]
        same_format = [r for r in peers if is_float32(r) and r.format == row.format]
        fallback = [r for r in peers if r.artifact == references.get(row.run)]
        matches = same_format or fallback
        if not matches:
            continue
        matches.sort(key=lambda r: r.backend != row.backend)
        ratios.append(ratio(row, matches[0]))
    return ratios


def ratio(row: BenchRow, reference: BenchRow) -> dict[str, Any]:
    accuracy, ref_accuracy = row.accuracy, reference.accuracy
    return {
        "run": row.run,
        "device": row.device,
        "artifact": row.artifact,
        "reference": reference.artifact,
        "backend": row.backend,
        "threads": row.threads,
        **latency_ratio(row, reference),
        "size_ratio": _divide(row.size_bytes, reference.size_bytes),
        "accuracy_delta": accuracy - ref_accuracy if accuracy is not None and ref_accuracy is not None else None,
    }


def latency_ratio(row: BenchRow, reference: BenchRow) -> dict[str, Any]:
    """Paired round by round, with its interval, when both were timed in one phase; else the ratio of the p50s."""
    paired = paired_ratio(*same_phase_rounds(row, reference), (row.paired or {}).get("process_rounds"))
    if paired is not None:
        return {
            "latency_p50_ratio": paired["ratio"],
            "latency_ratio_low": paired["low"],
            "latency_ratio_high": paired["high"],
            "paired_rounds": paired["rounds"],
            "drift_flagged": unsteady(row) or unsteady(reference),
        }
    p50 = (row.latency_ms or {}).get("p50")
    ref_p50 = (reference.latency_ms or {}).get("p50")
    return {
        "latency_p50_ratio": _divide(p50, ref_p50),
        "latency_ratio_low": None,
        "latency_ratio_high": None,
        "paired_rounds": None,
        "drift_flagged": None,
    }


def unsteady(row: BenchRow) -> bool:
    """Whether its interleaved phase flagged the row: its latency drifted, the SoC throttled, or others were busy."""
    paired = row.paired or {}
    return bool((paired.get("drift") or {}).get("flagged") or paired.get("throttled") or busy(paired))


def same_phase_rounds(row: BenchRow, reference: BenchRow) -> tuple[list[float], list[float]]:
    """Both rows' per-round medians when one paired process of one run timed them together; else two empty lists."""
    mine, theirs = row.paired or {}, reference.paired or {}
    if row.run != reference.run or not mine.get("phase") or mine.get("phase") != theirs.get("phase"):
        return [], []
    return mine.get("round_ms") or [], theirs.get("round_ms") or []


def _divide(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def make_run(
    run_id: str,
    device: dict[str, Any],
    command: str,
    settings: dict[str, Any] | None,
    test_set: dict[str, Any] | None,
    reference: str | None,
    ood_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": run_id,
        "device": device,
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings or {},
        "test_set": test_set,
        "ood_set": ood_set,
        "reference": reference,
    }


def assemble(runs: list[dict[str, Any]], rows: list[BenchRow]) -> dict[str, Any]:
    """A complete result as results.json holds it: runs, rows and the ratios derived from them."""
    references = {run["id"]: run.get("reference") for run in runs}
    ratios = compute_ratios(rows, references)
    return {"schema_version": SCHEMA_VERSION, "runs": runs, "rows": [row.to_json() for row in rows], "ratios": ratios}
