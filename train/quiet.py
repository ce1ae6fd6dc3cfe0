"""Keep TensorFlow's start-up chatter off the user's terminal unless they ask for it (--verbose).

TensorFlow's C++ side logs through absl before anything can configure it (oneDNN and CUDA
notices, ``cuInit`` failures on machines without a GPU), and the converter and the
quantization debugger warn about things that are not the user's problem. Environment
variables do not reach all of it, so standard error is passed through a filter that drops
exactly these known lines and forwards everything else at once — a warning about the user's
data or model is never among the patterns.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import warnings

NOISE = re.compile(
    rb"^(?:"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:. ]+\d+ \S+\] "  # absl INFO lines: oneDNN notice, CUDA stub notices, MLIR pass timing
    rb"|E\d{4} [\d:. ]+\d+ cuda_(?:platform|executor|driver)\.cc:\d+\] failed call to cuInit"
    rb"|W\d{4} [\d:. ]+\d+ \S+\] (?:TF-TRT Warning|Could not find TensorRT|Cannot dlopen some GPU libraries)"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+"
    rb")"
)
PYTHON_WARNINGS = (
    r"Statistics for quantized inputs were expected",  # the converter, for uint8 I/O we calibrate ourselves
    r".*tf\.lite\.Interpreter is deprecated",  # the quantization debugger runs on it; we do not
)
_installed = False


def quiet_tensorflow(verbose: bool) -> None:
    """Filter this process's standard error from now on (once; nothing happens with ``verbose``)."""
    global _installed
    if verbose or _installed:
        return
    _installed = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message in PYTHON_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, terminal), daemon=True, name="stderr-filter")
    forwarder.start()
    atexit.register(_drain, forwarder, terminal)


def _forward(read_end: int, terminal: int) -> None:
    """Copy lines to the real stderr, dropping noise; a partial line (a progress bar) goes out at once."""
    pending = b""
    while chunk := os.read(read_end, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
        if pending and not _may_become_noise(pending):
            out, pending = out + pending, b""
        if out:
            os.write(terminal, out)
    if pending and not NOISE.match(pending):
        os.write(terminal, pending)


def _may_become_noise(partial: bytes) -> bool:
    """Held back only while it could still be the start of a noise line (they arrive whole in practice)."""
    return bool(re.match(rb"^(?:[IEW]\d{0,4}|WARNING|INFO|fully_)", partial)) and b"\r" not in partial


def _drain(forwarder: threading.Thread, terminal: int) -> None:
    """At exit: close our end of the pipe so the forwarder flushes, then give stderr back."""
    sys.stderr.flush()
    os.dup2(terminal, 2)
    forwarder.join(timeout=2)
