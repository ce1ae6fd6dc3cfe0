"""The recipe study of issue 21: changes to the default training recipe, each trained over several
seeds on one leak-free split and scored on its leak-free test images, as one table.

A row is a set of brainedge-train options on top of the baseline recipe (``benchmarks/mri_224.sh``'s),
or an evaluation of another row's models (left-right flip averaged at test time). ``run`` trains and
exports one row at one seed into ``WORK/ROW/seed-S/`` (the layout of mri_224.sh's work directory, so
that script's run is the baseline's seed 0 once linked there); ``table`` reads every finished seed:

  python -m brainedge.benchmarks.studies.recipes run smoothing-mixup --seed 1 \\
      --manifest runs/mri_224/manifest.csv --work runs/recipes
  python -m brainedge.benchmarks.studies.recipes table --work runs/recipes --out benchmarks/results/recipes_mri_224

Each row's accuracy is the mean over its seeds with the sd and the t-interval of the mean; each seed's
own 95% interval covers only its test images' sampling error. Int8 bundles are scored against their
seed's float model on the same images (flips, exact McNemar).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import SHARED, record_paths, study_command, write_record
from brainedge.benchmarks.studies.stats import SPREAD_CAVEAT, Spread, group_bootstrap_interval, spread
from brainedge.benchmarks.studies.train_report import WALL_CLOCK, process_record, run_metrics
from brainedge.edge_runtime.classifier import Classifier, ClassifierOptions
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser
from brainedge.edge_runtime.explain import SHORT_SIDE_AT_LEAST, overlay, png_bytes
from brainedge.edge_runtime.files import write_output
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.metrics import interval_text, paired_test, wilson_interval, with_interval
from brainedge.train.config import TrainConfig
from brainedge.train.quiet import quiet_tensorflow
from brainedge.train.run_dir import RunDirectory
from brainedge.train.scoring import LEAK_FREE_TEST

WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_no_top.h5"
BASELINE = (
    "--alpha", "1.0", "--input-size", "224", "--batch-size", "32", "--head-epochs", "2",
    "--finetune-epochs", "12", "--finetune-lr", "3e-4", "--patience", "4", "--qat-epochs", "1",
)  # fmt: skip
"""benchmarks/mri_224.sh's recipe, spelled out so a row stays what it was when the defaults move."""
EXPORTED = ("tflite_float32", "tflite_int8_ptq", "tflite_int8_qat")
EXPORT_OPTIONS: tuple[str, ...] = ()
"""Further brainedge-export options (its defaults: 200 representative images for int8 calibration)."""
INT8 = ("tflite_int8_ptq", "tflite_int8_qat")
FLIP_FIELDS = ("right_to_wrong", "wrong_to_right", "mcnemar_p")
GALLERY_TILE = SHORT_SIDE_AT_LEAST
"""A gallery tile's side: the smallest size ``overlay`` draws at, so each image is drawn whole."""
GALLERY_COLUMNS = 4


@dataclass(frozen=True)
class Row:
    name: str
    title: str
    options: tuple[str, ...] = ()
    """brainedge-train options added to BASELINE."""
    models_of: str | None = None
    """Evaluate this other row's trained models instead of training (a test-time change)."""
    flip_average: bool = False
    """Average each test image's probabilities with its left-right mirror's."""
    edge_cost: str = "none: the same network and input"


ROWS = (
    Row("baseline", "the recipe of benchmarks/mri_224.sh"),
    Row(
        "flip-average",
        "baseline models, left-right flip averaged at test time",
        models_of="baseline",
        flip_average=True,
        edge_cost="two invokes per image: twice the latency",
    ),
    Row("smoothing-mixup", "label smoothing 0.1 + mixup 0.2", ("--label-smoothing", "0.1", "--mixup", "0.2")),
    Row("weight-decay", "AdamW, weight decay 0.3", ("--weight-decay", "0.3")),
    Row("ema", "weights averaged over steps (EMA 0.99), written in at each epoch's end", ("--ema", "0.99")),
    Row(
        "last-epoch",
        "every epoch run, the last one's weights kept (no early stopping or choice by val accuracy)",
        ("--keep-last-epoch",),
    ),
    Row(
        "refit",
        "trained on train + val, every epoch run, the last one's weights kept",
        ("--refit",),
    ),
    Row(
        "finetune-lr-1e-4",
        "fine-tuning at a third of the learning rate (1e-4 instead of 3e-4)",
        ("--finetune-lr", "1e-4"),
    ),
    Row(
        "finetune-lr-1e-3",
        "fine-tuning at three times the learning rate (1e-3 instead of 3e-4)",
        ("--finetune-lr", "1e-3"),
    ),
    Row(
        "top-8-blocks",
        "fine-tuning only the top 8 of the 16 backbone blocks (the lower half stays ImageNet's)",
        ("--finetune-blocks", "8"),
    ),
    Row(
        "input-288",
        "input 288 px (ImageNet weights of the 224 px network)",
        ("--input-size", "288"),
        edge_cost="(288/224)^2 = 1.65x the multiply-adds per image",
    ),
)
BY_NAME = {row.name: row for row in ROWS}


# -- run: one row, one seed ---------------------------------------------------------------------


def seed_directory(work: Path, row: Row, seed: int) -> Path:
    return work / row.name / f"seed-{seed}"


def run_row(row: Row, seed: int, manifest: Path, work: Path) -> Path:
    """Train (resuming a killed run) and export one seed of a row; returns its directory."""
    directory = seed_directory(work, row, seed)
    check_run_inputs(row, seed, manifest, directory)
    directory.mkdir(parents=True, exist_ok=True)
    run, export = directory / "run", directory / "export"
    if not (run / "metrics_qat.json").exists():
        resume = ["--resume"] if (run / "config.json").exists() else []
        train = [
            sys.executable, "-m", "brainedge.train", "--manifest", str(manifest), "--out", str(run), *resume,
            "--weights", str(WEIGHTS), "--seed", str(seed), *BASELINE, *row.options,
        ]  # fmt: skip
        timed = ["/usr/bin/time", "-v", *train] if Path("/usr/bin/time").exists() else train
        print(f"[{row.name} seed {seed}] training, log {directory / 'train.log'}", flush=True)
        with open(directory / "train.log", "a" if resume else "w") as log:  # resumed: every attempt's time kept
            step("training", timed, log)
    if not (export / "evaluation_test.json").exists():
        print(f"[{row.name} seed {seed}] exporting {', '.join(EXPORTED)}", flush=True)
        partial = directory / "export.partial"
        shutil.rmtree(partial, ignore_errors=True)
        python = [sys.executable, "-m"]
        with open(directory / "export.log", "w") as log:
            step("export", [*python, "brainedge.export", str(run), "--out", str(partial), "--variants", *EXPORTED,
                            *EXPORT_OPTIONS], log)  # fmt: skip
            step(
                "evaluation",
                [*python, "brainedge.export.evaluate", str(run), str(partial), "--split", "test",
                 "--out", str(partial / "evaluation_test.json")],
                log,
            )  # fmt: skip
        shutil.rmtree(export, ignore_errors=True)
        partial.rename(export)  # only a finished export is found under export/
    return directory


def check_run_inputs(row: Row, seed: int, manifest: Path, directory: Path) -> None:
    """Refuse, before anything is written, what would train the wrong thing or fail later."""
    if row.models_of is not None:
        raise BrainEdgeError(f"row {row.name!r} trains nothing: it evaluates {row.models_of!r}'s models")
    if not 0 <= seed < 2**32:
        raise BrainEdgeError(f"--seed must be between 0 and 2**32 - 1, got {seed}")
    read_manifest(manifest)  # a wrong file is refused here, not by the trainer after train.log is started
    if not WEIGHTS.is_file():
        raise BrainEdgeError(f"{WEIGHTS}: the shared ImageNet weights are missing (set BRAINEDGE_SHARED)")
    for parent in (directory, *directory.parents):
        if parent.exists() and not parent.is_dir():
            raise BrainEdgeError(f"{parent}: not a directory")
    config = directory / "run" / "config.json"
    if config.exists():
        trained_on = Path(json.loads(config.read_text())["manifest"])
        if trained_on != manifest.resolve():
            raise BrainEdgeError(f"{directory}: was trained on {trained_on}, not {manifest}; use that manifest")


def step(name: str, command: list[str], log: IO[str]) -> None:
    """Run one stage in its own session; on Ctrl-C or SIGTERM the whole session gets SIGTERM (SIGINT would
    miss a trainer that inherited an ignored SIGINT, as under nohup, and stopping only /usr/bin/time
    leaves the trainer running). A killed brainedge-train resumes from its last finished epoch."""
    log.flush()
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = child.wait()
    except BaseException:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait()
        raise
    if code != 0:
        error = stage_error(Path(log.name))
        raise BrainEdgeError(f"{name} failed{f' ({error})' if error else ''}; its output is in {log.name}")


def stage_error(log: Path) -> str | None:
    """The stage's own one-line error (its last ``error: ...`` line), when it printed one."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("error:")]
    return lines[-1].removeprefix("error:").strip() if lines else None


def stop_on_sigterm() -> None:
    """SIGTERM (kill, systemd) stops a stage like Ctrl-C does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


# -- table: every finished seed of every row ----------------------------------------------------


SEED_DIRECTORY = re.compile(r"seed-(0|[1-9][0-9]*)")


def seed_directories(work: Path, row: Row) -> list[Path]:
    """The seed directories of the row whose models this row reads (``seed-N``, N as written by ``run``)."""
    trained = BY_NAME[row.models_of] if row.models_of else row
    folder = work / trained.name
    found = [path for path in folder.iterdir() if SEED_DIRECTORY.fullmatch(path.name)] if folder.is_dir() else []
    return sorted(found, key=seed_of)


def strangers(work: Path) -> list[Path]:
    """Folders in WORK that no row reads (a misspelt row, a copied seed): named, not silently ignored."""
    trained = {row.name for row in ROWS if row.models_of is None}
    found = []
    for folder in sorted(work.iterdir()):
        if folder.name not in trained:
            found.append(folder)
        elif folder.is_dir():
            found += [path for path in sorted(folder.iterdir()) if not SEED_DIRECTORY.fullmatch(path.name)]
    return found


def is_finished(directory: Path) -> bool:
    """Trained (QAT included) and exported: a killed run or export is not scored."""
    trained = (directory / "run" / "metrics_qat.json").exists()
    return trained and (directory / "export" / "evaluation_test.json").exists()


def unfinished_record(directory: Path) -> dict[str, Any]:
    """How far a seed that is not scored got, and why it stopped: a collapsed run whose int8 bundle the
    export refused is a finding, not a row "not measured yet"."""
    run = RunDirectory(directory / "run")
    stage = "export" if (run.path / "metrics_qat.json").exists() else "training"
    log = directory / ("export.log" if stage == "export" else "train.log")
    error, accuracy = stage_error(log) if log.is_file() else None, None
    if stage == "export":
        try:
            accuracy = run_metrics(run, run.read_config())["float"][LEAK_FREE_TEST]["accuracy"]
        except BrainEdgeError as damaged:
            error = str(damaged)
    return {"directory": str(directory), "stage": stage, "error": error, "float_test_accuracy": accuracy}


def unfinished_text(seed: dict[str, Any]) -> str:
    directory = Path(seed["directory"])
    text = f"{directory.parent.name} {directory.name.replace('-', ' ')}: {seed['stage']} not finished"
    text += f" ({seed['error']})" if seed["error"] else ""
    if seed["float_test_accuracy"] is not None:
        text += f"; its float32 model scored {seed['float_test_accuracy']:.4f} on the leak-free test (training's)"
    return text


def check_seed_run(directory: Path, row: Row, manifest: Path | None) -> Path:
    """The run in ``directory`` is this row's recipe at this directory's seed; returns its manifest."""
    config = RunDirectory(directory / "run").read_config()
    trained = BY_NAME[row.models_of] if row.models_of else row
    if config["train"]["seed"] != seed_of(directory):
        raise BrainEdgeError(f"{directory}: its run was trained with seed {config['train']['seed']}")
    actual, settings = TrainConfig.from_dict(config["train"]).to_dict(), recipe_settings(trained)
    expected = {**actual, **settings, "model": {**actual["model"], **settings["model"]}}
    if actual != expected:
        differing = sorted(key for key in actual if actual[key] != expected[key])
        raise BrainEdgeError(f"{directory}: not row {trained.name!r}'s recipe ({', '.join(differing)} differ)")
    trained_on = Path(config["manifest"])
    if manifest is not None and trained_on != manifest:
        raise BrainEdgeError(f"{directory}: trained on {trained_on}, the other seeds on {manifest}")
    return trained_on


def recipe_settings(row: Row) -> dict[str, Any]:
    """The TrainConfig fields the row's options set (model fields under "model"), as brainedge-train parses them."""
    from brainedge.train.cli import build_parser, config_from_args

    arguments = ["--manifest", "m", "--weights", "w", *BASELINE, *row.options]
    settings = config_from_args(build_parser().parse_args(arguments)).to_dict()
    for key in ("seed", "mixed_precision", "cpu_replicas"):
        settings.pop(key)
    for key in ("weights", "num_classes"):
        settings["model"].pop(key)
    return settings


def seed_scores(directory: Path, flip_average: bool) -> dict[str, Any]:
    """One seed's leak-free test scores: the float model's, from its training record or, flip-averaged,
    measured here against its plain answers; each int8 bundle's from the export's evaluation."""
    log = directory / "train.log"
    attempts = len(WALL_CLOCK.findall(log.read_text(errors="replace"))) if log.exists() else 0
    scores: dict[str, Any] = {"seed": seed_of(directory), "process": {**process_record(log), "attempts": attempts}}
    answers = float_answers(directory / "run")
    plain = answers.right(answers.plain)
    if flip_average:
        averaged = answers.right(answers.flip_averaged)
        scores["float"] = accuracy_record(averaged, answers.groups)
        scores["against_plain"] = paired_test(plain, averaged).record()
        return scores
    run = RunDirectory(directory / "run")
    test = run_metrics(run, run.read_config())["float"][LEAK_FREE_TEST]
    scores["float"] = {
        "accuracy": test["accuracy"],
        "interval": test["intervals"]["accuracy"],
        "group_interval": list(group_bootstrap_interval(plain, answers.groups)),
        "images": test["count"],
        "groups": len(set(answers.groups)),
    }
    evaluation = directory / "export" / "evaluation_test.json"
    for row in read_evaluation(evaluation):
        if row["variant"] in INT8:
            try:
                scores[row["variant"]] = {
                    "accuracy": float(row["accuracy"]),
                    "interval": [float(bound) for bound in row["accuracy_interval"]],
                    "flips": {
                        key: row["float_flips"][key] for key in ("right_to_wrong", "wrong_to_right", "mcnemar_p")
                    },
                }
            except (KeyError, TypeError, ValueError) as error:
                raise BrainEdgeError(
                    f"{evaluation}: damaged ({row['variant']}: {type(error).__name__} {error}); "
                    "rerun `recipes run` for that seed"
                ) from None
    return scores


def read_evaluation(path: Path) -> list[dict[str, Any]]:
    """export.evaluate's rows, one per bundle."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BrainEdgeError(f"{path}: damaged ({error}); rerun `recipes run` for that seed") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) and "variant" in row for row in rows):
        raise BrainEdgeError(f"{path}: damaged (not export.evaluate's list of rows); rerun `recipes run` for that seed")
    return rows


@dataclass(frozen=True)
class TestProbabilities:
    """The float Keras model's probabilities on each leak-free test image, plain and averaged with
    the left-right mirror's."""

    names: list[str]
    paths: list[Path]
    class_names: list[str]
    groups: np.ndarray
    """Each image's near-duplicate group in the manifest: the unit of the group bootstrap."""
    labels: np.ndarray
    plain: np.ndarray
    flip_averaged: np.ndarray

    def right(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities.argmax(axis=1) == self.labels


@functools.cache
def float_answers(run_dir: Path) -> TestProbabilities:
    """Cached: the flip-averaged row and the error overlap read the same models' answers."""
    from brainedge.export.run import LabelledImages, TrainingRun

    run = TrainingRun.open(run_dir)
    images = LabelledImages.load(run, "test")
    inputs = images.float_inputs(run.input_spec)
    model = run.load_float_model()
    plain = model.predict(inputs, verbose=0)
    averaged = (plain + model.predict(inputs[:, :, ::-1, :], verbose=0)) / 2
    names = [
        f"{path.parent.name}/{path.name} ({run.class_names[label]})" for path, label in zip(images.paths, images.labels)
    ]
    groups = np.array([row.group for row in run.manifest.split("test") if not row.leaked])  # LabelledImages' order
    return TestProbabilities(names, list(images.paths), list(run.class_names), groups, images.labels, plain, averaged)


def error_overlap(finished: list[Path]) -> dict[str, Any]:
    """Whether the seeds miss the same images: those wrong in every seed no other seed will fix, and
    averaging the seeds' probabilities (a 3-model ensemble) shows what disagreement alone is worth."""
    answers = [float_answers(directory / "run") for directory in finished]
    if len({tuple(a.names) for a in answers}) != 1:
        raise BrainEdgeError(f"{finished[0].parent}: the seeds were scored on different test images")
    wrong = np.array([~a.right(a.plain) for a in answers])
    averaged = np.mean([a.plain for a in answers], axis=0)
    first = answers[0]
    every = np.flatnonzero(wrong.all(axis=0))
    return {
        "wrong_per_seed": wrong.sum(axis=1).tolist(),
        "wrong_in_some_seed": int(wrong.any(axis=0).sum()),
        "wrong_in_every_seed": [
            {
                "image": first.names[i],
                "path": str(first.paths[i]),
                "label": first.class_names[first.labels[i]],
                "answer": first.class_names[int(averaged[i].argmax())],
                "probability": float(averaged[i].max()),
            }
            for i in every
        ],
        "seeds_averaged": accuracy_record(first.right(averaged), first.groups),
    }


def write_galleries(record: dict[str, Any], work: Path, out: Path) -> None:
    """``OUT_always_wrong_ROW.png`` for each row with images wrong in every seed, named in its record."""
    for row in record["rows"]:
        if row["error_overlap"] and (wrong := row["error_overlap"]["wrong_in_every_seed"]):
            path = out.with_name(f"{out.name}_always_wrong_{row['row']}.png")
            seed = seed_directory(work, BY_NAME[row["row"]], row["seeds"][0]["seed"])
            write_output(path, png_bytes(always_wrong_gallery(seed, wrong)))
            row["always_wrong_gallery"] = path.name


def always_wrong_gallery(directory: Path, wrong: list[dict[str, Any]]) -> Image.Image:
    """The images every seed gets wrong, each with where one seed's float32 bundle looked (its class map
    for the class it answered) and that answer: a reader can judge a small lesion from a doubtful label."""
    classifier = Classifier.from_bundle(directory / "export" / "tflite_float32", ClassifierOptions(explain=True))
    tiles = []
    for image in wrong:
        prediction = classifier.classify(image["path"])
        caption = f"{Path(image['path']).name}: {image['label']} -> {prediction.label} {prediction.score:.2f}"
        small = Image.fromarray(prediction.pixels.squeeze()).resize((GALLERY_TILE, GALLERY_TILE), Image.BILINEAR)
        tiles.append(overlay(np.asarray(small), prediction.class_map, caption))
    columns = min(len(tiles), GALLERY_COLUMNS)
    width, height = max(t.width for t in tiles), max(t.height for t in tiles)
    sheet = Image.new("RGB", (width * columns, height * -(-len(tiles) // columns)), (0, 0, 0))
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % columns) * width, (index // columns) * height))
    return sheet


def accuracy_record(correct: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    return {
        "accuracy": float(correct.mean()),
        "interval": list(wilson_interval(int(correct.sum()), len(correct))),
        "group_interval": list(group_bootstrap_interval(correct, groups)),
        "images": len(correct),
        "groups": len(set(groups)),
    }


def seed_of(directory: Path) -> int:
    return int(directory.name.removeprefix("seed-"))


def row_record(row: Row, finished: list[Path]) -> dict[str, Any]:
    """The row's scores over its finished seeds."""
    seeds = [seed_scores(directory, row.flip_average) for directory in finished]
    overlap = error_overlap(finished) if len(finished) > 1 and not row.models_of else None
    return {
        "row": row.name,
        "title": row.title,
        "train_options": list(BASELINE + BY_NAME[row.models_of or row.name].options),
        "models_of": row.models_of,
        "flip_average": row.flip_average,
        "edge_cost": row.edge_cost,
        "seeds": seeds,
        "spread": {
            model: spread([seed[model]["accuracy"] for seed in seeds]).record()
            for model in ("float", *INT8)
            if all(model in seed for seed in seeds)
        },
        "error_overlap": overlap,
    }


def build_table(work: Path) -> dict[str, Any]:
    if not work.is_dir():
        raise BrainEdgeError(f"{work}: {'not a directory' if work.exists() else 'no such directory'}")
    rows, unfinished, manifest = [], [], None
    for row in ROWS:
        finished = [directory for directory in seed_directories(work, row) if is_finished(directory)]
        if not row.models_of:
            unfinished += [unfinished_record(d) for d in seed_directories(work, row) if not is_finished(d)]
        for directory in finished:
            manifest = check_seed_run(directory, row, manifest)
        rows += [row_record(row, finished)] if finished else []
    for seed in unfinished:
        print(f"left out, not scored ({seed['directory']}): {unfinished_text(seed)}", file=sys.stderr)
    for path in strangers(work):
        print(f"left out (not a row's seed-N folder): {path}", file=sys.stderr)
    if not rows:
        raise BrainEdgeError(f"{work}: no finished seed of any row (run `recipes run ROW --seed S` first)")
    return {
        "work": str(work),
        "manifest": str(manifest),
        "rows": rows,
        "unfinished": unfinished,
        "unmeasured": [r.name for r in ROWS if r.name not in {x["row"] for x in rows} | tried_rows(unfinished)],
    }


def tried_rows(unfinished: list[dict[str, Any]]) -> set[str]:
    return {Path(seed["directory"]).parent.name for seed in unfinished}


# -- the record ---------------------------------------------------------------------------------


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Recipe study (issue 21): leak-free test accuracy over seeds",
        "",
        f"Command: `{record['command']}`  ",
        f"Device: {record['device']['cpu']} ({record['device']['cores']} cores)",
        "",
        f"Every seed of every row was trained on `{record['manifest']}` (checked) and is scored on its test "
        "images that have no near-duplicate in training or validation. Accuracy: mean ± sd over seeds (range), "
        "the 95% t-interval of the mean. A seed's own 95% intervals are in the per-seed table: Wilson's, over "
        "images, and a bootstrap over near-duplicate groups (whole groups redrawn), which counts a slice saved "
        "several times once and so is the wider, honest one where the test images come in groups. A seed "
        "counts once its training (QAT included) and export have finished.",
        "",
        "| row | seeds | float32 accuracy | int8 PTQ | int8 QAT | train wall time per seed | edge cost |",
        "|---|---:|---|---|---|---:|---|",
    ]
    for row in record["rows"]:
        spreads = {model: Spread.from_record(summary) for model, summary in row["spread"].items()}
        walls = [seed["process"]["wall_s"] for seed in row["seeds"] if seed["process"]["wall_s"] is not None]
        resumed = sum(seed["process"]["attempts"] > 1 for seed in row["seeds"])
        wall = f"{row['models_of']}'s" if row["models_of"] else (f"{np.mean(walls) / 60:.0f} min" if walls else "")
        wall += f" ({resumed} resumed: all attempts)" if resumed else ""
        lines.append(
            f"| {row['title']} | {len(row['seeds'])} | {spreads['float'].summary()} | "
            f"{_short(spreads.get('tflite_int8_ptq'))} | {_short(spreads.get('tflite_int8_qat'))} | {wall} | "
            f"{row['edge_cost']} |"
        )
    lines += ["", SPREAD_CAVEAT, "", "## Per seed", ""]
    lines += [
        "| row | seed | images (groups) | float32 [95% Wilson] | [95% over groups] "
        "| int8 PTQ [95%], flips vs float, McNemar p | int8 QAT [95%], flips, p |"
    ]
    lines += ["|---|---:|---:|---|---|---|---|"]
    for row in record["rows"]:
        for seed in row["seeds"]:
            score = seed["float"]
            lines.append(
                f"| {row['row']} | {seed['seed']} | {score['images']} ({score['groups']}) | "
                f"{with_interval(score['accuracy'], score['interval'])} | {interval_text(score['group_interval'])} | "
                f"{_int8(seed.get('tflite_int8_ptq'))} | {_int8(seed.get('tflite_int8_qat'))} |"
            )
    for row in record["rows"]:
        if row["models_of"]:
            lines += ["", f"{row['title']}, against the same models' plain answers (right->wrong / wrong->right):", ""]
            lines += [
                f"- seed {seed['seed']}: {flips['right_to_wrong']} / {flips['wrong_to_right']}, McNemar p = "
                f"{flips['mcnemar_p']:.3g}"
                for seed in row["seeds"]
                if (flips := seed["against_plain"])
            ]
    lines += error_overlap_lines(record)
    if record["unfinished"]:
        lines += ["", "## Seeds not scored", ""]
        lines += [f"- {unfinished_text(seed)}" for seed in record["unfinished"]]
    if record["unmeasured"]:
        lines += ["", f"Rows defined but not measured yet: {', '.join(record['unmeasured'])}."]
    return "\n".join(lines) + "\n"


def error_overlap_lines(record: dict[str, Any]) -> list[str]:
    lines = []
    for row in record["rows"]:
        if not (overlap := row.get("error_overlap")):
            continue
        seeds_averaged = overlap["seeds_averaged"]
        every = overlap["wrong_in_every_seed"]
        lines += [
            "",
            f"## Where the seeds of {row['title']} go wrong",
            "",
            f"Float32, leak-free test: {' / '.join(map(str, overlap['wrong_per_seed']))} images wrong per seed; "
            f"{overlap['wrong_in_some_seed']} wrong in at least one seed, {len(every)} in every seed. Averaging the "
            f"{len(row['seeds'])} seeds' probabilities (an ensemble, {len(row['seeds'])}x the edge cost) scores "
            f"{with_interval(seeds_averaged['accuracy'], seeds_averaged['interval'])}.",
        ]
        if every:
            lines += ["", "Wrong in every seed (folder/file (label): the seeds' averaged answer):", ""]
            lines += [f"- {image['image']}: {image['answer']} {image['probability']:.2f}" for image in every]
            if gallery := row.get("always_wrong_gallery"):
                lines += ["", f"![where seed {row['seeds'][0]['seed']}'s float32 bundle looked]({gallery})"]
    return lines


def _short(summary: Spread | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.mean:.4f}" + ("" if summary.sd is None else f" ± {summary.sd:.4f}")


def _int8(scores: dict[str, Any] | None) -> str:
    if scores is None:
        return "-"
    flips = scores["flips"]
    return (
        f"{with_interval(scores['accuracy'], scores['interval'])}, "
        f"{flips['right_to_wrong']} / {flips['wrong_to_right']}, p = {flips['mcnemar_p']:.3g}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m brainedge.benchmarks.studies.recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="train (from BRAINEDGE_SHARED's or ../shared's ImageNet weights; 20-40 min per seed on 2 cores) and "
        "export one seed of a row: " + "; ".join(f"{row.name}: {row.title}" for row in ROWS if row.models_of is None),
    )
    run.add_argument("row", choices=[row.name for row in ROWS if row.models_of is None])
    run.add_argument("--seed", type=int, required=True)
    run.add_argument("--manifest", type=Path, required=True, help="the leak-free split (brainedge-data split)")
    run.add_argument("--work", type=Path, required=True, help="the study's work directory")
    table = commands.add_parser(
        "table",
        help="the table over every finished seed of every row, with the rows evaluated on other rows' models: "
        + "; ".join(f"{row.name}: {row.title}" for row in ROWS if row.models_of),
    )
    table.add_argument("--work", type=Path, required=True)
    table.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    quiet_tensorflow(verbose=False)  # the table loads Keras models
    try:
        if args.command == "run":
            run_row(BY_NAME[args.row], args.seed, args.manifest, args.work)
            return 0
        outputs = record_paths(args.out)
        result = {"command": study_command("recipes", argv), "device": device_record(), **build_table(args.work)}
        write_galleries(result, args.work, args.out)
        write_record(outputs, result, markdown)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the same command resumes", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
