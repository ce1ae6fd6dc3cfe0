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

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
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


# --- rerunning into a folder, and arguments a user can get wrong ---------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_rerun_replaces_the_previous_set_whole(tmp_path: Path) -> None:
    """A full set and then --per-kind 1 into the same folder: only the new set is left, and the harness counts it."""
    from brainedge.benchmarks.answers import load_ood_set

    out = tmp_path / "set"
    ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE)
    records = ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE, per_kind=1)
    assert sorted(r["file"] for r in records) == [path.relative_to(out).as_posix() for path in _pngs(out)]
    assert len(load_ood_set(out).paths) == len(records)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["set"], "a staging or retired folder was left"


def test_a_run_that_fails_midway_leaves_the_previous_set_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "set"
    ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE, per_kind=1)
    before = _files(out)
    written = []

    def interrupted(image: Image.Image) -> bytes:
        written.append(image)
        if len(written) == 5:
            raise KeyboardInterrupt
        return b"new bytes"

    monkeypatch.setattr(ood_set, "png_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE)
    assert _files(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["set"], "the partial set was left beside it"


def test_a_failed_swap_puts_the_previous_set_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "set"
    ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE, per_kind=1)
    before = _files(out)
    real_rename = ood_set.os.rename

    def refuse_the_new_set(source: str, destination: str) -> None:
        if Path(source).name.endswith(".partial"):
            raise OSError(28, "No space left on device")
        real_rename(source, destination)

    monkeypatch.setattr(ood_set.os, "rename", refuse_the_new_set)
    with pytest.raises(ood_set.BrainEdgeError, match="previous set is intact"):
        ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE)
    assert _files(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["set"]


def test_an_empty_out_dir_is_written_into(tmp_path: Path) -> None:
    out = tmp_path / "set"
    out.mkdir()
    records = ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE, per_kind=1)
    assert len(_pngs(out)) == len(records)


@pytest.mark.parametrize(
    ("contents", "said"),
    [
        ({"notes.txt": "mine"}, "not an OOD set"),
        ({ood_set.SOURCES_FILE: '{"other": "tool"}', "notes.txt": "mine"}, "not an OOD set"),
        ({ood_set.SOURCES_FILE: "not json"}, "not an OOD set"),
    ],
)
def test_a_folder_that_is_not_an_ood_set_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], contents: dict[str, str], said: str
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    for name, text in contents.items():
        (out / name).write_text(text)
    assert ood_set.main([str(out), "--per-kind", "1", "--size", str(ood_set.MIN_SIZE)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert said in captured.err and str(out) in captured.err
    assert captured.out == ""
    assert {name: path.read_text() for name, path in ((p.name, p) for p in out.iterdir())} == contents
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine"]


def test_an_ood_set_holding_something_else_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file a user put beside the groups would be deleted with the old set: refuse, naming it."""
    out = tmp_path / "set"
    ood_set.write_ood_set(out, None, size=ood_set.MIN_SIZE, per_kind=1)
    (out / "my-results.csv").write_text("keep me")
    before = _files(out)
    assert ood_set.main([str(out), "--per-kind", "1", "--size", str(ood_set.MIN_SIZE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "my-results.csv" in err, err
    assert _files(out) == before


@pytest.mark.parametrize("size", ["8", "100000", "-5"])
def test_a_size_out_of_range_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    assert ood_set.main([str(tmp_path / "set"), "--size", size]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --size {size}: ") and err.count("\n") == 1, err
    assert str(ood_set.MAX_SIZE) in err
    assert not (tmp_path / "set").exists()


def test_the_largest_size_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_SIZE itself passes the check (drawing 4096-px images is left out: it costs the shared cores)."""
    monkeypatch.setattr(ood_set, "generated_items", lambda size, per_kind: [])
    monkeypatch.setattr(ood_set, "near_items", lambda size, per_kind: [])
    monkeypatch.setattr(ood_set, "natural_items", lambda per_kind: ([], "left out by the test"))
    ood_set.write_ood_set(tmp_path / "set", None, size=ood_set.MAX_SIZE)
    assert json.loads((tmp_path / "set" / ood_set.SOURCES_FILE).read_text())["size"] == ood_set.MAX_SIZE


@pytest.mark.parametrize("shared", ["nonexistent", "a-file", "empty"])
def test_a_shared_folder_the_user_typed_must_hold_the_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "set"
    assert ood_set.main([str(out), "--per-kind", "1", "--shared", str(tmp_path / shared)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: --shared {tmp_path / shared}: ") and captured.err.count("\n") == 1
    assert captured.out == ""
    assert not out.exists()


def test_the_default_shared_folder_is_skipped_with_its_reason_when_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Users' clones have no ../shared: without --shared the photos are skipped, not an error."""
    monkeypatch.setattr(ood_set, "SHARED", tmp_path / "no-shared")
    assert ood_set.main([str(tmp_path / "set"), "--per-kind", "1", "--size", str(ood_set.MIN_SIZE)]) == 0
    out = capsys.readouterr().out
    assert f"photos: skipped: {tmp_path / 'no-shared' / ood_set.PHOTOS} is absent" in out
