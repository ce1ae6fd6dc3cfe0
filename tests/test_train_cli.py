"""brainedge-train's command line without TensorFlow: what --resume tells the user it ignores."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import Manifest, ManifestRow, read_manifest, write_manifest
from brainedge.train.cli import (
    DEFAULTS,
    RESUME_OPTIONS,
    build_parser,
    check_out_folder,
    check_same_split,
    given_options,
    ignored_on_resume,
    saved_setting,
)
from brainedge.train.run_dir import RunDirectory


def parsed(argv: list[str]):
    args = build_parser().parse_args(argv)
    args.given = given_options(argv, args)
    return args


def test_every_option_maps_to_the_setting_a_run_saves() -> None:
    """A new option without a saved setting would make --resume fail or misreport it."""
    defaults = parsed([])
    for dest, value in vars(defaults).items():
        if dest not in (*RESUME_OPTIONS, "data", "given"):
            assert saved_setting(DEFAULTS, dest) == value, dest


def test_resume_names_the_typed_options_that_differ_from_the_run() -> None:
    saved = dataclasses.replace(DEFAULTS, seed=3, mixup=0.2, use_class_weights=False)
    same = ["--out", "run", "--resume", "--seed", "3", "--mixup", "0.2", "--no-class-weights", "--verbose"]
    assert ignored_on_resume(parsed(same), saved) == []
    other = ["--resume", "--seed=4", "--finetune-lr", "1e-4", "--data", "scans"]
    assert ignored_on_resume(parsed(other), saved) == ["--data scans", "--finetune-lr 0.0001", "--seed 4"]
    assert ignored_on_resume(parsed(["--resume"]), saved) == [], "an untyped default is not an ignored option"
    assert ignored_on_resume(parsed(["--resume", "--refit", "--keep-last-epoch"]), saved) == [
        "--keep-last-epoch",
        "--refit",
    ], "a flag is named as typed, not with its value"


def test_out_must_be_a_named_utf8_folder_holding_a_run_or_nothing(tmp_path: Path) -> None:
    def refused(*argv: str) -> str:
        with pytest.raises(BrainEdgeError) as error:
            check_out_folder(parsed(list(argv)))
        return str(error.value)

    assert "--out is empty or the current folder" in refused("--out", ".")
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/run \xff")
    assert "not valid UTF-8" in refused("--out", odd)
    dataset = tmp_path / "scans"
    (dataset / "glioma").mkdir(parents=True)
    assert "scans: already holds other files (glioma)" in refused("--out", str(dataset))
    check_out_folder(parsed(["--out", str(tmp_path / "new")]))  # a new folder
    (tmp_path / "split" / "manifest.csv").parent.mkdir()
    (tmp_path / "split" / "manifest.csv").write_text("")  # what --data wrote before a kill
    check_out_folder(parsed(["--out", str(tmp_path / "split")]))


def test_a_resumed_run_reads_its_split_from_a_new_place_but_not_another_split(tmp_path: Path) -> None:
    rows = [ManifestRow(f"{i}.jpg", "ab"[i % 2], "train" if i < 4 else "test", f"g{i}", f"{i:064d}", 8, 8, False)
            for i in range(6)]  # fmt: skip
    original, moved, other = tmp_path / "original.csv", tmp_path / "moved.csv", tmp_path / "other.csv"
    write_manifest(original, Manifest(root=tmp_path, rows=rows))
    write_manifest(moved, Manifest(root=tmp_path / "elsewhere", rows=rows))
    swapped = [dataclasses.replace(rows[0], split="test"), *rows[1:5], dataclasses.replace(rows[5], split="train")]
    write_manifest(other, Manifest(root=tmp_path, rows=swapped))
    saved = {"manifest": str(original), "split_fingerprint": read_manifest(original).split_fingerprint()}
    check_same_split(moved, saved)
    with pytest.raises(BrainEdgeError, match="other.csv: not the split this run was trained on"):
        check_same_split(other, saved)
    check_same_split(other, {"manifest": str(original)})  # a run from before the fingerprint: not checked


def test_damaged_run_files_are_named_in_one_line(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path)
    run.config_path.write_text("{}")
    with pytest.raises(BrainEdgeError, match=r"config.json: damaged \(no valid train, manifest\)"):
        run.read_config()
    run.state_path.write_text('{"completed": 5}')
    with pytest.raises(BrainEdgeError, match=r"state.json: damaged"):
        run.completed_phases()
    run.history_path.write_text("phase,epoch,val_accuracy\nqat,1,0.9\nfinetune,x,0.8\n")  # a line cut short
    with pytest.raises(BrainEdgeError, match=r"history.csv: damaged \(could not convert"):
        run.history()
    for path, read in ((run.history_path, run.history), (run.state_path, run.completed_phases)):
        path.unlink()
        path.mkdir()  # what cannot be read at all (a folder in its place; denied, for a user not root)
        with pytest.raises(BrainEdgeError, match=rf"{path.name}: damaged \(cannot read it: Is a directory\)"):
            read()


def test_resume_refuses_a_damaged_history_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from brainedge.train.cli import main
    from brainedge.train.config import ModelConfig, TrainConfig

    rows = [ManifestRow(f"{i}.jpg", "ab"[i % 2], "train", f"g{i}", f"{i:064d}", 8, 8, False) for i in range(4)]
    manifest = tmp_path / "manifest.csv"
    write_manifest(manifest, Manifest(root=tmp_path, rows=rows))
    run = RunDirectory(tmp_path / "run")
    run.write_config({"train": TrainConfig(model=ModelConfig(num_classes=2)).to_dict(), "manifest": str(manifest)})
    run.history_path.write_text("a,b,c\n1,2,3\n")  # another file's columns
    assert main(["--resume", "--out", str(run.path)]) == 2
    assert "history.csv: damaged (" in capsys.readouterr().err
    assert run.history_path.read_text() == "a,b,c\n1,2,3\n" and not run.state_path.exists()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda train: train.update(qat_epoch=1), "train: unknown setting(s) 'qat_epoch' (a typo"),
        (lambda train: train["model"].update(alpha="1.0"), "train.model.alpha: expected a number, found '1.0'"),
        (lambda train: train.update(refit=1), "train.refit: expected true or false, found 1"),
        (lambda train: train["model"].update(hidden_units=[64.5]), "train.model.hidden_units: expected a list of"),
        (lambda train: train["model"].pop("num_classes"), "train.model: missing setting(s) 'num_classes'"),
        (lambda train: train.update(batch_size=0), "--batch-size must be from 1 to 4096, got 0"),
    ],
)
def test_a_runs_settings_are_read_through_their_type(tmp_path: Path, edit, expected: str) -> None:
    """Resume and export read config.json's settings as a TrainConfig: what a hand edit breaks is named."""
    from brainedge.train.config import ModelConfig, TrainConfig

    run = RunDirectory(tmp_path)
    saved = TrainConfig(model=ModelConfig(num_classes=2, hidden_units=(64,)), seed=3, weight_decay=0)
    run.write_config({"train": saved.to_dict(), "manifest": "manifest.csv"})
    assert run.train_config() == saved  # the same settings back, an integer where a float may be included
    record = json.loads(run.config_path.read_text())
    edit(record["train"])
    run.config_path.write_text(json.dumps(record))
    with pytest.raises(BrainEdgeError) as refused:
        run.train_config()
    assert str(refused.value).startswith(f"{run.config_path}: damaged ({expected}") and "\n" not in str(refused.value)
