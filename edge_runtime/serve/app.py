"""The web page and the HTTP API in front of loaded bundles: ``create_app(engines, ...)``.

``POST /v1/classify`` answers with the record ``brainedge-classify --format json`` prints
(``Prediction.record``), plus the bundle's name and, when asked, the overlay of where the model
looked. ``GET /v1/bundles`` gives each bundle's facts, ``GET /healthz`` says the server is up, and
``/openapi.json`` describes it all. Every refusal is ``{"error": "..."}`` with its HTTP status.

Memory is bounded server-wide: at most ``decoders`` images are decoded at once, all bundles together,
each of at most ``max_pixels``; a decoded image is dropped as soon as the model's input exists (for
an overlay, a copy at the size it is drawn is kept).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import ctypes.util
import dataclasses
import functools
import html
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

import anyio
import numpy as np
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brainedge.edge_runtime import __version__
from brainedge.edge_runtime.classifier import NOT_RECOGNISED, UNCERTAIN
from brainedge.edge_runtime.cli import caption
from brainedge.edge_runtime.engine import Engine, Prediction, Prepared
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.explain import LONG_SIDE_AT_MOST, display_size, overlay, png_bytes
from brainedge.edge_runtime.serve.api_error import ApiError
from brainedge.edge_runtime.serve.facts import bundle_facts
from brainedge.edge_runtime.serve.limits import (
    DEFAULT_DECODERS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PLACES,
    UPLOAD_SECONDS,
)
from brainedge.edge_runtime.serve.loopback import host_is_loopback
from brainedge.edge_runtime.serve.uploads import IMAGE_FIELD, Upload, read_upload
from brainedge.edge_runtime.serve.worker import Busy, InterpreterWorker

STATIC = Path(__file__).with_name("static")
PUBLIC_PATHS = ("/", "/facts", "/healthz", "/openapi.json", "/favicon.ico")
"""What needs no token: the page and its assets (to type the token into), the health check and the API's
description (it names the endpoints and parameters, nothing about the bundles or the token)."""
CLASSIFY_QUERY = ("bundle", "top_k", "explain")
"""The query parameters of POST /v1/classify: any other is refused, not ignored."""
RELEASE_AFTER_PIXELS = 4_000_000
"""Decoding a larger image leaves enough freed memory to hand back; a small one's costs more time than it frees."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CLASSIFY_BODY = {
    "description": f"the image: multipart/form-data with the one field {IMAGE_FIELD!r} (its file name becomes the "
    "answer's source), or the raw bytes of the file. A multi-frame GIF or TIFF is classified by its first frame, "
    "as brainedge-classify does",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {IMAGE_FIELD: {"type": "string", "format": "binary"}},
                "required": [IMAGE_FIELD],
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}
ERRORS = {
    status: {"description": what, "content": {"application/json": {"example": {"error": example}}}}
    for status, what, example in (
        (400, "a Host that is not this machine (a server on loopback)", "Host 'example.com' is not this machine ..."),
        (401, "missing or wrong access token", "wrong access token"),
        (408, "the upload was too slow", "the image took longer than 60 s to arrive; send it again"),
        (413, "too large a body, or an image of too many pixels", "the upload is larger than ... 20 MB"),
        (415, "not an image", "notes.txt: not an image file Pillow can read"),
        (422, "bad, unknown or repeated parameters or fields", "unknown bundle 'x': this server has tflite_int8_ptq"),
        (503, "busy: every place for this bundle is taken", "the server is busy ...; try again in a moment"),
    )
}


@dataclass(frozen=True)
class Serving:
    """What the routes need: the bundles' workers (the first is the default) and the limits."""

    workers: dict[str, InterpreterWorker]
    max_upload_bytes: int
    upload_seconds: float
    max_pixels: int
    decoders: anyio.CapacityLimiter
    """Threads decoding an image at once, shared by all bundles."""
    index_page: str

    def worker(self, name: str | None) -> InterpreterWorker:
        if name is None:
            return next(iter(self.workers.values()))
        if name not in self.workers:
            raise ApiError(422, f"unknown bundle {name!r}: this server has {', '.join(self.workers)}")
        return self.workers[name]


def create_app(
    engines: Sequence[Engine],
    token: str | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    places: int = DEFAULT_PLACES,
    upload_seconds: float = UPLOAD_SECONDS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decoders: int = DEFAULT_DECODERS,
    loopback_only: bool = False,
    access_log: TextIO | None = None,
) -> FastAPI:
    """The app serving these bundles (each with its own interpreter thread); ``token`` guards all but the page.

    ``loopback_only``: refuse requests whose Host is not this machine (a server bound to loopback);
    ``access_log``: where to write one line per request.
    """
    serving = Serving(
        workers=start_workers(engines, places),
        max_upload_bytes=int(max_upload_mb * 2**20),
        upload_seconds=upload_seconds,
        max_pixels=max_pixels,
        decoders=anyio.CapacityLimiter(decoders),
        index_page=index_page(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for worker in serving.workers.values():
            worker.close()

    app = FastAPI(
        title="BrainEdge",
        version=__version__,
        description="Brain-MRI classification with exported BrainEdge bundles. Research software, not a medical "
        "device. When the server has an access token, send it as `Authorization: Bearer TOKEN`. A parameter or "
        "multipart field the server does not know, or one given twice, is refused (422), never ignored.",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; /openapi.json is served from here
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.serving = serving
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(ApiError, api_error_response)
    app.add_exception_handler(Busy, busy_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    app.add_exception_handler(StarletteHTTPException, http_error_response)
    app.add_exception_handler(Exception, internal_error_response)
    if token is not None:
        app.add_middleware(BearerToken, token=token)
    if loopback_only:
        app.add_middleware(LoopbackHost)
    app.add_middleware(SecurityHeaders)  # outside the refusals above, so they carry the headers too
    if access_log is not None:
        app.add_middleware(AccessLog, stream=access_log)  # outermost: every request is logged, refused or not
    return app


def start_workers(engines: Sequence[Engine], places: int) -> dict[str, InterpreterWorker]:
    """One worker per bundle, named after its directory; two bundles of one name would be ambiguous."""
    workers: dict[str, InterpreterWorker] = {}
    for engine in engines:
        name = engine.bundle.name
        if name in workers:
            for started in workers.values():
                started.close()
            raise BrainEdgeError(
                f"{engine.bundle.directory}: a bundle named {name!r} is already loaded; "
                "bundles are told apart by their folder names"
            )
        workers[name] = InterpreterWorker(name, engine, places)
    if not workers:
        raise BrainEdgeError("no bundle to serve: give --bundle DIR")
    return workers


def index_page() -> str:
    """The page, with the runtime's own words for the answers it must not read as a diagnosis."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    for placeholder, words in (("{{UNCERTAIN}}", UNCERTAIN), ("{{NOT_RECOGNISED}}", NOT_RECOGNISED)):
        page = page.replace(placeholder, html.escape(words))
    return page


def serving_of(request: Request) -> Serving:
    return request.app.state.serving


router = APIRouter()


@router.get("/", include_in_schema=False)
async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(serving_of(request).index_page)


@router.get("/facts", include_in_schema=False)
async def facts_page() -> HTMLResponse:
    return HTMLResponse((STATIC / "facts.html").read_text(encoding="utf-8"))


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    """Browsers ask for it (also beside /openapi.json); the pages link the same file."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/healthz", summary="The server is up; the names of its bundles")
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "bundles": list(serving_of(request).workers)}


@router.get("/v1/bundles", summary="Each loaded bundle's facts, from its metadata")
async def bundles(request: Request) -> list[dict[str, Any]]:
    return [bundle_facts(worker) for worker in serving_of(request).workers.values()]


@router.post(
    "/v1/classify",
    summary="Classify one image",
    description="The record `brainedge-classify --format json` prints, plus `bundle`; with `explain=true`, "
    "also `overlay`: a PNG data URL of the class-activation map over the image.",
    openapi_extra={"requestBody": CLASSIFY_BODY},
    responses=ERRORS,
)
async def classify(
    request: Request,
    # FastAPI evaluates these annotations at run time: Python 3.9 (Raspberry Pi OS Bullseye) has no `str | None`
    bundle: Optional[str] = Query(None, description="a loaded bundle's name (default: the first one)"),  # noqa: UP045
    top_k: int = Query(3, description="ranked classes in the answer (at least 1)"),
    explain: bool = Query(False, description="also draw where the model looked (bundles with a one-layer head)"),
) -> JSONResponse:
    check_query(request)
    serving = serving_of(request)
    worker = serving.worker(bundle)
    check_options(worker, top_k, explain)
    with worker.place():  # before the body is read: a busy server refuses at once (503)
        prepared, source = await prepared_upload(request, serving, worker, explain)
        prediction = await answer(worker, prepared, source, top_k, explain)
        record = {**prediction.record(source), "bundle": worker.name}
        if explain:
            record["overlay"] = await run_in_threadpool(overlay_url, prepared, prediction, source)
    return JSONResponse(record)


def check_query(request: Request) -> None:
    """Each parameter at most once, and no other: a misspelt or repeated one would be answered with defaults."""
    names = [name for name, _ in request.query_params.multi_items()]
    for name in names:
        if name not in CLASSIFY_QUERY:
            raise ApiError(422, f"unknown query parameter {name!r}: /v1/classify takes {', '.join(CLASSIFY_QUERY)}")
        if names.count(name) > 1:
            raise ApiError(422, f"{name}: given {names.count(name)} times; give it once")


def check_options(worker: InterpreterWorker, top_k: int, explain: bool) -> None:
    if top_k < 1:
        raise ApiError(422, f"top_k must be at least 1, got {top_k}")
    if explain and not worker.draws_maps:
        raise ApiError(
            422,
            f"explain: bundle {worker.name} cannot draw where it looked "
            "(class-activation maps need a head of one dense layer); ask without explain",
        )


async def receive_upload(request: Request, serving: Serving) -> Upload:
    try:
        with anyio.fail_after(serving.upload_seconds):
            return await read_upload(request, serving.max_upload_bytes)
    except TimeoutError:
        late = f"the image took longer than {serving.upload_seconds:g} s to arrive; send it again"
        raise ApiError(408, late) from None


async def prepared_upload(
    request: Request, serving: Serving, worker: InterpreterWorker, explain: bool
) -> tuple[Prepared, str]:
    """The request's image, ready for the model, and its source; the uploaded bytes are let go on return.

    Decoding waits for one of the server's ``decoders``: the images decoded at once stay few, however
    many requests the bundles hold.
    """
    upload = await receive_upload(request, serving)
    source, handed = upload.source, [upload]
    del upload
    step = (worker, handed, explain, serving.max_pixels)
    prepared = await anyio.to_thread.run_sync(prepare, *step, limiter=serving.decoders)
    return prepared, source


def prepare(worker: InterpreterWorker, handed: list[Upload], explain: bool, max_pixels: int) -> Prepared:
    """Decode and preprocess; after a large image, the memory its decoding took is handed back to the system.

    The upload comes in a list emptied here: an idle worker thread keeps its last call's arguments until
    its next call, which would keep the uploaded bytes alive while the request waits for the interpreter.
    """
    prepared = decode_and_preprocess(worker, handed.pop(), explain, max_pixels)
    if prepared.size[0] * prepared.size[1] > RELEASE_AFTER_PIXELS:
        release_freed_memory()
    return prepared


def decode_and_preprocess(worker: InterpreterWorker, upload: Upload, explain: bool, max_pixels: int) -> Prepared:
    """``Engine.prepare`` with the server's pixel limit, keeping of the decoded image only what an
    overlay is drawn on; a file that is no image is 415, one of too many pixels 413."""
    try:
        prepared = worker.engine.prepare(upload.data, keep_pixels=explain, max_pixels=max_pixels)
    except BrainEdgeError as error:
        message = str(error).replace("<bytes>", upload.source, 1)
        raise ApiError(413 if "decompression bomb" in message else 415, message) from None
    return dataclasses.replace(prepared, pixels=display_copy(prepared.pixels)) if explain else prepared


def release_freed_memory() -> None:
    """glibc keeps what a large decode freed in its per-thread arenas, so the server's memory would stay at its
    peak; ``malloc_trim`` gives it back (elsewhere than glibc: nothing to do)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None


def display_copy(pixels: np.ndarray) -> np.ndarray:
    """The decoded image at the size ``overlay`` draws it (at most LONG_SIDE_AT_MOST px on the long side,
    by explain's own resize), so a large scan's full pixels need not wait for the interpreter; the overlay
    drawn on it is the one drawn on the full image."""
    if max(pixels.shape[:2]) <= LONG_SIDE_AT_MOST:
        return pixels
    if pixels.shape[2] == 1:  # Pillow resizes one gray plane exactly as each of three equal ones
        return display_size(pixels[..., 0])[..., None]
    return display_size(pixels)


async def answer(worker: InterpreterWorker, prepared: Prepared, source: str, top_k: int, explain: bool) -> Prediction:
    """The interpreter's answer, awaited without holding up the other requests."""
    try:
        return await asyncio.wrap_future(worker.answer(prepared, top_k, explain))
    except BrainEdgeError as error:  # the model's output, e.g. not finite: no answer for this image
        raise ApiError(500, f"{source}: {error}") from None


def overlay_url(prepared: Prepared, prediction: Prediction, source: str) -> str:
    """The class-activation map over the image, captioned as brainedge-classify --explain draws it, as a data URL."""
    said = caption(prediction)
    png = png_bytes(overlay(prepared.pixels, prediction.class_map, said), source=source, answer=said)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


async def api_error_response(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


async def busy_response(request: Request, busy: Busy) -> JSONResponse:
    message = f"the server is busy ({busy}); try again in a moment"
    return JSONResponse({"error": message}, status_code=503, headers={"Retry-After": "1"})


async def validation_error_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's list of problems as one line: the parameter, what was wrong and what was sent."""
    first = error.errors()[0]
    name = first["loc"][-1] if first.get("loc") else "request"
    message = f"{name}: {first['msg'][:1].lower()}{first['msg'][1:]}"
    if "input" in first and first["input"] is not None:
        message += f" (got {first['input']!r})"
    return JSONResponse({"error": message}, status_code=422)


async def http_error_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    message = f"{str(error.detail).lower()}: {request.method} {request.url.path}"
    return JSONResponse({"error": message}, status_code=error.status_code, headers=error.headers)


async def internal_error_response(request: Request, error: Exception) -> JSONResponse:
    """A fault of the server, not of the request: one line for the client, the traceback in the server's log."""
    message = "the server failed on this request (its log says why)"
    return JSONResponse({"error": message}, status_code=500, headers=SECURITY_HEADERS)  # sent past the middleware


class SecurityHeaders:
    """CSP without inline script, no sniffing, no framing, no referrer, and nothing cached, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LoopbackHost:
    """Bound to loopback, answer only requests addressed to this machine: a web page whose name an attacker
    points at 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused (400).

    A request without Host (HTTP/1.0) is let through: a browser always sends one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope.get("headers", [])).get(b"host") if scope["type"] == "http" else None
        if host is not None and not host_is_loopback(host.decode("latin-1")):
            shown = host.decode("latin-1")[:100]
            message = (
                f"Host {shown!r} is not this machine: this server is bound to loopback and answers only "
                "requests addressed to localhost or a loopback address"
            )
            await JSONResponse({"error": message}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class AccessLog:
    """One line a request: client, method, path (never the query string), status and milliseconds."""

    def __init__(self, app: ASGIApp, stream: TextIO) -> None:
        self.app = app
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what Starlette answers when an exception escapes before a response starts

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            milliseconds = (time.perf_counter() - started) * 1000
            print(f"{request_line(scope)} {status} {milliseconds:.1f} ms", file=self.stream, flush=True)


def request_line(scope: Scope) -> str:
    """Client, method and path as sent (percent-escapes kept, so a path cannot break the log's lines)."""
    client = scope.get("client")
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    shown = path.decode("ascii", "backslashreplace")[:200]
    return f"{client[0] if client else '-'} {scope['method']} {shown}"


class BearerToken:
    """``Authorization: Bearer TOKEN`` on every request but the page's (``PUBLIC_PATHS``, ``/static/``)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_public(scope["path"]):
            refusal = self.refusal(dict(scope["headers"]).get(b"authorization"))
            if refusal is not None:
                response = JSONResponse({"error": refusal}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, authorization: bytes | None) -> str | None:
        scheme, _, given = (authorization or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            return (
                "this server needs its access token: type it into the page, or send 'Authorization: Bearer TOKEN' "
                "(brainedge-serve printed it when it started)"
            )
        if not secrets.compare_digest(given.strip(), self.token):
            return "wrong access token"
        return None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/static/")
