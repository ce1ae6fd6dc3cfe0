"""Bundle: the one schema, its messages in the user's terms, discovery that never sees a staging
folder, and the writer every bundle in the project goes through."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from brainedge.edge_runtime.bundle import Bundle, find_bundles, publish, staging_dir
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import (
    METADATA_FILE,
    SCHEMA_VERSION,
    BundleMetadata,
    InputSpec,
    OutputSpec,
    Quantization,
    metadata_schema,
    schema_problem,
)

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def metadata(**changes: object) -> BundleMetadata:
    fields = dict(
        model_file="model.tflite",
        model_format="tflite",
        variant="tflite_int8_ptq",
        model_sha256="",
        class_names=CLASSES,
        input=InputSpec(height=8, width=8, dtype="uint8", quantization=Quantization(1 / 128, 128)),
        output=OutputSpec(num_classes=4, dtype="uint8", quantization=Quantization(1 / 256, 0)),
    )
    return BundleMetadata(**{**fields, **changes})


@pytest.fixture()
def bundle(tmp_path: Path) -> Bundle:
    return Bundle.write(tmp_path / "tflite_int8_ptq", b"not really a model", metadata())


def rewrite(bundle: Bundle, edit) -> Path:
    path = bundle.directory / METADATA_FILE
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))
    return path


def test_schema_and_dataclasses_name_the_same_fields() -> None:
    schema = metadata_schema()
    for kind, part in (
        (BundleMetadata, schema),
        (InputSpec, schema["properties"]["input"]),
        (OutputSpec, schema["properties"]["output"]),
    ):
        fields = dataclasses.fields(kind)
        assert set(part["properties"]) == {f.name for f in fields}, kind
        required = {
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(part["required"]) == required | ({"schema_version"} if kind is BundleMetadata else set()), kind


def test_a_written_bundle_opens_with_its_hash_and_labels_checked(bundle: Bundle) -> None:
    opened = Bundle.open(bundle.directory)
    assert opened.metadata == bundle.metadata and opened.class_names == CLASSES
    assert opened.variant.needs_calibration and not opened.is_float_reference
    assert [path.name for path in opened.files] == ["model.tflite", "labels.txt", "metadata.json"]
    assert not [p for p in bundle.directory.iterdir() if p.name.startswith(".")], "temporary files left"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda raw: raw["input"].update(height="224"), 'input.height: expected integer, found "224"'),
        (lambda raw: raw.update(class_names="glioma"), 'class_names: expected array, found "glioma"'),
        (lambda raw: raw.pop("output"), "output: missing"),
        (lambda raw: raw["input"].pop("width"), "input.width: missing"),
        (
            lambda raw: raw["input"].update(resize_method="bicubic"),
            'input.resize_method: expected "bilinear_half_pixel", found "bicubic"',
        ),
        (lambda raw: raw["input"].update(std=[128.0, 0, 128.0]), "input.std[1]: 0 is not allowed here"),
        (lambda raw: raw["input"].update(mean=[128.0]), "input.mean: expected 3 items, found 1"),
        (
            lambda raw: raw.update(model_file="../model.tflite"),
            'model_file: "../model.tflite" is not a valid value here',
        ),
        (lambda raw: raw.update(model_file=".."), 'model_file: ".." is not allowed here'),
        (
            lambda raw: raw["input"]["quantization"].update(scale=0),
            "input.quantization.scale: expected a value more than 0",
        ),
        (lambda raw: raw.update(extra=1), "extra: unexpected key"),
        (
            lambda raw: raw.update(class_names=["glioma "] + CLASSES[1:]),
            'class_names[0]: "glioma " is not a valid value',
        ),
        (lambda raw: raw.update(confidence_threshold=1.5), "confidence_threshold: expected a value at most 1"),
        (lambda raw: raw["output"].update(num_classes=3), "output.num_classes is 3 but there are 4 class_names"),
        (
            lambda raw: (
                raw["input"].update(dtype="float32", quantization=None) or raw["output"].update(quantization=None)
            ),
            "output.dtype is uint8 but output.quantization is null",
        ),
        (
            lambda raw: raw.update(schema_version=SCHEMA_VERSION + 1),
            f"schema version {SCHEMA_VERSION + 1} is newer than this runtime's ({SCHEMA_VERSION}); upgrade brainedge",
        ),
    ],
)
def test_bad_metadata_is_one_line_naming_key_expectation_and_value(bundle: Bundle, edit, message: str) -> None:
    path = rewrite(bundle, edit)
    with pytest.raises(BrainEdgeError) as error:
        Bundle.open(bundle.directory)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_unreadable_metadata_and_labels_are_named(bundle: Bundle) -> None:
    (bundle.directory / METADATA_FILE).write_bytes(b'{"schema_version": 1, "variant": "\xff"}')
    with pytest.raises(BrainEdgeError, match="metadata.json: not UTF-8 text"):
        Bundle.open(bundle.directory)
    (bundle.directory / METADATA_FILE).write_text("[1, 2")
    with pytest.raises(BrainEdgeError, match="metadata.json: not valid JSON"):
        Bundle.open(bundle.directory)
    (bundle.directory / METADATA_FILE).write_text(bundle.metadata.to_json())
    (bundle.directory / "labels.txt").write_bytes(b"glioma\n\xffmeningioma\n")
    with pytest.raises(BrainEdgeError, match="labels.txt: not UTF-8 text"):
        Bundle.open(bundle.directory)


def test_a_changed_model_or_labels_is_refused(bundle: Bundle) -> None:
    (bundle.directory / "labels.txt").write_text("\n".join(reversed(CLASSES)) + "\n")
    with pytest.raises(BrainEdgeError, match="labels differ"):
        Bundle.open(bundle.directory)
    with bundle.model_path.open("ab") as model:
        model.write(b"\0")
    with pytest.raises(BrainEdgeError, match="sha256 .* does not match"):
        Bundle.open(bundle.directory)
    assert Bundle.open(bundle.directory, check_model=False).name == "tflite_int8_ptq"


def test_the_writer_refuses_what_readers_would(tmp_path: Path) -> None:
    with pytest.raises(BrainEdgeError, match="class_names"):
        Bundle.write(tmp_path / "b", b"model", metadata(class_names=["glioma", ""] + CLASSES[2:]))
    assert not (tmp_path / "b" / METADATA_FILE).exists()


def test_discovery_never_returns_a_staging_folder(bundle: Bundle, tmp_path: Path) -> None:
    staging = staging_dir(bundle.directory.parent / "tflite_float32")
    shutil.copytree(bundle.directory, staging, dirs_exist_ok=True)
    assert staging.name.startswith(".")
    assert find_bundles([tmp_path]) == [bundle.directory]
    publish(staging, bundle.directory.parent / "tflite_float32")
    assert [b.name for b in find_bundles([tmp_path])] == ["tflite_float32", "tflite_int8_ptq"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BrainEdgeError, match="empty: no bundle"):
        find_bundles([tmp_path / "empty"])
    with pytest.raises(BrainEdgeError, match="nowhere: bundle or export directory not found"):
        find_bundles([tmp_path / "nowhere"])


def test_publish_replaces_an_older_bundle_whole(bundle: Bundle, tmp_path: Path) -> None:
    staging = staging_dir(bundle.directory)
    Bundle.write(staging, b"newer model", metadata(variant="tflite_int8_qat"))
    publish(staging, bundle.directory)
    assert Bundle.open(bundle.directory).metadata.variant == "tflite_int8_qat"
    assert not staging.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_schema_checker_itself_can_fail() -> None:
    """Guard against a checker that accepts everything: each rule it applies is seen to refuse."""
    schema = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"enum": ["x"]}},
    }
    assert schema_problem({"a": 1}, schema) is None
    for value in ({}, {"a": 0}, {"a": "1"}, {"a": 1, "c": 2}, {"a": 1, "b": "y"}, [], {"a": True}):
        assert schema_problem(value, schema) is not None, value


def test_a_bundle_still_pending_verification_is_refused_and_its_staging_is_cleared(tmp_path: Path) -> None:
    """What a SIGKILLed export leaves: a hidden staging folder whose bundle was never verified."""
    from brainedge.edge_runtime.bundle import PENDING, remove_abandoned_staging

    out = tmp_path / "export"
    kept = Bundle.write(out / "tflite_int8_ptq", b"verified model", metadata(verification={"agreement": 1.0}))
    staging = staging_dir(out / "tflite_int8_ptq")
    Bundle.write(staging, b"half-exported model", metadata(verification=PENDING))
    with pytest.raises(BrainEdgeError, match="interrupted before the bundle was verified; export it again"):
        Bundle.open(staging)
    (out / ".git").mkdir()  # a hidden folder that is not an export's: left alone
    assert remove_abandoned_staging(out) == [staging]
    assert not staging.exists() and (out / ".git").is_dir()
    assert Bundle.open(kept.directory).metadata.verification == {"agreement": 1.0}


def test_metadata_nested_beyond_reason_is_one_line(bundle: Bundle) -> None:
    (bundle.directory / METADATA_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BrainEdgeError, match="nested too deeply"):
        Bundle.open(bundle.directory)


@pytest.mark.parametrize(
    "name",
    [
        "glioma",
        "no tumour",
        "Ödem",
        "a,b",
        "glioma ",
        " glioma",
        "gli\noma",
        "gli\roma",
        "gli\x00oma",
        "gli\u2028oma",
        "gli\x85oma",
        "",
        "caf\udce9",
    ],
)
def test_the_schema_pattern_and_the_contract_rule_agree_on_class_names(name: str) -> None:
    """The data stage refuses a class folder by class_name_problem; other readers see only the schema's pattern."""
    from brainedge.edge_runtime.metadata import class_name_problem

    pattern = metadata_schema()["properties"]["class_names"]["items"]["pattern"]
    schema_accepts = bool(re.search(pattern, name)) and name.encode("utf-8", "surrogatepass") == name.encode(
        "utf-8", "replace"
    )
    assert schema_accepts == (class_name_problem(name) is None)


def test_a_full_disk_under_any_write_is_one_line_naming_the_file(bundle: Bundle, monkeypatch, capsys) -> None:
    """Not blamed on standard output: write_atomically names the file its error was for."""
    import errno
    import os

    from brainedge.edge_runtime.errors import report_user_errors

    before = (bundle.directory / METADATA_FILE).read_bytes()

    def full_disk(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    code = report_user_errors(lambda _: bundle.with_metadata(verification={"agreement": 1.0}) and 0, None)
    path = bundle.directory / METADATA_FILE
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {path}: cannot write (No space left on device); any previous version is intact\n"
    )
    assert path.read_bytes() == before and [p.name for p in bundle.directory.iterdir() if p.name.startswith(".")] == []
