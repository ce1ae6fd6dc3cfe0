"""brainedge-serve's HTTP API, in process: every endpoint, every refusal, the token, the limits and the queue.

Requests go through httpx's ASGI transport into the app itself (no socket); the size-cap tests drive
the app's ASGI interface by hand, to see how much of a body it reads before refusing it.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import gc
import io
import json
import os
import re
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from make_tiny_bundles import CLASSES
from PIL import Image
from test_runtime_cli import png_claiming

from brainedge.edge_runtime import cli
from brainedge.edge_runtime import engine as engine_module
from brainedge.edge_runtime.classifier import NOT_RECOGNISED, UNCERTAIN
from brainedge.edge_runtime.engine import NOT_FINITE, Engine
from brainedge.edge_runtime.explain import LONG_SIDE_AT_MOST, overlay
from brainedge.edge_runtime.serve import app as app_module
from brainedge.edge_runtime.serve.app import SECURITY_HEADERS, STATIC, create_app, display_copy
from brainedge.edge_runtime.serve.uploads import safe_source

TOKEN = "s3cret-token"
SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
MULTIPART = {"Content-Type": "multipart/form-data"}
BOUNDARY_X = {"Content-Type": "multipart/form-data; boundary=x"}


def call(app: Any, method: str, url: str, raise_app_exceptions: bool = True, **options: Any) -> httpx.Response:
    """One request through the app, as a client on this machine would send it."""

    async def send() -> httpx.Response:
        async with client_of(app, raise_app_exceptions) as client:
            return await client.request(method, url, **options)

    return asyncio.run(send())


def client_of(app: Any, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080")


def image_of(bundles: Path, name: str = "red", number: int = 0) -> Path:
    return bundles / "images" / name / f"{number}.png"


def upload(path: Path, filename: str | None = None) -> dict[str, Any]:
    return {"files": {"image": (filename or path.name, path.read_bytes(), "image/png")}}


@contextmanager
def serving(bundles: Path, names: tuple[str, ...] = ("int8_head",), **options: Any) -> Iterator[Any]:
    """The app for these tiny bundles, its interpreter threads stopped at the end."""
    app = create_app([Engine.from_bundle(bundles / name) for name in names], **options)
    try:
        yield app
    finally:
        for worker in app.state.serving.workers.values():
            worker.close()


@pytest.fixture
def app(bundles: Path) -> Iterator[Any]:
    """The head bundle (the default: it has calibration, refusal and maps) and the int8 bundle without a head."""
    with serving(bundles, ("int8_head", "int8")) as app:
        yield app


# --- the endpoints ---------------------------------------------------------------------------------


def test_health_names_the_bundles(app: Any) -> None:
    answer = call(app, "GET", "/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "bundles": ["int8_head", "int8"]}


def test_bundles_are_described_from_their_metadata(app: Any, bundles: Path) -> None:
    head, plain = call(app, "GET", "/v1/bundles").json()
    metadata = Engine.from_bundle(bundles / "int8_head").bundle.metadata
    assert [head["name"], plain["name"]] == ["int8_head", "int8"]
    assert head["class_names"] == plain["class_names"] == CLASSES
    assert head["input"]["height"] == metadata.input.height and head["input"]["dtype"] == "uint8"
    assert head["format"] == "tflite" and head["variant"] == "tflite_int8_ptq"
    assert head["calibration"]["temperature"] == metadata.calibration.temperature
    assert head["out_of_distribution"]["threshold"] == metadata.out_of_distribution.threshold
    assert head["confidence_threshold"] == metadata.confidence_threshold
    assert head["verification"] == metadata.verification
    assert (head["explain"], plain["explain"]) == (True, False)
    assert plain["calibration"] is None and plain["out_of_distribution"] is None


def test_an_upload_gets_the_record_brainedge_classify_prints(
    app: Any, bundles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = image_of(bundles, "green", 1)
    answer = call(app, "POST", "/v1/classify?top_k=2", **upload(image, "scan.png"))
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert cli.main(["--bundle", str(bundles / "int8_head"), "--format", "json", "--top-k", "2", str(image)]) == 0
    printed = json.loads(capsys.readouterr().out)
    timed = ("source", "latency_ms", "timings_ms")
    assert {k: v for k, v in record.items() if k not in timed} == {
        **{k: v for k, v in printed.items() if k not in timed},
        "bundle": "int8_head",
    }
    assert record["source"] == "scan.png" and record["label"] == "green" and record["ood"] is False
    assert set(record["timings_ms"]) == {"decode", "preprocess", "inference"}


def test_raw_bytes_and_a_chosen_bundle(app: Any, bundles: Path) -> None:
    answer = call(app, "POST", "/v1/classify?bundle=int8&top_k=1", content=image_of(bundles, "blue").read_bytes())
    record = answer.json()
    assert answer.status_code == 200 and record["source"] == "upload" and record["bundle"] == "int8"
    assert record["label"] == "blue" and record["ood"] is None and len(record["top_k"]) == 1


def test_explain_adds_the_overlay_as_a_png(app: Any, bundles: Path) -> None:
    record = call(app, "POST", "/v1/classify?explain=true", **upload(image_of(bundles))).json()
    prefix = "data:image/png;base64,"
    assert record["overlay"].startswith(prefix)
    drawn = Image.open(io.BytesIO(base64.b64decode(record["overlay"][len(prefix) :])))
    assert drawn.format == "PNG" and min(drawn.size) >= 256  # drawn as brainedge-classify --explain draws it
    assert drawn.info["Source"] == "0.png" and drawn.info["Answer"].startswith("red ")
    assert "overlay" not in call(app, "POST", "/v1/classify", **upload(image_of(bundles))).json()


def test_the_openapi_schema_is_served_here_and_no_page_loads_a_cdn(app: Any) -> None:
    schema = call(app, "GET", "/openapi.json").json()
    assert {"/healthz", "/v1/bundles", "/v1/classify"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    for swagger in ("/docs", "/redoc"):  # they load their scripts from a CDN
        assert call(app, "GET", swagger).status_code == 404


def test_the_page_has_no_inline_script_nothing_from_elsewhere_and_the_runtime_words(app: Any) -> None:
    page = call(app, "GET", "/").text
    assert UNCERTAIN in page and NOT_RECOGNISED in page
    for name in ("/", "/facts"):
        html = call(app, "GET", name).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file of the server's
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", html)  # nor inline handlers (onclick=...)
    for asset in STATIC.iterdir():
        text = asset.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")  # a name, never fetched
        assert not re.search(r"https?:|(src|href)=[\"']//|url\(\s*[\"']?//|from [\"']//", text), asset.name  # no CDN
        assert call(app, "GET", f"/static/{asset.name}").status_code == 200


def test_every_response_carries_the_security_headers(app: Any, bundles: Path) -> None:
    for answer in (
        call(app, "GET", "/"),
        call(app, "POST", "/v1/classify", **upload(image_of(bundles))),
        call(app, "POST", "/v1/classify?top_k=0", **upload(image_of(bundles))),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"


# --- refusals: a JSON message and the right status -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bundle=nope", "unknown bundle 'nope': this server has int8_head, int8"),
        ("top_k=0", "top_k must be at least 1, got 0"),
        ("top_k=two", "top_k: input should be a valid integer, unable to parse string as an integer (got 'two')"),
        ("explain=perhaps", "explain: input should be a valid boolean, unable to interpret input (got 'perhaps')"),
        ("bundle=int8&explain=true", "explain: bundle int8 cannot draw where it looked"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(app: Any, bundles: Path, query: str, message: str) -> None:
    answer = call(app, "POST", f"/v1/classify?{query}", **upload(image_of(bundles)))
    assert answer.status_code == 422 and answer.json()["error"].startswith(message)


@pytest.mark.parametrize(
    ("request_options", "message"),
    [
        ({}, "no image in the request: send it as the multipart field 'image' or as the raw body"),
        (
            {"files": {"scan": ("scan.png", b"\x89PNG", "image/png")}},
            "no image in the request: send it as the multipart field 'image' or as the raw body",
        ),
        (
            {"content": b"--x\r\nContent-Disposition: form-data; name=image\r\n\r\nabc", "headers": MULTIPART},
            "a multipart/form-data request needs a boundary in its Content-Type",
        ),
        (
            {"content": b"--x\r\nContent-Disposition: form-data; name=image\r\n\r\nabc", "headers": BOUNDARY_X},
            "the multipart body ended before its closing boundary",
        ),
    ],
    ids=["empty body", "no image field", "multipart without a boundary", "multipart cut short"],
)
def test_a_request_without_an_image_is_422(app: Any, request_options: dict[str, Any], message: str) -> None:
    answer = call(app, "POST", "/v1/classify", **request_options)
    assert answer.status_code == 422 and answer.json() == {"error": message}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("topk=1", "unknown query parameter 'topk': /v1/classify takes bundle, top_k, explain"),
        ("bundles=int8", "unknown query parameter 'bundles': /v1/classify takes bundle, top_k, explain"),
        ("bundle=int8&bundle=int8_head", "bundle: given 2 times; give it once"),
        ("top_k=1&top_k=2", "top_k: given 2 times; give it once"),
    ],
)
def test_an_unknown_or_repeated_query_parameter_is_422_not_ignored(
    app: Any, bundles: Path, query: str, message: str
) -> None:
    answer = call(app, "POST", f"/v1/classify?{query}", **upload(image_of(bundles)))
    assert answer.status_code == 422 and answer.json() == {"error": message}


def multipart_body(*parts: tuple[str, str | None, bytes]) -> dict[str, Any]:
    """A multipart/form-data request of (field, file name or None, content) parts, in this order."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--x\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return {"content": body + b"--x--\r\n", "headers": BOUNDARY_X}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["image", "image"], "the multipart field 'image' was sent 2 times: one image a request"),
        (["image", "bundle"], "unknown multipart field 'bundle': send only 'image' (bundle, top_k and explain go in"),
        (["top_k", "image"], "unknown multipart field 'top_k': send only 'image'"),
    ],
)
def test_a_second_image_or_another_multipart_field_is_422_not_ignored(
    app: Any, bundles: Path, fields: list[str], message: str
) -> None:
    image = image_of(bundles).read_bytes()
    parts = [(name, "0.png", image) if name == "image" else (name, None, b"int8") for name in fields]
    answer = call(app, "POST", "/v1/classify", **multipart_body(*parts))
    assert answer.status_code == 422 and answer.json()["error"].startswith(message)


def test_an_empty_file_is_named_as_no_image_like_the_command_line_says(app: Any) -> None:
    answer = call(app, "POST", "/v1/classify", **multipart_body(("image", "empty.jpg", b"")))
    assert answer.status_code == 415 and answer.json() == {"error": "empty.jpg: not an image file Pillow can read"}


def test_a_file_that_is_no_image_is_415_named_by_its_base_name_only(app: Any) -> None:
    answer = call(app, "POST", "/v1/classify", files={"image": ("../../notes.txt", b"shopping list", "text/plain")})
    assert answer.status_code == 415
    assert answer.json() == {"error": "notes.txt: not an image file Pillow can read"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("scan.png", "scan.png"),
        ("/etc/passwd", "passwd"),
        ("C:\\scans\\brain 1.jpg", "brain 1.jpg"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("bad\x00name\n.png", "badname.png"),
        ("x" * 300 + ".png", "x" * 200),
    ],
)
def test_a_client_file_name_becomes_a_printable_base_name(given: str | None, kept: str) -> None:
    assert safe_source(given) == kept


def test_a_decompression_bomb_is_413(app: Any) -> None:
    answer = call(app, "POST", "/v1/classify", files={"image": ("bomb.png", png_claiming(9_000, 9_000), "image/png")})
    assert answer.status_code == 413 and "decompression bomb" in answer.json()["error"]
    assert answer.json()["error"].startswith("bomb.png: ")


def test_an_image_over_the_servers_pixel_limit_is_413_naming_that_limit(bundles: Path) -> None:
    with serving(bundles, max_pixels=1000) as app:
        answer = call(app, "POST", "/v1/classify", **upload(image_of(bundles)))  # 32 x 32 = 1,024 pixels
        assert answer.status_code == 413
        assert answer.json() == {
            "error": "0.png: 32x32 image exceeds the 1,000-pixel limit (refused as a possible decompression bomb)"
        }


def test_unknown_paths_and_methods_are_json_errors(app: Any) -> None:
    assert call(app, "GET", "/v2/classify").json() == {"error": "not found: GET /v2/classify"}
    answer = call(app, "GET", "/v1/classify")
    assert answer.status_code == 405 and answer.json() == {"error": "method not allowed: GET /v1/classify"}


def test_a_model_output_that_is_not_finite_is_500_with_the_runtime_words(
    app: Any, bundles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = app.state.serving.workers["int8_head"].engine
    monkeypatch.setattr(classifier, "model_output", lambda batch: np.full((1, 4, 4, 16), np.nan, np.float32))
    answer = call(app, "POST", "/v1/classify", **upload(image_of(bundles)))
    assert answer.status_code == 500 and answer.json() == {"error": f"0.png: {NOT_FINITE}"}


def test_a_fault_of_the_server_is_a_json_500_too(app: Any, bundles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.serving.workers["int8_head"].engine, "answer", broken)
    answer = call(app, "POST", "/v1/classify", raise_app_exceptions=False, **upload(image_of(bundles)))
    assert answer.status_code == 500 and answer.json() == {
        "error": "the server failed on this request (its log says why)"
    }
    assert answer.headers["Cache-Control"] == "no-store"


# --- the upload cap, enforced while reading --------------------------------------------------------


async def raw_request(
    app: Any,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes],
    complete: bool = True,
    query_string: bytes = b"",
) -> tuple[int, dict, int]:
    """POST /v1/classify straight into the ASGI app: (status, JSON answer, body chunks the app asked for).

    ``complete=False``: a client that sends the chunks, says more will come, and then sends nothing.
    """
    asked = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked < len(chunks):
            asked += 1
            return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks) or not complete}
        if not complete:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/classify",
        "raw_path": b"/v1/classify",
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    return answer["status"], json.loads(answer["body"]), asked


def test_a_body_over_the_cap_is_refused_as_it_streams_in(bundles: Path) -> None:
    """No Content-Length (chunked): the app stops asking for chunks once the cap is passed."""
    with serving(bundles, max_upload_mb=0.01) as app:  # 10,485 bytes
        status, answer, asked = asyncio.run(raw_request(app, [], [b"\0" * 1000] * 50))
        assert status == 413 and answer == {"error": "the upload is larger than this server's limit of 0.01 MB"}
        assert asked == 11  # the 11th chunk passed the cap; 39 were never read


def test_a_declared_length_over_the_cap_is_refused_before_reading(bundles: Path) -> None:
    with serving(bundles, max_upload_mb=0.01) as app:
        status, _, asked = asyncio.run(raw_request(app, [(b"content-length", b"20000")], [b"\0" * 20000]))
        assert status == 413 and asked == 0


def test_an_image_under_the_cap_is_answered(bundles: Path) -> None:
    image = image_of(bundles).read_bytes()
    with serving(bundles, max_upload_mb=len(image) / 2**20) as app:
        status, answer, _ = asyncio.run(raw_request(app, [], [image[:100], image[100:]]))
        assert status == 200 and answer["label"] == "red"


def test_a_client_too_slow_to_send_its_image_gets_408(bundles: Path) -> None:
    with serving(bundles, upload_seconds=0.2) as app:
        status, answer, _ = asyncio.run(raw_request(app, [], [b"\x89PNG"], complete=False))
        assert status == 408 and "took longer than 0.2 s" in answer["error"]


def test_uploads_are_never_written_to_disk(app: Any, bundles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a file was opened for writing: {args}")

    real_open, real_os_open = builtins.open, os.open

    def reading_only(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return refuse(file, mode) if set(mode) & set("wax+") else real_open(file, mode, *args, **kwargs)

    def os_reading_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        return refuse(path) if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) else real_os_open(path, flags, *args)

    monkeypatch.setattr(builtins, "open", reading_only)
    monkeypatch.setattr(os, "open", os_reading_only)
    big = np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), np.uint8)  # a 6 MB PNG: past any spooling
    stream = io.BytesIO()
    Image.fromarray(big).save(stream, format="PNG", compress_level=0)
    answer = call(
        app, "POST", "/v1/classify?explain=true", files={"image": ("big.png", stream.getvalue(), "image/png")}
    )
    assert answer.status_code == 200, answer.text


# --- the queue: one interpreter thread per bundle, a bounded number of places -----------------------


class HeldInterpreter:
    """Wraps an engine's answer so a test can hold the interpreter busy, and records which thread ran it."""

    def __init__(self, engine: Engine) -> None:
        self.answer = engine.answer
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: set[int] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.add(threading.get_ident())
        self.entered.set()
        assert self.release.wait(30), "the test never released the interpreter"
        return self.answer(*args, **kwargs)


def test_a_full_queue_answers_503_at_once_and_frees_its_place(bundles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(bundles, places=1) as app:
        held = HeldInterpreter(app.state.serving.workers["int8_head"].engine)
        monkeypatch.setattr(app.state.serving.workers["int8_head"].engine, "answer", held)
        image = upload(image_of(bundles))

        async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            async with client_of(app) as client:
                first = asyncio.ensure_future(client.post("/v1/classify", **image))
                assert await asyncio.to_thread(
                    held.entered.wait, 30
                )  # the only place is taken, its image in the interpreter
                refused = await client.post("/v1/classify", **image)
                held.release.set()
                answered = await first
                return refused, answered, await client.post("/v1/classify", **image)

        refused, answered, after = asyncio.run(scenario())
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"].startswith("the server is busy (1 image(s) already in hand for int8_head)")
        assert answered.status_code == 200 and after.status_code == 200


def test_one_thread_runs_a_bundle_interpreter_however_many_requests(
    bundles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(bundles, places=8) as app:
        held = HeldInterpreter(app.state.serving.workers["int8_head"].engine)
        held.release.set()
        monkeypatch.setattr(app.state.serving.workers["int8_head"].engine, "answer", held)

        async def many() -> list[httpx.Response]:
            async with client_of(app) as client:
                requests = [client.post("/v1/classify", **upload(image_of(bundles, name))) for name in CLASSES * 2]
                return await asyncio.gather(*requests)

        answers = asyncio.run(many())
        assert [answer.json()["label"] for answer in answers] == CLASSES * 2
        assert len(held.threads) == 1 and threading.get_ident() not in held.threads


# --- memory: few images decoded at once, and a waiting request holds little --------------------------


class HeldDecoder:
    """Wraps the server's decoding: counts the decodes in progress and holds each until released."""

    def __init__(self, decode: Any) -> None:
        self.decode = decode
        self.lock = threading.Condition()
        self.inside = 0
        self.most_inside = 0
        self.release = threading.Event()

    def __call__(self, *args: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.lock.notify_all()
        try:
            assert self.release.wait(30), "the test never released the decoders"
            return self.decode(*args)
        finally:
            with self.lock:
                self.inside -= 1


def test_the_whole_server_decodes_at_most_its_decoders_images_at_once(
    bundles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine uploads to three bundles, two decoders: two images decoded, the other seven wait (no thread each)."""
    with serving(bundles, ("int8_head", "int8", "float32_head"), decoders=2) as app:
        held = HeldDecoder(engine_module.decode_pixels)
        monkeypatch.setattr(engine_module, "decode_pixels", held)
        decoders = app.state.serving.decoders

        async def scenario() -> list[httpx.Response]:
            async with client_of(app) as client:
                requests = [
                    asyncio.ensure_future(client.post(f"/v1/classify?bundle={name}", **upload(image_of(bundles))))
                    for name in ("int8_head", "int8", "float32_head") * 3
                ]
                for _ in range(3000):  # until every request is decoding or waiting to (30 s at most)
                    if held.inside + decoders.statistics().tasks_waiting == len(requests):
                        break
                    await asyncio.sleep(0.01)
                held.release.set()
                return await asyncio.gather(*requests)

        answers = asyncio.run(scenario())
        assert held.most_inside == 2
        assert [answer.status_code for answer in answers] == [200] * 9


@pytest.mark.parametrize("explain", [False, True])
def test_a_request_waiting_for_the_interpreter_holds_neither_its_upload_nor_its_full_image(
    bundles: Path, monkeypatch: pytest.MonkeyPatch, explain: bool
) -> None:
    """A 3000 x 2000 scan (18 MB uploaded, 18 MB decoded) waits for the interpreter: what is still allocated
    is its input tensor and, for the overlay, a copy of at most 1024 px on the long side (2 MB), no more."""
    scan = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), np.uint8)
    stream = io.BytesIO()
    Image.fromarray(scan).save(stream, format="PNG", compress_level=0)
    chunks = [stream.getvalue()[start : start + 2**20] for start in range(0, len(stream.getvalue()), 2**20)]
    held_bytes: list[int] = []
    with serving(bundles, max_upload_mb=40) as app:
        classifier = app.state.serving.workers["int8_head"].engine
        real_answer = classifier.answer

        def measured(prepared: Any, *args: Any) -> Any:
            held_bytes.append(tracemalloc.get_traced_memory()[0] - before)
            assert prepared.pixels.nbytes <= (3 * 1024 * 683 if explain else 0)
            return real_answer(prepared, *args)

        monkeypatch.setattr(classifier, "answer", measured)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        try:
            query = b"explain=true" if explain else b""
            status, answer, _ = asyncio.run(raw_request(app, [], chunks, query_string=query))
        finally:
            tracemalloc.stop()
    assert status == 200, answer
    assert held_bytes[0] < (3 if explain else 1) * 2**20, held_bytes


def test_memory_freed_by_a_large_decode_is_handed_back_to_the_system(
    bundles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[bool] = []
    monkeypatch.setattr(app_module, "release_freed_memory", lambda: released.append(True))
    monkeypatch.setattr(app_module, "RELEASE_AFTER_PIXELS", 32 * 32 - 1)
    with serving(bundles) as app:
        assert call(app, "POST", "/v1/classify", **upload(image_of(bundles))).status_code == 200  # 32 x 32
        assert released == [True]
        monkeypatch.setattr(app_module, "RELEASE_AFTER_PIXELS", 32 * 32)
        assert call(app, "POST", "/v1/classify", **upload(image_of(bundles))).status_code == 200
        assert released == [True]  # a small image: not worth the time


def test_the_copy_kept_for_the_overlay_draws_the_overlay_drawn_on_the_full_image() -> None:
    """explain draws at most 1024 px on the long side: downscaling at once changes no pixel of the overlay."""
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 255, (1500, 2600, 1), np.uint8)
    colour = rng.integers(0, 255, (3000, 700, 3), np.uint8)
    class_map = rng.random((4, 4)).astype(np.float32)
    for full in (gray, colour):
        kept = display_copy(full)
        assert max(kept.shape[:2]) == LONG_SIDE_AT_MOST and kept.shape[2] == full.shape[2]
        assert overlay(kept, class_map, "red 0.9") == overlay(full, class_map, "red 0.9")
    small = colour[:300, :200]
    assert display_copy(small) is small


# --- bound to loopback: only requests addressed to this machine; the access log ------------------------


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("127.0.0.1:8080", True),
        ("localhost:8080", True),
        ("LOCALHOST", True),
        ("[::1]:8080", True),
        ("app.localhost", True),
        ("attacker.example:8080", False),  # a rebound name: the page's own origin
        ("127.0.0.1.attacker.example", False),
        ("192.168.1.20:8080", False),
        ("[::1", False),
    ],
)
def test_on_loopback_a_host_other_than_this_machine_is_refused(bundles: Path, host: str, answered: bool) -> None:
    with serving(bundles, loopback_only=True) as app:
        for method, path in (("GET", "/"), ("GET", "/v1/bundles")):
            answer = call(app, method, path, headers={"Host": host})
            assert answer.status_code == (200 if answered else 400), (host, path)
            if not answered:
                assert answer.json()["error"].startswith(f"Host {host!r} is not this machine")
                assert answer.headers["Cache-Control"] == "no-store"


def test_off_loopback_any_host_is_answered(app: Any) -> None:
    assert call(app, "GET", "/v1/bundles", headers={"Host": "raspberrypi.local:8080"}).status_code == 200


def test_each_request_is_one_line_of_the_access_log_without_its_query(bundles: Path) -> None:
    log = io.StringIO()
    with serving(bundles, access_log=log) as app:
        call(app, "GET", "/healthz?secret=x")
        call(app, "POST", "/v1/classify?top_k=0", **upload(image_of(bundles)))
        call(app, "GET", "/no%0Awhere")
    lines = log.getvalue().splitlines()
    assert len(lines) == 3, lines
    for line, expected in zip(
        lines, ("127.0.0.1 GET /healthz 200 ", "127.0.0.1 POST /v1/classify 422 ", "127.0.0.1 GET /no%0Awhere 404 ")
    ):
        assert line.startswith(expected) and re.fullmatch(r".* \d+\.\d ms", line), line


# --- the access token -------------------------------------------------------------------------------


@pytest.fixture
def guarded(bundles: Path) -> Iterator[Any]:
    with serving(bundles, token=TOKEN) as app:
        yield app


@pytest.mark.parametrize(
    "path", ["/healthz", "/", "/facts", "/static/app.js", "/static/style.css", "/openapi.json", "/favicon.ico"]
)
def test_the_page_the_health_check_and_the_api_schema_need_no_token(guarded: Any, path: str) -> None:
    assert call(guarded, "GET", path).status_code == 200


def test_the_api_schema_holds_no_secret(bundles: Path) -> None:
    """Served without the token: it must say nothing the token guards (the token, the bundles' names or facts)."""
    with serving(bundles, ("int8_head", "int8"), token=TOKEN) as app:
        schema = call(app, "GET", "/openapi.json").text
    assert TOKEN not in schema and "int8_head" not in schema and str(bundles) not in schema


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "this server needs its access token"),
        ("Bearer", "this server needs its access token"),
        (f"Basic {TOKEN}", "this server needs its access token"),
        ("Bearer wrong", "wrong access token"),
        (f"Bearer {TOKEN}x", "wrong access token"),
    ],
)
@pytest.mark.parametrize("method, path", [("GET", "/v1/bundles"), ("POST", "/v1/classify")])
def test_everything_else_needs_the_token(
    guarded: Any, bundles: Path, authorization: str | None, message: str, method: str, path: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = upload(image_of(bundles)) if method == "POST" else {}
    answer = call(guarded, method, path, headers=headers, **body)
    assert answer.status_code == 401 and answer.json()["error"].startswith(message)
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_right_token_is_let_through(guarded: Any, bundles: Path) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}
    assert call(guarded, "GET", "/v1/bundles", headers=headers).status_code == 200
    answer = call(guarded, "POST", "/v1/classify", headers=headers, **upload(image_of(bundles)))
    assert answer.status_code == 200 and answer.json()["label"] == "red"


def test_verdict_words_of_the_page_are_the_command_line_ones() -> None:
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    assert "main.dataset.uncertain" in script and "main.dataset.notRecognised" in script
    assert UNCERTAIN not in script and NOT_RECOGNISED not in script  # one source: classifier.py, via the page
