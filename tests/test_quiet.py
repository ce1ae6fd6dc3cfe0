"""The training/export commands' stderr filter: TensorFlow's known chatter goes, everything else stays."""

from __future__ import annotations

import subprocess
import sys

import pytest

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796028979.708223   29950 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1796028979.708474   29950 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    "E0000 00:00:1796028981.439694   29950 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, output_inference_type: UINT8",
]
KEPT = [
    "error: /data/a.png: cannot decode image",
    "E0000 00:00:1796028981.439694   29950 allocator.cc:12] Out of memory while trying to allocate 9 GB",
    "WARNING: your class 'glioma' has 2 images",
]
SCRIPT = """
import os, sys, warnings
from brainedge.train.quiet import quiet_tensorflow
quiet_tensorflow(sys.argv[1] == "verbose")
lines = sys.argv[2:]
for line in lines:
    os.write(2, (line + "\\n").encode())
sys.stderr.write("\\rprogress 1/2")
sys.stderr.flush()
sys.stderr.write("\\rprogress 2/2\\n")
warnings.warn("Statistics for quantized inputs were expected, but not specified; continuing anyway.")
warnings.warn("the user's own warning")
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_only_known_chatter_is_dropped(mode: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, *NOISE, *KEPT], capture_output=True, timeout=60)
    err = done.stderr.decode()  # bytes: text mode would turn the progress bar's \r into newlines
    assert done.returncode == 0, err
    for line in KEPT:
        assert line in err
    assert "\rprogress 1/2\rprogress 2/2\n" in err
    assert "the user's own warning" in err
    hidden = [line for line in NOISE if line in err]
    if mode == "quiet":
        assert hidden == [] and "Statistics for quantized inputs" not in err
        assert err.index(KEPT[0]) < err.index(KEPT[1]) < err.index(KEPT[2])  # order kept
    else:
        assert hidden == NOISE and "Statistics for quantized inputs" in err
