"""brainedge-serve under load, on loopback: latency, throughput, refusals when full, and the server's memory.

    python -m brainedge.benchmarks.studies.serve_load --bundle runs/mri_224/export/tflite_int8_ptq \\
        --test-set runs/mri_224/manifest.csv --out benchmarks/results/serve_load

1. The reference: ``brainedge-bench`` on the same bundle, images and thread count (one image after the
   other in one process: decode, preprocess, invoke, rank), before the server starts.
2. The server (``brainedge-serve --threads N``, a subprocess on 127.0.0.1), a few warm-up requests,
   then ``--clients`` threads each sending ``--requests`` multipart uploads of test-split images over
   one keep-alive connection, as the page does. Every answer must be the runtime's own for that image.
3. Overload: more clients than the server has places (``--queue``) for a short while; the extra
   requests must be refused with 503 at once, and nothing else may fail.

The server's peak RSS is ``VmHWM`` of its process. Bounded in count (clients x requests) and in
time (``--seconds`` per phase). Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import numpy as np

from brainedge.benchmarks.dataset import load_test_set
from brainedge.benchmarks.studies import record_paths, study_command
from brainedge.edge_runtime.classifier import Classifier, ClassifierOptions
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import write_text_atomically

TARGET_PEAK_RSS_MB = 120.0
TARGET_THROUGHPUT_RATIO = 0.8
"""Throughput through the server, at least this share of brainedge-bench's for the same bundle and threads."""
STARTUP_SECONDS = 60.0
WARMUP_REQUESTS = 10


@contextmanager
def running_server(bundles: Sequence[Path], *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``brainedge-serve`` on 127.0.0.1 and a free port, in a subprocess: its URL and process, stopped at the end.

    Its stderr (the access log, a line a request) goes to a temporary file: a pipe nobody reads would fill
    and stop the server.
    """
    command = [sys.executable, "-m", "brainedge.edge_runtime.serve", "--host", "127.0.0.1", "--port", "0"]
    command += [argument for bundle in bundles for argument in ("--bundle", str(bundle))] + list(options)
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        yield server_url(process, log), process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        log.close()


def server_url(process: subprocess.Popen, log: IO[str]) -> str:
    """The URL from the server's first line, once it is listening."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            found = re.search(r"http://\S+/", line)
            if found:
                return found.group(0)
            if not line:
                break
    process.kill()
    process.wait()
    log.seek(0)
    raise BrainEdgeError(f"brainedge-serve did not start: {log.read().strip()[-2000:]}")


def multipart(image: bytes, name: str) -> tuple[bytes, str]:
    """The body and Content-Type a browser sends for one file in the field ``image``."""
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
    head += "Content-Type: image/jpeg\r\n\r\n"
    return head.encode() + image + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Connection(http.client.HTTPConnection):
    """Keep-alive HTTP with Nagle's algorithm off, as browsers have it: http.client sends the headers and the
    body in two writes, and the second would wait for the server's delayed ACK (40 ms on Linux)."""

    def __init__(self, url: str) -> None:
        address = urlsplit(url)
        super().__init__(address.hostname, address.port, timeout=60)

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(frozen=True)
class Upload:
    body: bytes
    content_type: str
    expected: tuple[str, float]
    """The runtime's own answer for this image (label, score): the server must give exactly it."""


@dataclass
class Phase:
    """What the clients of one phase saw."""

    clients: int
    requests_per_client: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    unlike_runtime: int = 0
    failures: list[str] = field(default_factory=list)
    """Connection errors and unexpected statuses, first few with their message."""
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, milliseconds: float, unlike_runtime: bool, failure: str | None) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.latencies_ms.append(milliseconds)
                self.unlike_runtime += unlike_runtime
            if failure is not None and len(self.failures) < 10:
                self.failures.append(failure)

    def summary(self) -> dict[str, Any]:
        answered = self.statuses.get(200, 0)
        latencies = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {
            "clients": self.clients,
            "requests_per_client": self.requests_per_client,
            "sent": sum(self.statuses.values()),
            "answered": answered,
            "busy_503": self.statuses.get(503, 0),
            "errors": sum(count for status, count in self.statuses.items() if status not in (200, 503)),
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "answers_unlike_the_runtime": self.unlike_runtime,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(answered / self.seconds, 2) if self.seconds else None,
            "latency_ms": {
                "p50": round(float(np.percentile(latencies, 50)), 3),
                "p90": round(float(np.percentile(latencies, 90)), 3),
                "p99": round(float(np.percentile(latencies, 99)), 3),
                "max": round(float(latencies.max()), 3),
            },
        }


def client(url: str, uploads: list[Upload], offset: int, phase: Phase, deadline: float) -> None:
    """One keep-alive connection sending its share of uploads in turn, until done or past the deadline."""
    connection = Connection(url)
    try:
        for number in range(phase.requests_per_client):
            if time.monotonic() > deadline:
                return
            upload = uploads[(offset + number) % len(uploads)]
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/classify", upload.body, {"Content-Type": upload.content_type})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                phase.record(0, 0.0, False, f"{type(error).__name__}: {error}")
                connection.close()
                continue
            milliseconds = (time.perf_counter() - started) * 1000
            unlike = response.status == 200 and answer_of(json.loads(body)) != upload.expected
            failure = None if response.status in (200, 503) else f"{response.status}: {body[:200]!r}"
            phase.record(response.status, milliseconds, unlike, failure)
    finally:
        connection.close()


def answer_of(record: dict[str, Any]) -> tuple[str, float]:
    return record["label"], record["score"]


def uploads_of(bundle: Path, paths: list[Path], threads: int) -> list[Upload]:
    """Each image as the page uploads it, with what ``Classifier.classify`` answers for it in this process."""
    classifier = Classifier.from_bundle(bundle, ClassifierOptions(threads=threads))
    uploads = []
    for path in paths:
        data = path.read_bytes()
        expected = answer_of(classifier.classify(data).record(path.name))
        uploads.append(Upload(*multipart(data, path.name), expected))
    return uploads


def load(url: str, uploads: list[Upload], clients: int, requests_per_client: int, seconds: float) -> Phase:
    """``clients`` threads at once, each with its own connection and its own starting image."""
    phase = Phase(clients, requests_per_client)
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(url, uploads, k * len(uploads) // clients, phase, deadline))
        for k in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    return phase


def process_memory_mb(pid: int) -> dict[str, float]:
    """The server's peak (VmHWM) and current (VmRSS) resident memory, MiB."""
    status = Path(f"/proc/{pid}/status")
    values = {}
    for line in status.read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(line.split()[1]) / 1024
    return {"peak_rss_mb": round(values["VmHWM"], 1), "rss_mb": round(values["VmRSS"], 1)}


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_reference(bundle: Path, test_set: Path, limit: int, threads: int) -> dict[str, Any]:
    """brainedge-bench's own figures for this bundle, images and thread count."""
    with tempfile.TemporaryDirectory() as out:
        command = ["brainedge-bench", str(bundle), "--test-set", str(test_set), "--limit", str(limit)]
        command += ["--threads", str(threads), "--out", out]
        done = subprocess.run(
            [sys.executable, "-m", "brainedge.benchmarks", *command[1:]], capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise BrainEdgeError(f"brainedge-bench failed: {done.stderr.strip()[-2000:]}")
        [row] = json.loads((Path(out) / "results.json").read_text())["rows"]
    return {
        "command": " ".join(command[:-1] + ["TMP"]),
        "throughput_ips": round(row["throughput_ips"], 2),
        "invoke_p50_ms": round(row["latency_ms"]["p50"], 3),
        "peak_rss_mb": round(row["peak_rss_mb"], 1),
        "accuracy": row["accuracy"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """brainedge-bench before and after the server's phases, so a machine whose load drifts shows it."""
    test_set = load_test_set(args.test_set).subset(args.images)
    uploads = uploads_of(args.bundle, test_set.paths, args.threads)
    before = bench_reference(args.bundle, args.test_set, args.images, args.threads)
    options = ["--threads", str(args.threads), "--queue", str(args.queue)]
    with running_server([args.bundle], *options) as (url, process):
        load(url, uploads, 1, WARMUP_REQUESTS, args.seconds)
        after_start = process_memory_mb(process.pid)
        cpu_before = process_cpu_seconds(process.pid)
        steady = load(url, uploads, args.clients, args.requests, args.seconds)
        steady_cpu = process_cpu_seconds(process.pid) - cpu_before
        after_load = process_memory_mb(process.pid)
        overload = load(url, uploads, args.overload_clients, args.overload_requests, args.seconds)
        after_overload = process_memory_mb(process.pid)
    after = bench_reference(args.bundle, args.test_set, args.images, args.threads)
    answered = steady.statuses.get(200, 0)
    return {
        "bundle": str(args.bundle),
        "images": test_set.describe(),
        "threads": args.threads,
        "queue": args.queue,
        "reference_before": before,
        "reference_after": after,
        "reference_throughput_ips": round((before["throughput_ips"] + after["throughput_ips"]) / 2, 2),
        "steady": steady.summary(),
        "steady_server_cpu_ms_per_answer": round(1000 * steady_cpu / answered, 3) if answered else None,
        "overload": overload.summary(),
        "server_memory_mb": {"after_warmup": after_start, "after_steady": after_load, "after_overload": after_overload},
    }


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was measured, the target, and whether it was met."""
    steady, overload = result["steady"], result["overload"]
    failed = steady["errors"] + steady["busy_503"] + overload["errors"]
    unlike = steady["answers_unlike_the_runtime"] + overload["answers_unlike_the_runtime"]
    ratio = round(steady["throughput_rps"] / result["reference_throughput_ips"], 3)
    peak = result["server_memory_mb"]["after_overload"]["peak_rss_mb"]
    return [
        {
            "measure": "failed requests (any but the overload's 503s)",
            "value": failed,
            "target": "0",
            "met": failed == 0,
        },
        {"measure": "answers unlike the runtime's", "value": unlike, "target": "0", "met": unlike == 0},
        {
            "measure": "throughput through the server / brainedge-bench's",
            "value": ratio,
            "target": f">= {TARGET_THROUGHPUT_RATIO}",
            "met": ratio >= TARGET_THROUGHPUT_RATIO,
        },
        {
            "measure": "server peak RSS (VmHWM), MB",
            "value": peak,
            "target": f"<= {TARGET_PEAK_RSS_MB:g}",
            "met": peak <= TARGET_PEAK_RSS_MB,
        },
    ]


def report(result: dict[str, Any], command: str) -> str:
    steady, overload = result["steady"], result["overload"]
    before, after = result["reference_before"], result["reference_after"]
    memory = result["server_memory_mb"]
    lines = [
        f"# brainedge-serve under load: `{Path(result['bundle']).name}`",
        "",
        f"Command: `{command}`  ",
        f"Device: {result['device']}",
        "",
        f"Images: {result['images']['images']} test-split images of `{result['images']['source']}`, sent as multipart "
        f"uploads (as the page sends them) over loopback; server `--threads {result['threads']} --queue "
        f"{result['queue']}`. Every answer is checked against `Classifier.classify` of the same image in the "
        "benchmark's process (label and score, exactly).",
        "",
        "| measure | value | target | verdict |",
        "|---|---|---|---|",
        *(
            f"| {check['measure']} | {check['value']} | {check['target']} | "
            f"{'**met**' if check['met'] else '**not met**'} |"
            for check in result["verdicts"]
        ),
        "",
        "| phase | clients x requests | answered | 503 (busy) | other errors | unlike the runtime | seconds | "
        "throughput, req/s | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, phase in (("steady", steady), ("overload", overload)):
        latency = phase["latency_ms"]
        lines.append(
            f"| {name} | {phase['clients']} x {phase['requests_per_client']} | {phase['answered']} | "
            f"{phase['busy_503']} | {phase['errors']} | {phase['answers_unlike_the_runtime']} | {phase['seconds']} | "
            f"{phase['throughput_rps']} | {latency['p50']} | {latency['p90']} | {latency['p99']} | {latency['max']} |"
        )
    lines += [
        "",
        f"brainedge-bench on the same bundle, images and threads (`{before['command']}`), before and after the "
        f"server: {before['throughput_ips']} and {after['throughput_ips']} images/s end to end (the ratio uses "
        f"their mean, {result['reference_throughput_ips']}), invoke p50 {before['invoke_p50_ms']} and "
        f"{after['invoke_p50_ms']} ms, accuracy {before['accuracy']:.4f}, peak RSS {before['peak_rss_mb']} MB. "
        f"The server spent {result['steady_server_cpu_ms_per_answer']} ms of CPU per answer in the steady phase "
        f"(all its threads); brainedge-bench, one thread, {1000 / result['reference_throughput_ips']:.2f} ms of "
        "wall time per image.",
        "",
        f"Server memory (VmRSS / VmHWM, MB): after warm-up {memory['after_warmup']['rss_mb']} / "
        f"{memory['after_warmup']['peak_rss_mb']}, after the steady phase {memory['after_steady']['rss_mb']} / "
        f"{memory['after_steady']['peak_rss_mb']}, after overload {memory['after_overload']['rss_mb']} / "
        f"{memory['after_overload']['peak_rss_mb']}.",
        "",
        "Latency is the client's: from sending the request to the end of the answer, queueing included. "
        "Throughput counts answered requests over the phase's wall time. The clients run in the benchmark's "
        "process on the same machine, so they take CPU from the server; brainedge-bench runs alone.",
    ]
    if result["note"]:
        lines += ["", result["note"]]
    return "\n".join(lines) + "\n"


def device_line(load_at_start: float) -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"1-minute load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainedge.benchmarks.studies.serve_load", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--test-set", type=Path, required=True, help="a brainedge-data manifest or class folders")
    parser.add_argument("--images", type=int, default=200, help="test images, spread over the classes (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--queue", type=int, default=8, help="the server's places per bundle (default 8)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument("--overload-clients", type=int, default=16)
    parser.add_argument("--overload-requests", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=300.0, help="longest a phase may run")
    parser.add_argument("--out", type=Path, required=True, help="OUT.json and OUT.md are written")
    parser.add_argument("--note", default="", help="a sentence for the report on the conditions of the run")
    args = parser.parse_args(argv)
    try:
        outputs = record_paths(args.out)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    load_at_start = os.getloadavg()[0]
    result = run(args)
    result["device"] = device_line(load_at_start)
    result["note"] = args.note
    result["verdicts"] = verdicts(result)
    command = study_command("serve_load", argv)
    result = {"command": command, **result}  # first, as every study's record begins
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(outputs[".json"], json.dumps(result, indent=2) + "\n")
    write_text_atomically(outputs[".md"], report(result, command))
    print(report(result, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
