"""The device record: what a latency figure means depends on the machine that produced it.

Everything is read without importing an interpreter (package versions come from the
installed distributions), and every field that a platform cannot provide is ``None``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "pillow", "ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow")
CPU_GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
THERMAL_ZONES = Path("/sys/class/thermal")
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


def thermal_state() -> dict[str, Any]:
    """What says whether a device slowed itself down: SoC temperature and the Pi's throttling bits (or None)."""
    return {"temperature_c": cpu_temperature(), "throttled": throttled()}


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
