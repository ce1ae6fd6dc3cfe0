"""brainedge-classify end to end on tiny real bundles: formats, uncertainty, kiosk mode, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from make_tiny_bundles import CLASSES
from PIL import Image

from brainedge.edge_runtime import cli
from brainedge.edge_runtime.classifier import UNCERTAIN, Classifier, ClassifierOptions
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.explain import overlay
from brainedge.edge_runtime.metadata import METADATA_FILE, SCHEMA_VERSION, write_labels
from brainedge.edge_runtime.streaming import AHEAD_PER_WORKER

REPO = Path(__file__).resolve().parents[1]


def classify(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def copy_bundle(bundles: Path, tmp_path: Path, variant: str = "int8") -> Path:
    return Path(shutil.copytree(bundles / variant, tmp_path / f"bundle_{variant}"))


def edit_metadata(bundle: Path, **changes: object) -> None:
    path = bundle / METADATA_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def png_claiming(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims width x height: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


# --- output formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_text_output_names_each_image_class(bundles: Path, variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = classify(["--bundle", str(bundles / variant), str(bundles / "images")], capsys)
    lines = out.splitlines()
    assert code == 0
    assert len(lines) == len(CLASSES) * 4
    for line in lines:
        path, verdict = line.split(": ", 1)
        assert verdict.split("  [")[0] == Path(path).parent.name


def test_json_lines_have_exactly_the_documented_keys(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = classify(
        ["--bundle", str(bundles / "int8"), "--format", "json", "--top-k", "2", str(bundles / "images" / "blue")],
        capsys,
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 4
    for record in records:
        keys = ["source", "label", "score", "uncertain", "ood", "ood_score", "top_k", "latency_ms", "timings_ms"]
        assert list(record) == keys
        assert list(record["timings_ms"]) == ["decode", "preprocess", "inference"]
        assert record["latency_ms"] == pytest.approx(sum(record["timings_ms"].values()), abs=0.01)
        assert min(record["timings_ms"].values()) > 0
        assert record["label"] == "blue" and record["uncertain"] is False
        assert record["ood"] is None and record["ood_score"] is None  # a bundle without a head cannot tell
        assert [entry["label"] for entry in record["top_k"]][0] == "blue"
        assert len(record["top_k"]) == 2 and set(record["top_k"][0]) == {"label", "score"}
        assert record["score"] == record["top_k"][0]["score"] >= record["top_k"][1]["score"]


def test_json_flag_is_an_alias_of_format_json(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = str(bundles / "images" / "red" / "0.png")
    _, alias, _ = classify(["--bundle", str(bundles / "int8"), "--json", image], capsys)
    _, explicit, _ = classify(["--bundle", str(bundles / "int8"), "--format", "json", image], capsys)
    untimed = [{**json.loads(line), "latency_ms": None, "timings_ms": None} for line in (alias, explicit)]
    assert untimed[0] == untimed[1] and untimed[0]["label"] == "red"


def test_csv_has_a_header_and_one_row_per_image(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = classify(
        ["--bundle", str(bundles / "float32"), "--format", "csv", "--top-k", "5", str(bundles / "images")], capsys
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == len(CLASSES) * 4
    # top-k is capped at the 3 classes the model has.
    assert list(rows[0]) == [
        "source",
        "label",
        "score",
        "uncertain",
        "ood",
        "ood_score",
        "latency_ms",
        "label_2",
        "score_2",
        "label_3",
        "score_3",
    ]
    for row in rows:
        assert row["label"] == Path(row["source"]).parent.name
        assert row["uncertain"] == "false"
        assert {row["label"], row["label_2"], row["label_3"]} == set(CLASSES)
        assert 1.0 >= float(row["score"]) >= float(row["score_2"]) >= float(row["score_3"]) >= 0.0


def test_interpreter_flags_do_not_change_the_answers(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = str(bundles / "images")
    _, default, _ = classify(["--bundle", str(bundles / "int8"), "--format", "csv", "--top-k", "1", images], capsys)
    code, tuned, _ = classify(
        [
            "--bundle",
            str(bundles / "int8"),
            "--format",
            "csv",
            "--top-k",
            "1",
            "--backend",
            "litert",
            "--threads",
            "1",
            "--no-xnnpack",
            images,
        ],
        capsys,
    )
    labels = [[row["source"], row["label"]] for row in csv.DictReader(io.StringIO(default))]
    assert code == 0
    assert labels == [[row["source"], row["label"]] for row in csv.DictReader(io.StringIO(tuned))]


def test_decode_workers_do_not_change_what_is_printed(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(bundles / "images", tmp_path / "scans")
    (tmp_path / "scans" / "green" / "1b_notes.png").write_text("not an image")
    printed = []
    for workers in ("0", "1", "3"):
        code, out, err = classify(
            ["--bundle", str(bundles / "int8_head"), "--json", "--decode-workers", workers, str(tmp_path / "scans")],
            capsys,
        )
        records = [{**json.loads(line), "latency_ms": None, "timings_ms": None} for line in out.splitlines()]
        printed.append((code, records, err))
    assert printed[0][0] == 1 and len(printed[0][1]) == len(CLASSES) * 4 and "1b_notes.png" in printed[0][2]
    assert printed[1] == printed[0] and printed[2] == printed[0]


def test_explain_reads_each_image_once_and_draws_the_same_overlays_with_decode_workers(
    bundles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = []
    real_open = Image.open

    def counting_open(source: object, *args: object, **kwargs: object) -> Image.Image:
        opened.append(source)
        return real_open(source, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    overlays = {}
    for workers in ("0", "2"):
        out = tmp_path / f"overlays_{workers}"
        argv = ["--bundle", str(bundles / "int8_head"), "--explain", str(out), "--decode-workers", workers]
        assert cli.main([*argv, str(bundles / "images")]) == 0
        overlays[workers] = {path.name: path.read_bytes() for path in out.iterdir()}
    assert len(opened) == 2 * len(CLASSES) * 4
    assert len(overlays["0"]) == len(CLASSES) * 4 and overlays["2"] == overlays["0"]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "I;16"])
def test_an_overlay_on_the_decoded_pixels_is_the_overlay_on_the_file(bundles: Path, tmp_path: Path, mode: str) -> None:
    colour = Image.open(bundles / "images" / "red" / "0.png").convert("RGBA")
    colour.putpixel((3, 3), (10, 20, 30, 0))
    image = colour if mode in ("RGB", "RGBA") else colour.convert("L")
    path = tmp_path / "scan.png"
    (image.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(image).astype(np.uint16) * 257)).save(path)
    prediction = Classifier.from_bundle(bundles / "int8_head", ClassifierOptions(explain=True)).classify(path)
    on_pixels = overlay(prediction.pixels, prediction.class_map, "red")
    assert np.array_equal(np.asarray(on_pixels), np.asarray(overlay(path, prediction.class_map, "red")))


def test_max_images_bounds_a_batch(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = classify(["--bundle", str(bundles / "int8"), "--max-images", "2", str(bundles / "images")], capsys)
    assert code == 0 and len(out.splitlines()) == 2


def test_progress_bar_only_when_asked_or_on_a_terminal(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(bundles / "images" / "green")
    _, out, err = classify(["--bundle", str(bundles / "int8"), "--progress", folder], capsys)
    assert "4/4 images" in err and "[" + "#" * 30 + "]" in err
    assert len(out.splitlines()) == 4 and "\r" not in out
    _, _, quiet = classify(["--bundle", str(bundles / "int8"), folder], capsys)  # stderr is not a TTY here
    assert quiet == ""


# --- uncertainty ------------------------------------------------------------------------------------


def test_threshold_defaults_to_the_bundle_and_the_flag_overrides_it(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copy_bundle(bundles, tmp_path)
    edit_metadata(bundle, confidence_threshold=1.0)  # nothing is ever that sure
    images = str(bundles / "images" / "red")
    code, out, _ = classify(["--bundle", str(bundle), images], capsys)
    assert code == 0
    assert all(f": {UNCERTAIN}  [red " in line for line in out.splitlines())
    _, as_json, _ = classify(["--bundle", str(bundle), "--json", images], capsys)
    assert all(r["uncertain"] and r["label"] == "red" for r in map(json.loads, as_json.splitlines()))
    _, overridden, _ = classify(["--bundle", str(bundle), "--threshold", "0.2", images], capsys)
    assert all(": red  [" in line for line in overridden.splitlines())


def test_threshold_outside_0_1_is_refused(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = classify(["--bundle", str(bundles / "int8"), "--threshold", "1.5", str(bundles / "images")], capsys)
    assert code == 2 and "--threshold must be a number from 0 to 1, got 1.5" in err


# --- bad input: reported, the batch goes on ---------------------------------------------------------


def test_bad_files_in_a_folder_are_reported_and_the_batch_continues(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(bundles / "images" / "red" / "0.png", tmp_path / "a_red.png")
    truncated = (bundles / "images" / "green" / "0.png").read_bytes()
    (tmp_path / "b_truncated.png").write_bytes(truncated[: len(truncated) // 2])
    (tmp_path / "c_notes.txt").write_text("not an image")
    (tmp_path / "d_bomb.png").write_bytes(png_claiming(30_000, 30_000))
    shutil.copy(bundles / "images" / "blue" / "0.png", tmp_path / "e_blue.png")
    code, out, err = classify(["--bundle", str(bundles / "int8"), str(tmp_path)], capsys)
    assert code == 1
    assert [line.split("  [")[0] for line in out.splitlines()] == [
        f"{tmp_path / 'a_red.png'}: red",
        f"{tmp_path / 'e_blue.png'}: blue",
    ]
    errors = err.splitlines()
    assert errors[0].startswith(f"error: {tmp_path / 'b_truncated.png'}: ")
    assert "truncated" in errors[0]
    assert errors[1] == f"error: {tmp_path / 'c_notes.txt'}: not an image file Pillow can read"
    assert errors[2].startswith(f"error: {tmp_path / 'd_bomb.png'}: ") and "decompression bomb" in errors[2]
    assert "3 file(s)" in errors[3]


@pytest.mark.parametrize("size", [(9_000, 9_000), (100_000, 100_000)])
def test_oversized_images_are_refused_before_decoding(
    bundles: Path, tmp_path: Path, size: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "scan.png"
    bomb.write_bytes(png_claiming(*size))
    code, out, err = classify(["--bundle", str(bundles / "int8"), str(bomb)], capsys)
    assert code == 1 and out == ""
    assert f"{bomb}: " in err and "decompression bomb" in err


def test_an_empty_folder_is_a_clear_error(bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = classify(["--bundle", str(bundles / "int8"), str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert f"error: {tmp_path}: empty folder, no images to classify" in err.splitlines()


def test_an_empty_class_folder_is_reported_and_the_rest_classified(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(bundles / "images", tmp_path / "data")
    (tmp_path / "data" / "yellow").mkdir()
    code, out, err = classify(["--bundle", str(bundles / "int8"), str(tmp_path / "data")], capsys)
    assert code == 1
    assert len(out.splitlines()) == len(CLASSES) * 4
    assert f"error: {tmp_path / 'data' / 'yellow'}: empty folder, no images to classify" in err


def test_a_missing_path_is_reported_like_a_bad_file(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = classify(
        ["--bundle", str(bundles / "int8"), str(tmp_path / "nope.png"), str(bundles / "images" / "red" / "1.png")],
        capsys,
    )
    assert code == 1
    assert ": red  [" in out
    assert f"error: {tmp_path / 'nope.png'}: no such file" in err


# --- bad models and bundles: refused, one line, exit 2 ----------------------------------------------


def test_a_newer_bundle_schema_is_refused(bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = copy_bundle(bundles, tmp_path)
    edit_metadata(bundle, schema_version=SCHEMA_VERSION + 1)
    code, out, err = classify(["--bundle", str(bundle), str(bundles / "images")], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bundle / METADATA_FILE}: schema version {SCHEMA_VERSION + 1} is newer")
    assert len(err.splitlines()) == 1


def test_a_changed_model_file_is_refused(bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = copy_bundle(bundles, tmp_path)
    with (bundle / "model.tflite").open("ab") as model:
        model.write(b"\0")
    code, out, err = classify(["--bundle", str(bundle), str(bundles / "images")], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bundle / 'model.tflite'}: sha256 ") and "does not match" in err


def test_bundle_labels_that_do_not_fit_the_model_are_refused(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copy_bundle(bundles, tmp_path)
    names = [*CLASSES, "yellow"]
    write_labels(bundle / "labels.txt", names)
    edit_metadata(bundle, class_names=names)
    code, _, err = classify(["--bundle", str(bundle), str(bundles / "images")], capsys)
    assert code == 2
    assert err == f"error: {bundle / METADATA_FILE}: output.num_classes is 3 but there are 4 class_names\n"
    metadata = json.loads((bundle / METADATA_FILE).read_text())
    edit_metadata(bundle, output={**metadata["output"], "num_classes": 4})
    code, _, err = classify(["--bundle", str(bundle), str(bundles / "images")], capsys)
    assert code == 2
    assert err == f"error: {bundle}: model has 3 outputs but there are 4 labels\n"


def test_labels_differing_from_the_metadata_are_refused(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copy_bundle(bundles, tmp_path)
    write_labels(bundle / "labels.txt", list(reversed(CLASSES)))
    code, _, err = classify(["--bundle", str(bundle), str(bundles / "images")], capsys)
    assert code == 2 and f"{bundle / 'labels.txt'}: labels differ" in err


def test_a_bare_model_with_the_wrong_labels_file_is_refused(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.txt"
    write_labels(labels, CLASSES[:2])
    code, _, err = classify(
        ["--model", str(bundles / "int8" / "model.tflite"), "--labels", str(labels), str(bundles / "images")], capsys
    )
    assert code == 2
    assert err == f"error: {labels}: 2 labels, but {bundles / 'int8' / 'model.tflite'} has 3 outputs\n"


def test_a_corrupt_model_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, labels = tmp_path / "model.tflite", tmp_path / "labels.txt"
    model.write_bytes(b"definitely not a flatbuffer")
    write_labels(labels, CLASSES)
    code, _, err = classify(["--model", str(model), "--labels", str(labels), str(tmp_path)], capsys)
    assert code == 2 and err.startswith(f"error: {model}: not a loadable TFLite model")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bundle", "b"], "give images or folders to classify, or --watch FOLDER"),
        (["--model", "m.tflite", "x.png"], "--model needs --labels"),
        (["--bundle", "b", "--watch", ".", "x.png"], "do not also give PATHs"),
        (["--bundle", "b", "--top-k", "0", "x.png"], "--top-k must be at least 1"),
        (["--bundle", "b", "--threads", "0", "x.png"], "--threads must be a whole number from 1 to 64"),
        (["--bundle", "b", "--decode-workers", "-1", "x.png"], "--decode-workers must be between 0 and 32, got -1"),
        (["--bundle", "b", "--decode-workers", "33", "x.png"], "--decode-workers must be between 0 and 32, got 33"),
    ],
)
def test_argument_mistakes_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = classify(argv, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_decode_workers_that_are_not_a_number_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        cli.main(["--bundle", "b", "--decode-workers", "two", "x.png"])
    assert exit_status.value.code == 2
    assert "argument --decode-workers: invalid int value: 'two'" in capsys.readouterr().err


def test_a_backend_that_cannot_run_the_model_is_refused(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = classify(
        ["--bundle", str(bundles / "int8"), "--backend", "onnxruntime", str(bundles / "images")], capsys
    )
    assert code == 2 and "backend 'onnxruntime' cannot run a .tflite model" in err


# --- kiosk mode --------------------------------------------------------------------------------------


def test_watch_mode_with_existing_images_stops_at_max_images(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in CLASSES:
        shutil.copy(bundles / "images" / name / "0.png", tmp_path / f"{name}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    code, out, err = classify(
        [
            "--bundle",
            str(bundles / "float32"),
            "--watch",
            str(tmp_path),
            "--include-existing",
            "--interval",
            "0.01",
            "--max-images",
            "4",
            "--format",
            "csv",
        ],
        capsys,
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert sorted(row["label"] for row in rows) == sorted(CLASSES)
    assert all(row["label"] == Path(row["source"]).stem for row in rows)
    assert f"watching {tmp_path}" in err and f"error: {tmp_path / 'broken.png'}: " in err


def test_watch_mode_classifies_images_dropped_in_later(bundles: Path, tmp_path: Path) -> None:
    """The kiosk process: an image already there is left alone, new ones are answered as they land."""
    shutil.copy(bundles / "images" / "red" / "0.png", tmp_path / "old.png")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brainedge.edge_runtime",
            "--bundle",
            str(bundles / "int8"),
            "--watch",
            str(tmp_path),
            "--interval",
            "0.05",
            "--max-images",
            "2",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stderr:
            if line.startswith("watching"):
                break
        shutil.copy(bundles / "images" / "blue" / "1.png", tmp_path / "new_blue.png")
        shutil.copy(bundles / "images" / "green" / "1.png", tmp_path / "new_green.png")
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    answers = {Path(record["source"]).name: record["label"] for record in map(json.loads, out.splitlines())}
    assert answers == {"new_blue.png": "blue", "new_green.png": "green"}


# --- Python API --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("backend", "tflite", "unknown backend 'tflite' (choose from auto, litert"),
        ("threads", 0, "threads must be a whole number from 1 to 64, got 0"),
        ("threads", 65, "threads must be a whole number from 1 to 64, got 65"),
        ("threads", 1.5, "threads must be a whole number from 1 to 64, got 1.5"),
        ("threads", True, "threads must be a whole number from 1 to 64, got True"),
        ("confidence_threshold", 1.5, "confidence_threshold must be a number from 0 to 1, got 1.5"),
        ("confidence_threshold", -0.1, "confidence_threshold must be a number from 0 to 1, got -0.1"),
        ("confidence_threshold", float("nan"), "confidence_threshold must be a number from 0 to 1, got nan"),
        ("confidence_threshold", "0.5", "confidence_threshold must be a number from 0 to 1, got '0.5'"),
        ("top_k", 0, "top_k must be a whole number of at least 1, got 0"),
        ("top_k", 1.5, "top_k must be a whole number of at least 1, got 1.5"),
        ("decode_workers", -1, "decode_workers must be a whole number from 0 to 32, got -1"),
        ("decode_workers", 33, "decode_workers must be a whole number from 0 to 32, got 33"),
        ("max_pixels", 0, "max_pixels must be a whole number of at least 1, got 0"),
        ("max_pixels", float("nan"), "max_pixels must be a whole number of at least 1, got nan"),
        ("explain", "yes", "explain must be True or False, got 'yes'"),
    ],
)
def test_options_out_of_range_are_refused_in_one_line(field: str, value: object, message: str) -> None:
    with pytest.raises(BrainEdgeError) as refused:
        ClassifierOptions(**{field: value})
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_classifier_refuses_what_its_options_cannot_do(bundles: Path) -> None:
    with pytest.raises(BrainEdgeError, match="options must be a ClassifierOptions, got dict"):
        Classifier.from_bundle(bundles / "int8_head", {"threads": 1})
    with pytest.raises(BrainEdgeError, match="int8: explain needs a head of one dense layer"):
        Classifier.from_bundle(bundles / "int8", ClassifierOptions(explain=True))  # at creation, not at an image
    with pytest.raises(BrainEdgeError, match="the bundle is an empty path"):
        Classifier.from_bundle("")


def test_a_fifo_given_by_name_is_refused_not_opened(bundles: Path, tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes: the API refuses it as the folder walk does."""
    fifo = tmp_path / "scan.png"
    os.mkfifo(fifo)
    classifier = Classifier.from_bundle(bundles / "int8_head")
    with pytest.raises(BrainEdgeError, match="scan.png: a FIFO, not a regular file"):
        classifier.classify(fifo)
    [(_, refused)] = classifier.classify_many([fifo])
    assert isinstance(refused, BrainEdgeError)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "pipe.png")
    shutil.copy(bundles / "images" / "red" / "0.png", folder / "red.png")
    results = list(classifier.classify_many(folder))
    assert [type(result).__name__ for _, result in results] == ["BrainEdgeError", "Prediction"]
    assert "pipe.png: a FIFO" in str(results[0][1])


def test_options_at_the_ends_of_their_ranges_are_taken() -> None:
    ClassifierOptions(threads=1, confidence_threshold=0.0, top_k=1, decode_workers=0, max_pixels=1)
    ClassifierOptions(backend="onnxruntime", confidence_threshold=1.0, decode_workers=32)


def test_classify_accepts_paths_bytes_pil_images_and_arrays(bundles: Path) -> None:
    classifier = Classifier.from_bundle(bundles / "int8", ClassifierOptions(top_k=3))
    path = bundles / "images" / "green" / "2.png"
    rgb = np.asarray(Image.open(path).convert("RGB"))
    answers = [classifier.classify(source) for source in (path, str(path), path.read_bytes(), Image.open(path), rgb)]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0].label == "green"
    assert [label for label, _ in answers[0].top_k][0] == "green"
    assert abs(sum(score for _, score in answers[0].top_k) - 1.0) < 0.02


@pytest.mark.parametrize("decode_workers, most_pulled", [(0, 1), (1, AHEAD_PER_WORKER)])
def test_classify_many_streams_from_a_generator_and_yields_errors(
    bundles: Path, tmp_path: Path, decode_workers: int, most_pulled: int
) -> None:
    classifier = Classifier.from_bundle(bundles / "float32", ClassifierOptions(top_k=1, decode_workers=decode_workers))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    seen: list[Path] = []

    def paths():
        for path in [bundles / "images" / "red" / "3.png", bad, bundles / "images" / "blue" / "3.png"]:
            seen.append(path)
            yield path

    stream = classifier.classify_many(paths())
    _, first = next(stream)
    assert 1 <= len(seen) <= most_pulled and first.label == "red"  # streaming: not the whole source first
    rest = list(stream)
    assert rest[0][0] == bad and isinstance(rest[0][1], BrainEdgeError)
    assert rest[1][1].label == "blue"


def test_classify_many_walks_a_folder(bundles: Path) -> None:
    classifier = Classifier.from_bundle(bundles / "int8", ClassifierOptions(top_k=1))
    answers = list(classifier.classify_many(bundles / "images"))
    assert len(answers) == len(CLASSES) * 4
    assert [path for path, _ in answers] == sorted(path for path, _ in answers)
    assert all(prediction.label == path.parent.name for path, prediction in answers)
