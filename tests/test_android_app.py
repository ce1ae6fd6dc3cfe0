"""android_demo/tools/bundle_into_app.py: stale samples removed, atomic writes, nothing skipped silently."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bundle_into_app", ROOT / "android_demo/tools/bundle_into_app.py")
bundle_into_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle_into_app)

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def _bundle(tmp_path: Path, model_file: str = "model.tflite") -> tuple[Path, Bundle]:
    """A bundle written by the production writer around a stand-in model (validation is faked below)."""
    metadata = BundleMetadata(
        model_file=model_file,
        model_format="tflite",
        variant="tflite_int8_ptq",
        model_sha256="",
        class_names=CLASSES,
        input=InputSpec(height=224, width=224),
        output=OutputSpec(num_classes=len(CLASSES)),
    )
    bundle = Bundle.write(tmp_path / "int8_ptq", b"model", metadata)
    return bundle.directory, bundle


def _samples(tmp_path: Path, names: dict[str, list[str]]) -> Path:
    root = tmp_path / "samples"
    for folder, files in names.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            Image.new("L", (4, 4), 128).save(root / folder / name, format="PNG")  # whatever the suffix says
    return root


def _run(monkeypatch: pytest.MonkeyPatch, bundle: Bundle, *argv: str) -> int:
    monkeypatch.setattr(bundle_into_app, "validate", lambda directory: bundle)
    return bundle_into_app.main(list(argv))


def test_rebundling_without_samples_removes_the_previous_samples(tmp_path, monkeypatch, capsys) -> None:
    bundle, opened = _bundle(tmp_path)
    assets = tmp_path / "assets"
    samples = _samples(tmp_path, {"glioma": ["a.png", "b.png"], "notumor": ["c.png"]})
    assert _run(monkeypatch, opened, str(bundle), "--samples", str(samples), "--assets", str(assets)) == 0
    assert sorted(p.name for p in (assets / "samples").rglob("*.png")) == ["a.png", "b.png", "c.png"]
    assert _run(monkeypatch, opened, str(bundle), "--assets", str(assets)) == 0
    assert not (assets / "samples").exists()
    assert "removed the previous bundle's sample images" in capsys.readouterr().out
    assert (assets / "bundle/model.tflite").read_bytes() == b"model"
    assert not [p for p in assets.rglob(".*")], "staging files left behind"


def test_new_samples_replace_old_ones_entirely(tmp_path, monkeypatch) -> None:
    bundle, opened = _bundle(tmp_path)
    assets = tmp_path / "assets"
    first = _samples(tmp_path / "one", {"glioma": ["old.png"]})
    second = _samples(tmp_path / "two", {"notumor": ["new.png"]})
    assert _run(monkeypatch, opened, str(bundle), "--samples", str(first), "--assets", str(assets)) == 0
    assert _run(monkeypatch, opened, str(bundle), "--samples", str(second), "--assets", str(assets)) == 0
    assert [p.relative_to(assets).as_posix() for p in (assets / "samples").rglob("*.png")] == [
        "samples/notumor/new.png"
    ]


@pytest.mark.parametrize("bad", ["_scan.png", ".hidden.png"])
def test_sample_names_aapt_would_drop_are_refused_and_nothing_changes(tmp_path, monkeypatch, capsys, bad) -> None:
    bundle, opened = _bundle(tmp_path)
    assets = tmp_path / "assets"
    (assets / "samples/glioma").mkdir(parents=True)
    (assets / "samples/glioma/kept.png").write_bytes(b"old")
    samples = _samples(tmp_path, {"glioma": ["ok.png", bad]})
    assert _run(monkeypatch, opened, str(bundle), "--samples", str(samples), "--assets", str(assets)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "AAPT2 leaves names" in err
    assert (assets / "samples/glioma/kept.png").read_bytes() == b"old"
    assert not (assets / "bundle").exists()


def test_a_model_name_aapt_would_drop_is_refused(tmp_path, monkeypatch, capsys) -> None:
    bundle, opened = _bundle(tmp_path, model_file="_model.tflite")
    assert _run(monkeypatch, opened, str(bundle), "--assets", str(tmp_path / "assets")) == 2
    assert "starting with '_'" in capsys.readouterr().err


def test_skipped_folders_and_non_images_are_reported(tmp_path, monkeypatch, capsys) -> None:
    bundle, opened = _bundle(tmp_path)
    samples = _samples(tmp_path, {"glioma": ["a.png", "notes.txt"], "unsorted": ["b.png"]})
    assert _run(monkeypatch, opened, str(bundle), "--samples", str(samples), "--assets", str(tmp_path / "a")) == 0
    out = capsys.readouterr().out
    assert "skipped folders that are not class names: unsorted" in out
    assert "notes.txt" in out


def test_aapt_ignore_rules() -> None:
    assert bundle_into_app.aapt_ignores("scan_01.png") is None
    assert bundle_into_app.aapt_ignores("Thumbs.db")
    assert bundle_into_app.aapt_ignores(".DS_Store")


def test_the_python_runtime_ignores_icc_profiles_and_gama(tmp_path) -> None:
    """Pillow (so training and the Python runtime) reads the stored values of a colour-profiled PNG.

    The Java half (brainedge-core's ColourProfileTest) shows a colour-managed decode differs and that
    the app's raw read (copyPixelsToBuffer) gives the stored values, like this."""
    np = pytest.importorskip("numpy")
    Image = pytest.importorskip("PIL.Image")
    ImageCms = pytest.importorskip("PIL.ImageCms")
    PngImagePlugin = pytest.importorskip("PIL.PngImagePlugin")
    from brainedge.edge_runtime.preprocess import decode_rgb

    rgb = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # anything but sRGB
    gama = PngImagePlugin.PngInfo()
    gama.add(b"gAMA", (100000).to_bytes(4, "big"))  # gamma 1.0
    profiled, gamma_only = tmp_path / "icc.png", tmp_path / "gama.png"
    Image.fromarray(rgb).save(profiled, icc_profile=icc)
    Image.fromarray(rgb).save(gamma_only, pnginfo=gama)
    assert Image.open(profiled).info.get("icc_profile") == icc
    np.testing.assert_array_equal(decode_rgb(profiled), rgb)
    np.testing.assert_array_equal(decode_rgb(gamma_only), rgb)


def test_unreadable_samples_are_skipped_by_name_and_replaced_by_readable_ones(tmp_path, monkeypatch, capsys) -> None:
    bundle, opened = _bundle(tmp_path)
    samples = _samples(tmp_path, {"glioma": ["b.png", "c.png", "d.png"]})
    (samples / "glioma" / "a.png").write_bytes(b"not a png at all")
    assets = tmp_path / "assets"
    assert (
        _run(monkeypatch, opened, str(bundle), "--samples", str(samples), "--per-class", "2", "--assets", str(assets))
        == 0
    )
    assert sorted(p.name for p in (assets / "samples").rglob("*.png")) == ["b.png", "c.png"]
    assert "skipped 1 unreadable image(s) in glioma/: a.png" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--per-class", "0"], "--per-class must be at least 1"),
        (["--per-class", "-1"], "--per-class must be at least 1"),
        (["--assets", "FILE"], "cannot write there, not a folder"),
        (["--assets", ""], "argument --assets: an empty path"),  # was the current folder
    ],
)
def test_bad_options_are_one_line_and_change_nothing(tmp_path, monkeypatch, capsys, args, message) -> None:
    bundle, opened = _bundle(tmp_path)
    a_file = tmp_path / "assets-file"
    a_file.write_text("keep me")
    args = [str(a_file) if arg == "FILE" else arg for arg in args]
    try:
        code = _run(monkeypatch, opened, str(bundle), *args)
    except SystemExit as exit_status:  # a mistake argparse finds
        code = exit_status.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert a_file.read_text() == "keep me"
