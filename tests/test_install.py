"""The install story the README tells: one namespaced package, a wheel that classifies on a device with
only ``[edge]`` (numpy, Pillow, LiteRT), never TensorFlow, and ``[serve]`` adding the web page, still without it."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy: setuptools leaves a build/ folder in the tree it builds
    # The egg-info an editable install left is kept: its file list names the studies, as in a user's checkout.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "runs"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{done.stderr[-3000:]}")
    [built] = out.glob("brainedge-*.whl")
    return built


def test_the_wheel_installs_exactly_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name for name in names if name.endswith(".dist-info/top_level.txt"))
        assert archive.read(info).decode().split() == ["brainedge"]
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"brainedge"}
    assert {
        "brainedge/edge_runtime/metadata.schema.json",
        "brainedge/edge_runtime/pi/install_kiosk.sh",
        "brainedge/train/run_dir.py",
        "brainedge/benchmarks/harness.py",
        "brainedge/edge_runtime/serve/app.py",
        "brainedge/edge_runtime/serve/static/index.html",
        "brainedge/edge_runtime/serve/static/facts.html",
        "brainedge/edge_runtime/serve/static/app.js",
        "brainedge/edge_runtime/serve/static/style.css",
    } <= set(names)


def test_the_wheel_ships_the_product_and_no_study(wheel: Path) -> None:
    """The studies are the lab, run from a clone: none of benchmarks/studies/ is in the wheel, while every
    other package folder of the checkout is (a folder missing from pyproject's package list would be lost)."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert not [name for name in names if "/studies/" in name or name.endswith("/stats.py")]
    studies = ROOT / "benchmarks" / "studies"
    assert list(studies.glob("*.py")), "no study found: this test would pass vacuously"
    folders = {"edge_runtime", "train", "export", "benchmarks"}
    shipped = {
        f"brainedge/{path.relative_to(ROOT).as_posix()}"
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if studies not in path.parents
    }
    assert shipped and shipped <= names, sorted(shipped - names)


def test_an_edge_install_classifies_without_tensorflow(wheel: Path, bundles: Path, tmp_path: Path) -> None:
    """What the README's Raspberry Pi section does: the wheel with [edge] into a clean venv."""
    env_dir = tmp_path / "edge-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[edge]"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(
        [
            str(env_dir / "bin" / "brainedge-classify"),
            "--bundle",
            str(bundles / "int8"),
            "--json",
            str(bundles / "images"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all(record["label"] == Path(record["source"]).parent.name for record in records)
    overlays = tmp_path / "overlays"
    done = subprocess.run(
        [str(env_dir / "bin" / "brainedge-classify"), "--bundle", str(bundles / "int8_head"), "--json"]
        + ["--explain", str(overlays), str(bundles / "images" / "red")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reds = len(list((bundles / "images" / "red").iterdir()))
    assert [json.loads(line)["ood"] for line in done.stdout.splitlines()] == [False] * reds
    assert len(list(overlays.glob("*.png"))) == reds  # overlays drawn with numpy and Pillow only
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)"
    assert subprocess.run([str(python), "-c", probe]).returncode == 0, "[edge] pulled in TensorFlow"
    for command, *args in (
        ("brainedge-demo",),
        ("brainedge-train", "--data", str(tmp_path)),
        ("brainedge-export", str(tmp_path)),
    ):  # installed, but they need [train]
        out = tmp_path / f"{command}-out"
        done = subprocess.run(
            [str(env_dir / "bin" / command), *args, "--out", str(out)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 2 and "needs TensorFlow" in done.stderr, done.stderr[-2000:]
        assert done.stderr.count("\n") == 1 and not out.exists(), done.stderr
    done = subprocess.run(
        [str(env_dir / "bin" / "brainedge-serve"), "--bundle", str(bundles / "int8")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # installed, but it needs [serve]
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr.endswith("install brainedge with the [serve] extra\n"), done.stderr


def test_a_serve_install_answers_over_http_without_tensorflow(wheel: Path, bundles: Path, tmp_path: Path) -> None:
    """The wheel with [serve] alone, into a clean venv: the server starts, classifies an upload, pulls no TensorFlow."""
    env_dir = tmp_path / "serve-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[serve]"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    command = [str(env_dir / "bin" / "brainedge-serve"), "--bundle", str(bundles / "int8_head"), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", server.stdout.readline()).group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        image = (bundles / "images" / "red" / "0.png").read_bytes()
        connection.request("POST", "/v1/classify?explain=true", image, {"Content-Type": "image/png"})
        response = connection.getresponse()
        record = json.loads(response.read())
        assert response.status == 200 and record["label"] == "red" and record["overlay"].startswith("data:image/png")
        connection.request("GET", "/")
        assert connection.getresponse().read().startswith(b"<!doctype html>")
    finally:
        server.terminate()
        server.communicate(timeout=60)
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)"
    assert subprocess.run([str(python), "-c", probe]).returncode == 0, "[serve] pulled in TensorFlow"
