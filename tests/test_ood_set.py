"""The OOD image set: every group written as RGB PNGs, deterministic, licensed, and made without the network."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image

from brainedge.benchmarks.studies import ood_set

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
"""../shared beside the checkout, as the other tests find it: developers and CI have it, users do not."""
SIZE = 96
WHEEL = ood_set.skimage_data_folder()
"""scikit-image's sample folder; scikit-image is in the dev extra, so only a bare install lacks it."""
needs_skimage = pytest.mark.skipif(WHEEL is None, reason="scikit-image is not installed (pip install -e '.[dev]')")


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the OOD set must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The whole set, ../shared included where it exists, written once with the network refused."""
    out = tmp_path_factory.mktemp("ood") / "set"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _no_network(monkeypatch)
        records = ood_set.write_ood_set(out, SHARED, size=SIZE)
    return out, records


def _pngs(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.name != ood_set.SOURCES_FILE)


def test_every_group_is_written_and_counted(written: tuple[Path, list[dict]]) -> None:
    out, records = written
    counts = {group.name: sum(r["group"] == group.name for r in records) for group in ood_set.ood_groups()}
    assert 30 <= counts["generated"] <= 40
    assert counts["natural"] >= 8 or WHEEL is None
    assert counts["near"] == ood_set.NEAR_COUNT
    if (SHARED / ood_set.PHOTOS).is_dir():
        assert counts["photos"] >= 1
    assert {path.parent.name for path in _pngs(out)} == {name for name, count in counts.items() if count}


def test_groups_say_whether_they_are_ood_or_near() -> None:
    kinds = {group.name: group.kind for group in ood_set.ood_groups()}
    assert kinds == {"generated": "ood", "natural": "ood", "photos": "ood", "near": "near"}
    assert all(group.about for group in ood_set.ood_groups())


def test_every_file_is_an_rgb_png_at_its_size(written: tuple[Path, list[dict]]) -> None:
    out, records = written
    for record in records:
        with Image.open(out / record["file"]) as image:
            assert (image.format, image.mode) == ("PNG", "RGB"), record["file"]
            assert image.size == (record["width"], record["height"])
            if record["group"] in ("generated", "near"):
                assert image.size == (SIZE, SIZE)


@needs_skimage
def test_natural_images_keep_their_own_size(written: tuple[Path, list[dict]]) -> None:
    out, records = written
    files = {sample.function: sample.file for sample in ood_set.SKIMAGE_SAMPLES}
    for record in (r for r in records if r["group"] == "natural"):
        with Image.open(WHEEL / files[Path(record["file"]).stem]) as original:
            assert (record["width"], record["height"]) == original.size


def test_sources_json_lists_each_file_with_a_licence(written: tuple[Path, list[dict]]) -> None:
    out, records = written
    document = json.loads((out / ood_set.SOURCES_FILE).read_text("utf-8"))
    assert document["images"] == records
    assert sorted(r["file"] for r in records) == [path.relative_to(out).as_posix() for path in _pngs(out)]
    for record in records:
        assert record["licence"] and record["source"] and record["description"], record
        assert record["kind"] == ("near" if record["group"] == "near" else "ood")
    assert [group["name"] for group in document["groups"]] == [group.name for group in ood_set.ood_groups()]


def test_photos_carry_the_licence_from_copyright_txt(written: tuple[Path, list[dict]]) -> None:
    if not (SHARED / ood_set.PHOTOS).is_dir():
        pytest.skip(f"{SHARED / ood_set.PHOTOS} is absent: the photos live in ../shared, which users do not have")
    photos = [r for r in written[1] if r["group"] == "photos"]
    assert photos
    assert all(re.search(r"CC BY|public domain", r["licence"]) for r in photos), photos


def test_without_shared_the_photos_are_skipped_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = ood_set.write_ood_set(tmp_path / "set", tmp_path / "no-shared", size=ood_set.MIN_SIZE, per_kind=1)
    assert not any(r["group"] == "photos" for r in records)
    assert "photos: skipped:" in capsys.readouterr().out
    groups = json.loads((tmp_path / "set" / ood_set.SOURCES_FILE).read_text("utf-8"))["groups"]
    photos = next(group for group in groups if group["name"] == "photos")
    assert photos["images"] == 0 and "absent" in photos["skipped"]


def test_per_kind_keeps_the_first_of_each_kind(tmp_path: Path) -> None:
    records = ood_set.write_ood_set(tmp_path, None, size=ood_set.MIN_SIZE, per_kind=1)
    generated = [r["file"] for r in records if r["group"] == "generated"]
    assert len(generated) == len(ood_set.generated_kinds(ood_set.MIN_SIZE))
    assert sum(r["group"] == "near" for r in records) == 1
    assert sum(r["group"] == "natural" for r in records) == (0 if WHEEL is None else 1)


def test_two_runs_give_identical_bytes(written: tuple[Path, list[dict]], tmp_path: Path) -> None:
    first, _ = written
    ood_set.write_ood_set(tmp_path, None, size=SIZE)
    for group in ("generated", "natural", "near"):
        names = [path.name for path in _pngs(first / group)]
        assert names == [path.name for path in _pngs(tmp_path / group)]
        for name in names:
            assert (first / group / name).read_bytes() == (tmp_path / group / name).read_bytes(), f"{group}/{name}"


@needs_skimage
def test_a_sample_missing_from_the_wheel_is_reported_never_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(WHEEL / "camera.png", tmp_path / "camera.png")
    monkeypatch.setattr(ood_set, "skimage_data_folder", lambda: tmp_path)
    _no_network(monkeypatch)
    items, skipped = ood_set.natural_items(None)
    assert [item.name for item in items] == ["camera"] and skipped is None
    assert "astronaut: astronaut.png is not in this scikit-image wheel; not downloaded" in capsys.readouterr().out


def test_each_licence_is_the_one_scikit_image_states() -> None:
    """The table quotes each sample's docstring, so an upgrade that changes a licence fails here."""
    data = pytest.importorskip("skimage.data")
    for sample in ood_set.SKIMAGE_SAMPLES:
        docstring = " ".join(getattr(data, sample.function).__doc__.split())
        assert " ".join(sample.evidence.split()) in docstring, sample.function


def test_copyright_txt_is_read_per_file() -> None:
    text = (
        "Open Images Dataset V5.\nLicense: Attribution 2.0 Generic (CC BY 2.0)\nURL: https://cc/by/2.0/\n\n"
        "- bird.bmp\n  https://example/bird\n\n- cat.bmp, cat_720p.jpg\n  https://example/cat\n\n\n"
        "Naval History and Heritage Command\nLicense: All information on this site is in the public domain.\n"
        "URL: http://navy/warning.htm\n\n- grace_hopper.bmp\n  https://example/hopper\n"
    )
    licences = ood_set.photo_licences(text)
    assert licences["cat_720p.jpg"] == {
        "source": "Open Images Dataset V5",
        "licence": "Attribution 2.0 Generic (CC BY 2.0)",
        "licence_url": "https://cc/by/2.0/",
        "origin": "https://example/cat",
    }
    assert licences["grace_hopper.bmp"]["source"] == "Naval History and Heritage Command"
    assert "public domain" in licences["grace_hopper.bmp"]["licence"]


def test_an_out_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    assert ood_set.main([str(file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert file.read_text() == "not a folder"


def test_a_size_too_small_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ood_set.main([str(tmp_path / "set"), "--size", "8"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "set").exists()
