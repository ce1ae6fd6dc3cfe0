"""brainedge-serve on the command line: one-line refusals, when a token is needed, and a real server process."""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime.serve import cli


def serve(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_status:  # a command-line mistake: argparse exits, in one line
        code = exit_status.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_bundle_that_cannot_be_opened_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = serve(["--bundle", str(tmp_path / "nope")], capsys)
    assert code == 2 and err == f"error: {tmp_path / 'nope'}: bundle directory not found\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--queue", "0"], "--queue must be at least 1, got 0"),
        (["--threads", "0"], "--threads must be a whole number from 1 to 64, got 0"),
        (["--port", "70000"], "--port must be between 0 and 65535, got 70000"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be more than 0, got 0"),
        (["--token", " "], "--token (or $BRAINEDGE_SERVE_TOKEN) is empty"),
        (["--decoders", "0"], "--decoders must be at least 1, got 0"),
        (["--max-pixels", "0"], "--max-pixels must be at least 1, got 0"),
        (["--max-pixels", "100000000"], "--max-pixels must be at most 64,000,000 (the runtime's limit)"),
        (
            ["--host", "0.0.0.0", "--token", "guessable"],
            "--token (or $BRAINEDGE_SERVE_TOKEN) has 9 characters; off loopback it needs at least 16",
        ),
        (["--port", "eighty"], "argument --port: invalid int value: 'eighty' (brainedge-serve --help lists"),
        (["--bogus"], "unrecognized arguments: --bogus (brainedge-serve --help lists the options)"),
    ],
)
def test_bad_settings_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    code, err = serve(["--bundle", str(tmp_path), *arguments], capsys)
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1


def test_a_missing_bundle_option_is_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = serve([], capsys)
    assert (
        code == 2
        and err == "error: the following arguments are required: --bundle (brainedge-serve --help lists the options)\n"
    )


def test_a_short_token_is_fine_on_loopback(bundles: Path) -> None:
    args = cli.build_parser().parse_args(["--bundle", str(bundles / "int8"), "--token", "mine"])
    cli.check_args(args)  # nothing to guess from elsewhere


def test_without_the_serve_extra_it_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    code, err = serve(["--bundle", str(tmp_path)], capsys)
    assert code == 2
    assert err == (
        "error: brainedge-serve needs fastapi, which this environment lacks: install brainedge with the [serve] extra\n"
    )


def test_a_port_in_use_is_one_line(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, err = serve(["--bundle", str(bundles / "int8"), "--port", str(port)], capsys)
    assert code == 2 and err == f"error: --port {port}: already in use on 127.0.0.1 (another server running?)\n"


@pytest.mark.parametrize(
    ("host", "given", "required", "generated"),
    [
        ("127.0.0.1", None, False, False),
        ("127.0.0.2", None, False, False),
        ("::1", None, False, False),
        ("localhost", None, False, False),
        ("127.0.0.1", "mine", True, False),
        ("0.0.0.0", None, True, True),
        ("::", None, True, True),
        ("192.168.1.20", None, True, True),
        ("raspberrypi.local", None, True, True),
        ("0.0.0.0", "a-token-of-16-chars", True, False),
    ],
)
def test_a_token_is_needed_off_loopback(host: str, given: str | None, required: bool, generated: bool) -> None:
    token, was_generated = cli.access_token(host, given)
    assert (token is not None, was_generated) == (required, generated)
    if given:
        assert token == given
    if generated:
        assert len(token) >= 32 and token != cli.access_token(host, given)[0]


def get(port: int, path: str, token: str | None = None, host: str | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request("GET", path, headers={**headers, "Host": host} if host else headers)
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


def start(argv: list[str], lines: int = 1) -> tuple[subprocess.Popen, list[str]]:
    """The server in its own process, and its first ``lines`` lines, printed once it listens."""
    command = [sys.executable, "-m", "brainedge.edge_runtime.serve", *argv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, [process.stdout.readline() for _ in range(lines)]


@pytest.mark.slow
def test_bound_to_every_address_it_prints_a_token_and_requires_it(bundles: Path) -> None:
    process, lines = start(["--bundle", str(bundles / "int8_head"), "--host", "0.0.0.0", "--port", "0"], lines=2)
    try:
        assert re.match(r"brainedge-serve: int8_head on all addresses, port \d+: open http://\S+:\d+/", lines[0]), lines
        port = int(re.search(r"port (\d+)", lines[0]).group(1))
        token = re.match(r"access token: (\S+)  \(type it into the page once", lines[1]).group(1)
        assert get(port, "/healthz") == (200, {"status": "ok", "bundles": ["int8_head"]})
        assert get(port, "/v1/bundles")[0] == 401
        status, facts = get(port, "/v1/bundles", token)
        assert status == 200 and facts[0]["name"] == "int8_head"
    finally:
        process.send_signal(signal.SIGTERM)  # as systemd stops it
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert re.fullmatch(r"(127\.0\.0\.1 GET /(healthz|v1/bundles) (200|401) \d+\.\d ms\n){3}", err), err
    assert token not in out and token not in err  # printed once, at start


@pytest.mark.slow
def test_on_loopback_it_needs_no_token_and_ctrl_c_stops_it(bundles: Path) -> None:
    process, lines = start(["--bundle", str(bundles / "int8"), "--port", "0", "--quiet"])
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)", lines[0]).group(1))
        assert get(port, "/v1/bundles")[0] == 200
        assert get(port, "/v1/bundles", host="rebound.example")[0] == 400  # DNS rebinding
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and err == "", err
