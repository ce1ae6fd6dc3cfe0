"""The audit: hashing, near-duplicate search, facts about bad files, the report and the CLI."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_images import base_image, make_dataset, near_duplicate, save
from PIL import Image

from brainedge.train.data import cli
from brainedge.train.data.audit import run_audit, summarize
from brainedge.train.data.duplicates import _popcount_rows, connected_groups, hashes_to_words, near_pairs
from brainedge.train.data.hashing import HASH_BYTES, Progress, difference_hash, inspect_image
from brainedge.train.data.loading import load_dataset, load_roots
from brainedge.train.data.report import write_report


def brute_force_pairs(hashes: list[bytes], threshold: int) -> set[tuple[int, int, int]]:
    bits = [np.unpackbits(np.frombuffer(h, np.uint8)) for h in hashes]
    found = set()
    for i in range(len(bits)):
        for j in range(i + 1, len(bits)):
            distance = int((bits[i] != bits[j]).sum())
            if distance <= threshold:
                found.add((i, j, distance))
    return found


def planted_hashes(count: int, seed: int = 0) -> list[bytes]:
    """Random hashes, every third one a copy of the previous with 0-7 bits flipped."""
    rng = np.random.default_rng(seed)
    hashes = []
    for i in range(count):
        if i % 3 == 2:
            bits = np.unpackbits(np.frombuffer(hashes[-1], np.uint8)).copy()
            flip = rng.choice(bits.size, size=rng.integers(0, 8), replace=False)
            bits[flip] ^= 1
            hashes.append(np.packbits(bits).tobytes())
        else:
            hashes.append(rng.integers(0, 256, HASH_BYTES, dtype=np.uint8).tobytes())
    return hashes


def test_near_pairs_match_brute_force_across_blocks():
    hashes = planted_hashes(300)  # > one 256-row block
    found = {tuple(row) for row in near_pairs(hashes, threshold=5).tolist()}
    assert found == brute_force_pairs(hashes, 5)
    assert 40 < len(found) < 100  # the planted pairs within 5 bits, nothing by chance


def test_popcount_fallback_for_old_numpy(monkeypatch):
    words = hashes_to_words(planted_hashes(20))
    expected = _popcount_rows(words[:, None] ^ words[None])
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert np.array_equal(_popcount_rows(words[:, None] ^ words[None]), expected)


def test_groups_follow_chains():
    pairs = np.array([[1, 2, 3], [0, 1, 4], [4, 5, 0]])
    assert connected_groups(6, pairs).tolist() == [0, 0, 0, 3, 4, 4]


def test_hash_sees_near_duplicates_and_tells_distinct_images_apart():
    def bits(a: bytes, b: bytes) -> int:
        return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())

    def rgb(pixels: np.ndarray) -> np.ndarray:
        return np.repeat(pixels[..., None], 3, axis=2)

    one, two = base_image(1), base_image(2)
    assert bits(difference_hash(rgb(one)), difference_hash(rgb(near_duplicate(one, 1)))) <= 5
    assert bits(difference_hash(rgb(one)), difference_hash(rgb(two))) > 40


def test_inspect_bad_and_unusual_files(tmp_path):
    good = save(base_image(0), tmp_path / "good.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    wide = tmp_path / "wide.png"
    Image.fromarray(base_image(1).astype(np.uint16) * 257).save(wide)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([np.repeat(base_image(2)[..., None], 3, 2), base_image(3)])).save(rgba)

    assert inspect_image(good).ok and inspect_image(good).mode == "L" and inspect_image(good).format == "PNG"
    assert "corrupt or truncated" in inspect_image(truncated).error
    assert "not an image" in inspect_image(text).error
    assert inspect_image(text).sha256  # still hashed: listed, not crashed
    assert inspect_image(wide).mode.startswith("I;16") and inspect_image(wide).ok
    assert (inspect_image(rgba).mode, inspect_image(rgba).width) == ("RGBA", 64)


def test_progress_line():
    stream = io.StringIO()
    bar = Progress(3, "hashing", stream=stream)
    for _ in range(3):
        bar.update()
    bar.close()
    assert "hashing 3/3" in stream.getvalue() and stream.getvalue().endswith("\n")


@pytest.fixture
def messy(tmp_path):
    """3 classes, near-duplicates, one image filed under two labels, bad files."""
    root = make_dataset(tmp_path / "messy", {"a": 4, "b": 4, "c": 2}, duplicates={"a": 2, "b": 1})
    shutil.copy(root / "a" / "img_003.png", root / "b" / "copy_of_a3.png")
    (root / "c" / "broken.png").write_bytes((root / "c" / "img_000.png").read_bytes()[:150])
    (root / "c" / "notes.txt").write_text("x")
    return root


def test_audit_facts(messy):
    facts = summarize(run_audit(load_dataset(messy), progress=False))
    assert facts["images"] == 15 and facts["readable_images"] == 14
    assert facts["unreadable"][0]["path"] == "c/broken.png"
    assert facts["non_images"] == [{"path": "c/notes.txt", "reason": facts["non_images"][0]["reason"]}]
    assert facts["classes"]["total"] == {"a": 6, "b": 6, "c": 2}
    near = facts["near_duplicates"]
    assert (near["groups"], near["images"], near["mixed_label_groups"]) == (4, 8, 1)
    assert facts["exact_duplicates"] == {
        "groups": 1,
        "images": 2,
        "redundant_copies": 1,
        "cross_part_groups": 0,
        "cross_part_images": {},
    }
    assert any("class 'c' has 2 readable image(s)" in warning for warning in facts["warnings"])
    mixed = [g for g in facts["duplicate_groups"] if len(g["labels"]) > 1]
    assert sorted(mixed[0]["members"]) == ["a/img_003.png", "b/copy_of_a3.png"]


def test_cross_part_duplicates(tmp_path):
    make_dataset(tmp_path / "Training", {"a": 3, "b": 3}, duplicates={"a": 1})
    make_dataset(tmp_path / "Testing", {"a": 3, "b": 3}, seed=1)
    shutil.copy(tmp_path / "Training" / "b" / "img_001.png", tmp_path / "Testing" / "b" / "leak.png")
    save(near_duplicate(base_image(0), 7), tmp_path / "Testing" / "a" / "near_leak.png")  # Training a/img_000
    facts = summarize(run_audit(load_roots([tmp_path / "Training", tmp_path / "Testing"]), progress=False))
    near = facts["near_duplicates"]
    assert near["cross_part_groups"] == 2
    # near_leak is within 5 bits of Training's img_000 and of its near-duplicate dup_000
    assert near["images_with_near_duplicate_in_other_part"] == {"Testing": 2, "Training": 3}
    assert facts["exact_duplicates"]["cross_part_images"] == {"Testing": 1, "Training": 1}


def test_report_files(messy, tmp_path):
    audit = run_audit(load_dataset(messy), progress=False)
    facts = summarize(audit)
    report = write_report(audit, facts, tmp_path / "out")
    text = report.read_text()
    assert "c/broken.png" in text and "![class balance](class_balance.png)" in text
    assert "![duplicate groups](duplicate_groups.png)" in text
    assert json.loads((tmp_path / "out" / "audit.json").read_text()) == facts
    for plot in ("class_balance.png", "duplicate_groups.png"):
        with Image.open(tmp_path / "out" / plot) as image:
            assert image.size[0] > 200


def test_cli_audit(messy, tmp_path, capsys):
    assert cli.main(["audit", str(messy), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "14 readable images (1 unreadable), 8 in 4 near-duplicate groups" in captured.out
    assert "hashing 15/15" in captured.err and "class 'c' has 2" in captured.err


def test_cli_fail_on_leak(tmp_path, capsys):
    make_dataset(tmp_path / "one", {"a": 3, "b": 3})
    make_dataset(tmp_path / "two", {"a": 3, "b": 3}, seed=1)
    args = [
        "audit",
        str(tmp_path / "one"),
        str(tmp_path / "two"),
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        "--fail-on-leak",
    ]
    assert cli.main(args) == 0
    shutil.copy(tmp_path / "one" / "a" / "img_000.png", tmp_path / "two" / "a" / "leak.png")
    assert cli.main(args) == 1
    assert "1 near-duplicate pair(s) cross parts" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["audit", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing: no such directory" in err and "Traceback" not in err
    assert cli.main(["audit", "--out", str(tmp_path / "r")]) == 2
    assert "give dataset roots or --manifest" in capsys.readouterr().err


def test_data_stage_never_imports_tensorflow():
    """The audit must start fast and run where TensorFlow is not installed."""
    repo = Path(__file__).resolve().parents[1]
    code = (
        "import sys, train.data, train.data.cli, train.data.report; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')]; "
        "sys.exit(f'imported {heavy[:3]}' if heavy else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 0
    help_text = subprocess.run(
        [sys.executable, "-m", "brainedge.train.data", "--help"], cwd=repo, capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "brainedge-data" in help_text.stdout


def test_bad_threshold(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 3})
    assert cli.main(["audit", str(root), "--threshold", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "threshold must be 0..255 bits, got -1" in capsys.readouterr().err
