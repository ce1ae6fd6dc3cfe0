"""The recipe study's stages stop cleanly: a kill or Ctrl-C of `recipes run` reaches the whole stage,
even a trainer that inherited an ignored SIGINT (nohup, a background job), and leaves no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STAGE = """
import sys
from brainedge.benchmarks.studies.recipes import step, stop_on_sigterm
stop_on_sigterm()
try:
    step("training", ["bash", "-c", "trap '' INT; echo $$ > {pid}; sleep 60"], open({log!r}, "w"))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_sigterm_stops_the_whole_stage_even_when_it_ignores_sigint(tmp_path: Path) -> None:
    pid_file = tmp_path / "stage.pid"
    script = STAGE.format(pid=pid_file, log=str(tmp_path / "stage.log"))
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the stage did not start"
        time.sleep(0.1)
    stage = int(pid_file.read_text())
    runner.send_signal(signal.SIGTERM)
    out, _ = runner.communicate(timeout=30)
    assert out.strip() == "interrupted"
    time.sleep(0.2)
    try:
        os.kill(stage, 0)
    except ProcessLookupError:
        return
    os.kill(stage, signal.SIGKILL)
    raise AssertionError("the stage outlived `recipes run`")
