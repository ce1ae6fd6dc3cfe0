"""The training record (benchmarks/studies/train_report.py): what it reads of runs, the spread over seeds,
and what it states of the recipe; on generated run folders (no TensorFlow), and on one trained run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from older_runs import manifest_with_test_images, older_run
from train_data import TINY, make_training_data

from brainedge.benchmarks.studies import recipes, train_report
from brainedge.benchmarks.studies.train_report import process_record
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import read_manifest


def test_the_training_record_refuses_an_older_runs_all_images_test_figure(tmp_path: Path) -> None:
    """Before intervals, "test" counted every test image: with leaked ones it is no leak-free figure to report."""
    leaky = older_run(tmp_path / "leaky", manifest_with_test_images(tmp_path / "leaky.csv", [False] * 7 + [True] * 3))
    assert train_report.main([str(leaky), "--command", "pytest", "--out", str(tmp_path / "record")]) == 2


def test_the_training_record_gives_the_spread_over_seeds(tmp_path: Path) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    runs = [str(older_run(tmp_path / f"seed{seed}", manifest, seed, right)) for seed, right in enumerate((9, 10, 8))]
    out = tmp_path / "record"
    assert train_report.main([*runs, "--command", "pytest", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [(row["seed"], row["test"]["accuracy"]) for row in record["seeds"]["runs"]] == [(0, 0.9), (1, 1.0), (2, 0.8)]
    accuracy = record["seeds"]["spread"]["float"]["accuracy"]
    assert (accuracy["runs"], accuracy["mean"], accuracy["min"], accuracy["max"]) == (3, pytest.approx(0.9), 0.8, 1.0)
    assert accuracy["sd"] == pytest.approx(0.1) and accuracy["mean_interval"][0] == pytest.approx(
        0.9 - 4.3027 * 0.1 / 3**0.5, abs=1e-4
    )
    text = out.with_suffix(".md").read_text()
    assert "## Spread over seeds" in text and "n=3" in text and "Student's t" in text


def test_runs_of_different_recipes_are_not_averaged_as_seeds(tmp_path: Path, capsys) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    first, other = older_run(tmp_path / "a", manifest), older_run(tmp_path / "b", manifest, seed=1)
    config = json.loads((other / "config.json").read_text())
    config["train"]["finetune_epochs"] += 1
    (other / "config.json").write_text(json.dumps(config))
    assert train_report.main([str(first), str(other), "--command", "pytest", "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert "differs from" in error and "finetune_epochs" in error


def test_the_training_record_states_the_phases_the_trainer_ran(tmp_path: Path) -> None:
    """Pretrained: head, fine-tune and QAT; from scratch (--weights none) one phase trains everything."""
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    pretrained, scratch = older_run(tmp_path / "pretrained", manifest), older_run(tmp_path / "scratch", manifest)
    config = json.loads((scratch / "config.json").read_text())
    config["train"]["model"]["weights"] = "none"
    (scratch / "config.json").write_text(json.dumps(config))
    texts = []
    for run in (pretrained, scratch):
        assert train_report.main([str(run), "--command", "pytest", "--out", str(tmp_path / run.name)]) == 0
        texts.append((tmp_path / f"{run.name}.md").read_text())
    assert "head 2 epoch(s) at 0.001 (head only, batch norm frozen); then finetune 12 epoch(s)" in texts[0]
    assert "; then qat 1 epoch(s) at 1e-05 (every layer, batch norm frozen)" in texts[0]
    assert (
        "`none`; scratch 14 epoch(s) at 0.001 with cosine decay (every layer, batch norm trained); then qat" in texts[1]
    )
    assert "head 2 epoch(s)" not in texts[1]


@pytest.mark.parametrize(
    ("setting", "stated"),
    [
        ({}, "the best epoch by val accuracy kept, early stopping patience 4"),
        ({"keep_last_epoch": True}, "every epoch run and the last one's weights kept"),
        ({"refit": True}, "trained on train + val, every epoch run and the last one's weights kept"),
    ],
)
def test_the_training_record_states_which_weights_were_kept(tmp_path: Path, setting: dict, stated: str) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    run = older_run(tmp_path / "run", manifest)
    config = json.loads((run / "config.json").read_text())
    config["train"].update(setting)
    (run / "config.json").write_text(json.dumps(config))
    assert train_report.main([str(run), "--command", "pytest", "--out", str(tmp_path / "record")]) == 0
    assert f"Batch 32, {stated}, label smoothing" in (tmp_path / "record.md").read_text()


def test_training_record_reads_the_time_summary(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "[head] epoch 1/2 loss=0.5 accuracy=0.8 31 img/s, ETA 60s\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03\n"
        "\tMaximum resident set size (kbytes): 2048000\n"
    )
    assert process_record(log) == {"wall_s": 3723.0, "peak_rss_mb": 2000.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_training_data(tmp_path_factory.mktemp("train"))


@pytest.mark.slow
@pytest.mark.tensorflow
def test_the_recipe_study_trains_rows_over_seeds_and_tables_them(data, tmp_path, monkeypatch, capsys):
    """Two seeds of the baseline and one of a candidate, trained, exported and tabled: the flip-averaged
    row is paired with the same models' plain answers, which the baseline row scored from its record."""
    monkeypatch.setattr(recipes, "BASELINE", (*TINY, "--head-epochs", "1", "--finetune-epochs", "1"))
    monkeypatch.setattr(recipes, "WEIGHTS", data / "backbone.h5")
    monkeypatch.setattr(recipes, "EXPORT_OPTIONS", ("--representative", "16"))
    work, manifest = tmp_path / "work", data / "manifest.csv"
    for row, seed in (("baseline", 0), ("baseline", 1), ("smoothing-mixup", 3)):
        recipes.run_row(recipes.BY_NAME[row], seed, manifest, work)
    candidate = json.loads((work / "smoothing-mixup" / "seed-3" / "run" / "config.json").read_text())["train"]
    assert (candidate["seed"], candidate["label_smoothing"], candidate["mixup"]) == (3, 0.1, 0.2)
    finished = (work / "baseline" / "seed-0" / "run" / "history.csv").read_text()
    recipes.run_row(recipes.BY_NAME["baseline"], 0, manifest, work)  # finished: nothing retrained
    assert (work / "baseline" / "seed-0" / "run" / "history.csv").read_text() == finished

    out = tmp_path / "recipes"
    assert recipes.main(["table", "--work", str(work), "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    rows = {row["row"]: row for row in record["rows"]}
    assert [len(rows[name]["seeds"]) for name in ("baseline", "flip-average", "smoothing-mixup")] == [2, 2, 1]
    for plain, averaged in zip(rows["baseline"]["seeds"], rows["flip-average"]["seeds"]):
        test = json.loads((work / "baseline" / f"seed-{plain['seed']}" / "run" / "metrics_float.json").read_text())
        assert plain["float"]["accuracy"] == test["test"]["accuracy"]
        flips, images = averaged["against_plain"], averaged["float"]["images"]
        assert averaged["float"]["accuracy"] - plain["float"]["accuracy"] == pytest.approx(
            (flips["wrong_to_right"] - flips["right_to_wrong"]) / images
        )
        evaluation = json.loads(
            (work / "baseline" / f"seed-{plain['seed']}" / "export" / "evaluation_test.json").read_text()
        )
        ptq = next(row for row in evaluation if row["variant"] == "tflite_int8_ptq")
        assert plain["tflite_int8_ptq"]["flips"] == ptq["float_flips"]
    for seed in rows["baseline"]["seeds"] + rows["flip-average"]["seeds"]:
        score = seed["float"]
        assert 1 <= score["groups"] <= score["images"]
        assert score["group_interval"][0] <= score["accuracy"] <= score["group_interval"][1]
    assert set(rows["baseline"]["spread"]) == {"float", "tflite_int8_ptq", "tflite_int8_qat"}
    assert rows["baseline"]["spread"]["float"]["runs"] == 2
    text = out.with_suffix(".md").read_text()
    assert "| label smoothing 0.1 + mixup 0.2 | 1 |" in text and "baseline's" in text

    assert "| the recipe of benchmarks/mri_224.sh | 2 |" in text
    overlap = rows["baseline"]["error_overlap"]  # answers found again here, against the training records
    seeds = rows["baseline"]["seeds"]
    assert overlap["wrong_per_seed"] == [round((1 - s["float"]["accuracy"]) * s["float"]["images"]) for s in seeds]
    assert len(overlap["wrong_in_every_seed"]) <= min(overlap["wrong_per_seed"]) <= overlap["wrong_in_some_seed"]
    assert rows["smoothing-mixup"]["error_overlap"] is None and rows["flip-average"]["error_overlap"] is None
    assert "## Where the seeds of the recipe of benchmarks/mri_224.sh go wrong" in text
    gallery = out.with_name("recipes_always_wrong_baseline.png")
    assert gallery.exists() == bool(overlap["wrong_in_every_seed"])
    assert (f"]({gallery.name})" in text) == gallery.exists()

    test_set = read_manifest(manifest)
    shown = [  # five test images as wrong answers: the gallery draws each with where the model looked
        {"image": row.path, "path": str(test_set.root / row.path), "label": row.label}
        for row in test_set.split("test")[:5]
    ]
    sheet = np.asarray(recipes.always_wrong_gallery(work / "baseline" / "seed-0", shown))
    assert sheet.shape[1] == 4 * recipes.GALLERY_TILE and sheet.shape[0] > 2 * recipes.GALLERY_TILE
    assert (sheet[..., 0].astype(int) != sheet[..., 2]).mean() > 0.1  # the map's colours over gray slices

    # what must not count: a copied seed folder, an unfinished seed, another recipe, a seed mislabelled
    baseline = work / "baseline"
    shutil.copytree(baseline / "seed-1", baseline / "seed-1-old")
    shutil.copytree(baseline / "seed-1", baseline / "seed-5", ignore=shutil.ignore_patterns("export"))
    (work / "Baseline").mkdir()
    capsys.readouterr()
    assert recipes.main(["table", "--work", str(work), "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [seed["seed"] for seed in record["rows"][0]["seeds"]] == [0, 1]
    assert record["unfinished"] == [
        {
            "directory": str(baseline / "seed-5"),
            "stage": "export",
            "error": None,
            "float_test_accuracy": seeds[1]["float"]["accuracy"],
        }
    ]
    err = capsys.readouterr().err
    failed = work / "weight-decay" / "seed-2"  # a row tried once, its export refused: a finding, not "unmeasured"
    shutil.copytree(baseline / "seed-5", failed)
    (failed / "export.log").write_text("error: tflite_int8_ptq disagreed with the Keras model\n")
    assert recipes.main(["table", "--work", str(work), "--out", str(out)]) == 0
    assert "weight-decay" not in json.loads(out.with_suffix(".json").read_text())["unmeasured"]
    assert "- weight-decay seed 2: export not finished (tflite_int8_ptq disagreed" in out.with_suffix(".md").read_text()
    shutil.rmtree(failed.parent)
    for stranger in (work / "Baseline", baseline / "seed-1-old"):
        assert f"left out (not a row's seed-N folder): {stranger}\n" in err
    shutil.rmtree(baseline / "seed-5")
    evaluation = baseline / "seed-1" / "export" / "evaluation_test.json"
    kept = evaluation.read_bytes()
    evaluation.write_text("[{")
    assert recipes.main(["table", "--work", str(work), "--out", str(out)]) == 2
    assert "evaluation_test.json: damaged (" in capsys.readouterr().err
    evaluation.write_bytes(kept)
    assert recipes.main(["table", "--work", str(work), "--out", "."]) == 2
    assert "names no file: give a path without its suffix" in capsys.readouterr().err
    for source, target, expected in (
        (
            work / "smoothing-mixup" / "seed-3",
            baseline / "seed-3",
            "not row 'baseline''s recipe (label_smoothing, mixup",
        ),
        (baseline / "seed-0", baseline / "seed-7", "its run was trained with seed 0"),
    ):
        shutil.copytree(source, target)
        assert recipes.main(["table", "--work", str(work), "--out", str(out)]) == 2
        assert expected in capsys.readouterr().err
        shutil.rmtree(target)
    other = tmp_path / "other.csv"
    shutil.copy(manifest, other)
    with pytest.raises(BrainEdgeError, match="was trained on .*manifest.csv"):
        recipes.run_row(recipes.BY_NAME["baseline"], 1, other, work)

    assert recipes.main(["table", "--work", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert recipes.main(["table", "--work", str(manifest), "--out", str(out)]) == 2
    assert f"{manifest}: not a directory" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    not_a_manifest = tmp_path / "labels.csv"
    not_a_manifest.write_text("path,label\nscan.png,glioma\n")
    assert (
        recipes.main(["run", "baseline", "--seed", "0", "--manifest", str(not_a_manifest), "--work", str(fresh)]) == 2
    )
    assert "not a BrainEdge manifest" in capsys.readouterr().err and not fresh.exists(), "a refused run wrote a folder"
    with pytest.raises(SystemExit) as refused:  # a test-time row trains nothing
        recipes.main(["run", "flip-average", "--seed", "0", "--manifest", str(manifest), "--work", str(work)])
    assert refused.value.code == 2
