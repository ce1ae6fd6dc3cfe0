"""The device record: what a latency figure means depends on the machine that produced it.

Everything is read without importing an interpreter (package versions come from the
installed distributions), and every field that a platform cannot provide is ``None``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "pillow", "ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow")
CPU_GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
THERMAL_ZONES = Path("/sys/class/thermal")
PROC_STAT = Path("/proc/stat")
GET_THROTTLED = ("vcgencmd", "get_throttled")
"""The Raspberry Pi firmware's record of under-voltage, frequency capping and throttling."""
THROTTLED_NOW = 0xF
"""Bits 0-3 of ``get_throttled``: under-voltage, frequency capped, throttled, soft temperature limit, now."""
THROTTLED_SINCE_BOOT = 0xF0000
"""Bits 16-19: the same four conditions, set once they have occurred since boot."""


def device_record(name: str | None = None) -> dict[str, Any]:
    """CPU, cores, architecture, OS, Python, interpreter versions, governor, temperature, throttling and load.

    The load average says whether other work competed for the CPU while timings were taken.
    """
    return {
        "name": name or platform.node() or "unknown",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {package: _version(package) for package in PACKAGES},
        "cpu_governor": _read_text(CPU_GOVERNOR),
        "temperature_c": cpu_temperature(),
        "throttled": throttled(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's marketing name; on a Raspberry Pi the board ("Model") is the useful line."""
    text = _read_text(cpuinfo)
    if text is None:
        return platform.processor() or None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or None


def cpu_temperature(zones: Path = THERMAL_ZONES) -> float | None:
    """The first readable thermal zone in °C (the SoC on a Raspberry Pi), else None."""
    for zone in sorted(zones.glob("thermal_zone*")):
        raw = _read_text(zone / "temp")
        if raw is not None and raw.lstrip("-").isdigit():
            return int(raw) / 1000.0
    return None


def device_state() -> dict[str, Any]:
    """What two readings tell about the time between them: SoC temperature and the Pi's throttling bits (a device
    slowing itself down), and the CPU time all processes and this one had used (what other processes took)."""
    return {
        "temperature_c": cpu_temperature(),
        "throttled": throttled(),
        "busy_cpu_s": busy_cpu_seconds(),
        "own_cpu_s": time.process_time(),
        "wall_s": time.monotonic(),
    }


def busy_cpu_seconds(stat: Path = PROC_STAT) -> float | None:
    """CPU seconds every process (and, on a VM, other guests: steal) has used since boot; None off Linux."""
    text = _read_text(stat)
    if text is None or not text.startswith("cpu "):
        return None
    ticks = [int(value) for value in text.splitlines()[0].split()[1:9]]  # user .. steal; guest is within user
    idle = sum(ticks[3:5])  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def others_cores(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """How many cores' worth of CPU other processes used on average between two ``device_state`` readings
    taken by one process."""
    return others_cores_over([(before, after)])


def others_cores_over(readings: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> float | None:
    """The same over several processes' (before, after) readings: what the others used in all their
    spans, over the spans' total wall time (a reading's own CPU time is its own process's only)."""
    others, wall = 0.0, 0.0
    for before, after in readings:
        if (before or {}).get("busy_cpu_s") is None or (after or {}).get("busy_cpu_s") is None:
            return None
        wall += after["wall_s"] - before["wall_s"]
        others += max((after["busy_cpu_s"] - before["busy_cpu_s"]) - (after["own_cpu_s"] - before["own_cpu_s"]), 0.0)
    return others / wall if wall > 0 else None


def throttled(command: tuple[str, ...] = GET_THROTTLED) -> str | None:
    """``vcgencmd get_throttled``'s value ("0x0" when all is well); None where the tool is absent or says nothing."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    key, _, value = done.stdout.strip().partition("=")
    try:
        return value if key == "throttled" and int(value, 16) >= 0 else None
    except ValueError:
        return None


def throttled_between(before: str | None, after: str | None) -> bool | None:
    """Whether the SoC was throttled (or under-voltage, capped, at its soft limit) at the end, or became so since
    the start; None when either reading is missing."""
    if before is None or after is None:
        return None
    start, end = int(before, 16), int(after, 16)
    return bool(end & THROTTLED_NOW or (end & ~start) & THROTTLED_SINCE_BOOT)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
