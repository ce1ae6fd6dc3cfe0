"""brainedge-serve: a web page and an HTTP API classifying images with one or more bundles.

  brainedge-serve --bundle DIR [--bundle DIR2 ...] [--host 127.0.0.1] [--port 8080]

Open http://127.0.0.1:8080/ and drop scans on the page, or POST them to /v1/classify
(the API is described at /openapi.json). Bound to an address other than loopback, the
server needs an access token of at least 16 characters: --token (or BRAINEDGE_SERVE_TOKEN),
else one is generated and printed once at start. Bound to loopback, it answers only requests
addressed to this machine (localhost, 127.0.0.1, [::1]). Each request is logged on stderr
(--quiet: not). Research software, not a medical device.

Memory: at most --decoders images are decoded at once, all bundles together, each of at most
--max-pixels pixels (up to 12 bytes a pixel while decoding); each bundle holds at most --queue
requests, each at most its upload and, once decoded, only the model's input.

Exit status: 0 stopped (Ctrl-C, or SIGTERM from systemd), 2 could not start (bad bundle
or arguments, port in use, [serve] not installed).
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from brainedge.edge_runtime import __version__
from brainedge.edge_runtime.backends import BACKENDS, check_threads
from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import (
    BrainEdgeError,
    OneLineParser,
    missing_modules,
    report_user_errors,
    stop_like_ctrl_c,
)
from brainedge.edge_runtime.preprocess import DEFAULT_MAX_PIXELS as RUNTIME_MAX_PIXELS
from brainedge.edge_runtime.serve.limits import (
    DEFAULT_DECODERS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PLACES,
)
from brainedge.edge_runtime.serve.loopback import is_loopback

SERVE_MODULES = ("fastapi", "uvicorn", "python_multipart")
TOKEN_VARIABLE = "BRAINEDGE_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16
"""A token chosen by hand, off loopback: shorter ones can be guessed over the network."""
DEFAULT_PORT = 8080


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-serve", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--bundle",
        type=Path,
        action="append",
        metavar="DIR",
        required=True,
        help="a model bundle directory; repeat to serve several (the page switches and compares them; "
        "the first is the API's default)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"access token clients must send, at least {MIN_TOKEN_CHARS} characters off loopback "
        f"(default: ${TOKEN_VARIABLE}; on a non-loopback address without one, a token is generated and printed)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N", help="interpreter threads per bundle (default: its own)"
    )
    parser.add_argument(
        "--queue",
        type=int,
        metavar="N",
        default=DEFAULT_PLACES,
        help=f"requests each bundle holds at once, uploading, waiting or running (default {DEFAULT_PLACES}); "
        "one more is answered 503 (busy)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        metavar="MB",
        default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest upload accepted, in MB of 2^20 bytes (default {DEFAULT_MAX_UPLOAD_MB:g}); larger is 413",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_PIXELS,
        help=f"largest image decoded, width x height (default {DEFAULT_MAX_PIXELS:,}, sized for a Raspberry Pi; "
        f"at most the runtime's {RUNTIME_MAX_PIXELS:,}); larger is 413",
    )
    parser.add_argument(
        "--decoders",
        type=int,
        metavar="N",
        default=DEFAULT_DECODERS,
        help=f"images decoded at once, all bundles together (default {DEFAULT_DECODERS}: min(2, cores)); "
        "each needs up to 12 bytes a pixel meanwhile",
    )
    parser.add_argument("--quiet", action="store_true", help="no line on stderr for each request")
    parser.add_argument(
        "--backend", choices=("auto",) + BACKENDS, default="auto", help="interpreter (as brainedge-classify)"
    )
    return parser


def require_serve_stack() -> None:
    """One line naming what is missing on a device installed with [edge] only."""
    missing = missing_modules(SERVE_MODULES)
    if missing:
        raise BrainEdgeError(
            f"brainedge-serve needs {', '.join(missing)}, which this environment lacks: "
            "install brainedge with the [serve] extra"
        )


def check_args(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise BrainEdgeError(f"--port must be between 0 and 65535, got {args.port}")
    check_threads(args.threads, "--threads")
    for name in ("queue", "decoders", "max_pixels"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BrainEdgeError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not args.max_upload_mb > 0:
        raise BrainEdgeError(f"--max-upload-mb must be more than 0, got {args.max_upload_mb:g}")
    if args.max_pixels > RUNTIME_MAX_PIXELS:
        limit = f"{RUNTIME_MAX_PIXELS:,}"
        raise BrainEdgeError(f"--max-pixels must be at most {limit} (the runtime's limit), got {args.max_pixels:,}")
    check_token(args.host, args.token)


def check_token(host: str, token: str | None) -> None:
    """A token given is not empty, and off loopback not short enough to guess."""
    if token is None:
        return
    if not token.strip():
        raise BrainEdgeError(f"--token (or ${TOKEN_VARIABLE}) is empty; give a token, or leave it out")
    if not is_loopback(host) and len(token.strip()) < MIN_TOKEN_CHARS:
        raise BrainEdgeError(
            f"--token (or ${TOKEN_VARIABLE}) has {len(token.strip())} characters; off loopback it needs at least "
            f"{MIN_TOKEN_CHARS}, or leave it out to have one generated"
        )


def access_token(host: str, given: str | None) -> tuple[str | None, bool]:
    """The token to require and whether it was generated here: none on loopback unless given, else always one."""
    if given is not None:
        return given.strip(), False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a port in use is one line, not a traceback.

    The socket is made from getaddrinfo's answer, protocol included: asyncio turns Nagle's algorithm off
    only on TCP sockets that say so, and without that each keep-alive answer waited 40 ms for an ACK.
    """
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise BrainEdgeError(f"--host {host}: not an address this machine has") from None
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise BrainEdgeError(f"--port {port}: already in use on {host} (another server running?)") from None
        if error.errno == errno.EACCES:
            raise BrainEdgeError(f"--port {port}: permission denied (ports below 1024 need root; try 8080)") from None
        raise BrainEdgeError(f"--host {host} --port {port}: cannot listen ({error.strerror})") from None
    return listener


def where(host: str, port: int) -> str:
    """The address to open, said so that it works: a wildcard address is reached by this machine's name."""
    if host in ("0.0.0.0", "::"):
        name = socket.gethostname()
        name = name if "." in name else f"{name}.local"  # how a Pi is found on a home or ward network (mDNS)
        return f"all addresses, port {port}: open http://{name}:{port}/ from another machine"
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}/"


def run(args: argparse.Namespace) -> int:
    require_serve_stack()
    check_args(args)
    engines = [Engine.from_bundle(path, args.backend, args.threads) for path in args.bundle]
    token, generated = access_token(args.host, args.token)
    listener = listening_socket(args.host, args.port)

    import uvicorn  # only now: [edge] alone lacks it, which require_serve_stack said in one line

    from brainedge.edge_runtime.serve.app import create_app

    app = create_app(
        engines,
        token=token,
        max_upload_mb=args.max_upload_mb,
        places=args.queue,
        max_pixels=args.max_pixels,
        decoders=args.decoders,
        loopback_only=is_loopback(args.host),
        access_log=None if args.quiet else sys.stderr,
    )
    port = listener.getsockname()[1]
    names = ", ".join(engine.bundle.name for engine in engines)
    print(f"brainedge-serve: {names} on {where(args.host, port)} (Ctrl-C stops)", flush=True)
    if generated:
        print(f"access token: {token}  (type it into the page once, or send 'Authorization: Bearer TOKEN')", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    stop_like_ctrl_c(signal.SIGTERM)  # systemd's stop
    try:
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:
        pass  # uvicorn finished the requests in hand, then raised the signal that stopped it again
    return 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))
