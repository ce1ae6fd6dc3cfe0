"""The kiosk loop (brainedge-classify --watch / --camera): folder watching end to end with real
tiny bundles, camera sources with fakes, the systemd unit and its installer."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from make_tiny_bundles import CLASSES

from brainedge.edge_runtime import camera
from brainedge.edge_runtime.cli import main as classify_main
from brainedge.edge_runtime.errors import BrainEdgeError

REPO = Path(__file__).resolve().parents[1]


def class_image(bundles: Path, name: str, index: int = 0) -> Path:
    return bundles / "images" / name / f"{index}.png"


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_folder_loop_labels_every_image(
    bundles: Path, variant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in CLASSES:
        shutil.copy(class_image(bundles, name), tmp_path / f"{name}.png")
    code = classify_main(
        [
            "--bundle",
            str(bundles / variant),
            "--watch",
            str(tmp_path),
            "--include-existing",
            "--interval",
            "0.01",
            "--max-images",
            str(len(CLASSES)),
            "--top-k",
            "1",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == len(CLASSES)
    for line in lines:
        path, answer = line.split(": ", 1)
        label, ranked, latency = answer.split("  ")
        assert label == Path(path).stem and ranked.startswith(f"[{label} ")
        assert 0.5 < float(ranked.split()[1].rstrip("]")) <= 1.0
        assert latency.endswith(" ms") and float(latency[:-3]) >= 0


def test_the_kiosk_says_not_recognised_for_an_image_unlike_the_training_ones(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from brainedge.edge_runtime.classifier import NOT_RECOGNISED

    shutil.copy(class_image(bundles, "red"), tmp_path / "a_red.png")
    Image.new("RGB", (32, 32), (0, 0, 0)).save(tmp_path / "b_black.png")
    args = ["--bundle", str(bundles / "int8_head"), "--watch", str(tmp_path), "--include-existing"]
    code = classify_main([*args, "--interval", "0.01", "--max-images", "2"])
    lines = sorted(capsys.readouterr().out.splitlines())
    assert code == 0 and len(lines) == 2
    assert lines[0].split(": ", 1)[1].startswith("red  [") and NOT_RECOGNISED not in lines[0]
    assert lines[1].split(": ", 1)[1].startswith(NOT_RECOGNISED)


def test_the_kiosk_saves_an_overlay_per_frame_with_explain(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    watched, overlays = tmp_path / "in", tmp_path / "overlays"
    watched.mkdir()
    for name in CLASSES:
        shutil.copy(class_image(bundles, name), watched / f"{name}.png")
    args = ["--bundle", str(bundles / "int8_head"), "--watch", str(watched), "--include-existing"]
    code = classify_main([*args, "--interval", "0.01", "--max-images", str(len(CLASSES)), "--explain", str(overlays)])
    assert code == 0, capsys.readouterr().err
    assert sorted(path.name for path in overlays.iterdir()) == sorted(f"{name}.png" for name in CLASSES)


def test_a_bad_file_is_reported_and_the_loop_goes_on(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_broken.jpg").write_bytes(b"not a jpeg")
    shutil.copy(class_image(bundles, "green"), tmp_path / "b_green.png")
    code = classify_main(
        [
            "--bundle",
            str(bundles / "int8"),
            "--watch",
            str(tmp_path),
            "--include-existing",
            "--interval",
            "0.01",
            "--max-images",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "a_broken.jpg" in captured.err and "Traceback" not in captured.err
    assert "b_green.png: green" in captured.out


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_kiosk_waiting_for_images_stops_at_once_on_ctrl_c_or_sigterm(
    bundles: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """The watched folder is read on a thread of its own, which must not go on waiting for images."""
    argv = ["--bundle", str(bundles / "int8"), "--watch", str(tmp_path), "--interval", "0.05", "--decode-workers", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "brainedge.edge_runtime", *argv], stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr.readline().startswith("watching")
        process.send_signal(stop_signal)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and err == ""


def test_sources_end_when_told_to_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "waiting.png").write_bytes(b"x")
    stop = threading.Event()
    stop.set()
    assert list(camera.folder_frames(tmp_path, 60, include_existing=False, stop=stop)) == []
    capture = types.SimpleNamespace(isOpened=lambda: True, set=lambda *_: None, read=lambda: (True, bgr_frame()))
    capture.release = lambda: None
    fake = types.SimpleNamespace(VideoCapture=lambda index: capture, CAP_PROP_FRAME_WIDTH=3, CAP_PROP_FRAME_HEIGHT=4)
    monkeypatch.setitem(sys.modules, "cv2", fake)
    assert [name for name, _ in camera.opencv_frames(60, 0, stop)] == ["frame 1"]


def test_watcher_waits_until_a_file_stops_growing(tmp_path: Path) -> None:
    (tmp_path / "before.png").write_bytes(b"x")
    watcher = camera.FolderWatcher(tmp_path)
    growing = tmp_path / "growing.png"
    growing.write_bytes(b"12")
    (tmp_path / ".partial.png").write_bytes(b"123")
    (tmp_path / "notes.txt").write_bytes(b"123")
    assert watcher.poll() == []  # first sight: size not yet known to be stable
    growing.write_bytes(b"1234")
    assert watcher.poll() == []  # still growing
    assert watcher.poll() == [growing]
    assert watcher.poll() == []  # reported once
    growing.write_bytes(b"replaced")
    os.utime(growing, ns=(0, 10**18))
    watcher.poll()
    assert watcher.poll() == [growing]  # a replaced file counts again


def test_watcher_can_include_existing_files(tmp_path: Path) -> None:
    existing = tmp_path / "existing.jpg"
    existing.write_bytes(b"x")
    watcher = camera.FolderWatcher(tmp_path, include_existing=True)
    watcher.poll()
    assert watcher.poll() == [existing]


def test_choose_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(camera.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BrainEdgeError, match="--watch FOLDER"):
        camera.choose_camera("auto")
    monkeypatch.setattr(camera.importlib.util, "find_spec", lambda name: object() if name == "cv2" else None)
    assert camera.choose_camera("auto") == "opencv"
    monkeypatch.setattr(camera.importlib.util, "find_spec", lambda name: object())
    assert camera.choose_camera("auto") == "picamera"
    assert camera.choose_camera("opencv") == "opencv"


def test_kiosk_arguments_that_cannot_work_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ["--watch", str(tmp_path), str(tmp_path)],
        ["--watch", str(tmp_path), "--interval", "-1"],
        ["--watch", str(tmp_path / "gone")],
    ):
        code = classify_main(["--bundle", str(tmp_path), *args])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (args, err)


def bgr_frame() -> np.ndarray:
    """A frame whose first channel (blue, in B-G-R order) is the bright one."""
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 0] = 200
    return frame


def test_opencv_frames_are_converted_to_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    released = []

    class FakeCapture:
        def __init__(self, index: int) -> None:
            self.index = index

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return True

        def set(self, prop: int, value: int) -> None:
            pass

        def read(self) -> tuple[bool, np.ndarray]:
            return True, bgr_frame()

        def release(self) -> None:
            released.append(self.index)

    fake = types.SimpleNamespace(VideoCapture=FakeCapture, CAP_PROP_FRAME_WIDTH=3, CAP_PROP_FRAME_HEIGHT=4)
    monkeypatch.setitem(sys.modules, "cv2", fake)
    frames = camera.opencv_frames(interval=0, camera_index=1)
    name, image = next(frames)
    frames.close()
    assert name == "frame 1"
    assert image[0, 0].tolist() == [0, 0, 200]
    assert released == [1]


def test_picamera_frames_are_converted_to_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    events = []

    class FakePicamera2:
        def create_preview_configuration(self, main: dict) -> dict:
            return {"main": main}

        def configure(self, config: dict) -> None:
            events.append(("configure", config["main"]["format"]))

        def start(self) -> None:
            events.append("start")

        def capture_array(self, stream: str) -> np.ndarray:
            return bgr_frame()

        def stop(self) -> None:
            events.append("stop")

        def close(self) -> None:
            events.append("close")

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    frames = camera.picamera_frames(interval=0)
    assert [name for name, _ in [next(frames), next(frames)]] == ["frame 1", "frame 2"]
    _, image = next(frames)
    frames.close()
    assert image[0, 0].tolist() == [0, 0, 200]
    assert events == [("configure", "RGB888"), "start", "stop", "close"]


def test_missing_bundle_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = classify_main(["--bundle", str(tmp_path / "nope"), "--watch", str(tmp_path), "--max-images", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "nope" in err and "Traceback" not in err


def test_camera_module_does_not_import_tensorflow() -> None:
    code = "import sys, brainedge.edge_runtime.camera; sys.exit('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code])
    assert done.returncode == 0


def fake_venv(directory: Path) -> Path:
    """A venv-shaped folder whose python and brainedge-classify are this test environment's."""
    (directory / "bin").mkdir(parents=True)
    classify = Path(sys.executable).with_name("brainedge-classify")
    for name, target in (("python", sys.executable), ("brainedge-classify", str(classify))):
        script = directory / "bin" / name
        script.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
        script.chmod(0o755)
    return directory


def test_kiosk_unit_is_filled_in_and_valid(bundles: Path, tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    done = subprocess.run(
        [
            "bash",
            str(REPO / "edge_runtime/pi/install_kiosk.sh"),
            "--bundle",
            str(bundles / "int8"),
            "--folder",
            str(inbox),
            "--venv",
            str(venv),
            "--print",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    unit = done.stdout
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.split() == [
        f"ExecStart={venv}/bin/brainedge-classify",
        "--bundle",
        str((bundles / "int8").resolve()),
        "--watch",
        str(inbox.resolve()),
        "--interval",
        "1",
    ]
    assert "/home/pi" not in unit and "\nUser=pi\n" not in unit
    if shutil.which("systemd-analyze"):
        (tmp_path / "brainedge-kiosk.service").write_text(unit)
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / "brainedge-kiosk.service")], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr


def test_kiosk_installer_refuses_a_non_bundle(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "bash",
            str(REPO / "edge_runtime/pi/install_kiosk.sh"),
            "--bundle",
            str(tmp_path),
            "--camera",
            "--venv",
            str(fake_venv(tmp_path / "venv")),
            "--print",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "not a model bundle" in done.stderr


def test_watching_a_file_or_a_vanished_folder_is_one_line(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "scan.png"
    a_file.write_bytes(b"x")
    assert classify_main(["--bundle", str(bundles / "int8"), "--watch", str(a_file)]) == 2
    assert capsys.readouterr().err == f"error: {a_file}: not a folder\n"
    watcher = camera.FolderWatcher(tmp_path)
    shutil.rmtree(tmp_path)
    with pytest.raises(BrainEdgeError, match="the watched folder is gone"):
        watcher.poll()


def test_an_empty_file_that_stays_empty_is_reported_once(tmp_path: Path) -> None:
    watcher = camera.FolderWatcher(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    assert watcher.poll() == []  # first sight
    assert watcher.poll() == [tmp_path / "empty.png"]  # still empty: handed on, to be reported as unreadable
    assert watcher.poll() == []


def test_a_wrong_bundle_is_said_before_the_folder_is_walked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for index in range(3):
        (tmp_path / "scans" / f"empty_{index}").mkdir(parents=True)
    assert classify_main(["--bundle", str(tmp_path / "typo"), str(tmp_path / "scans")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'typo'}: bundle directory not found\n"


def test_classifying_prints_no_interpreter_notice(bundles: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brainedge.edge_runtime",
            "--bundle",
            str(bundles / "int8"),
            str(class_image(bundles, "red")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_fifo_in_the_watched_folder_is_said_once_and_never_opened(tmp_path: Path) -> None:
    """A FIFO's size stays 0 like an empty file's: handing it on would block the kiosk on open()."""
    watcher = camera.FolderWatcher(tmp_path)
    os.mkfifo(tmp_path / "pipe.png")
    assert watcher.poll() == [] and watcher.poll() == [] and watcher.poll() == []
    assert watcher.skipped == [f"{tmp_path / 'pipe.png'}: a FIFO, not a regular file; skipped"]
