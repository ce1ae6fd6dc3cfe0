"""An uploaded image, read from the request with its size capped while reading, kept in memory only.

The body is the image itself, or multipart/form-data with the image in the field ``image`` (what
the page, a browser form and ``curl -F image=@scan.jpg`` send) and nothing else: a second image or
another field is refused, not ignored. A client's file name is kept only as the answer's ``source``,
cut to a printable base name: the server never opens a path a client gives.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from brainedge.edge_runtime.serve.api_error import ApiError

IMAGE_FIELD = "image"
DEFAULT_SOURCE = "upload"
MAX_SOURCE_CHARS = 200
NO_IMAGE = f"no image in the request: send it as the multipart field {IMAGE_FIELD!r} or as the raw body"


@dataclass(frozen=True)
class Upload:
    data: bytes
    source: str
    """What the answer's record calls the image: the upload's base name, or "upload"."""


async def read_upload(request: Request, limit: int) -> Upload:
    """The image of a request whose body may not exceed ``limit`` bytes (413 as soon as it does)."""
    chunks = capped_body(request, limit)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return await multipart_image(chunks, content_type)
    data = b"".join([chunk async for chunk in chunks])
    if not data:
        raise ApiError(422, NO_IMAGE)
    return Upload(data, DEFAULT_SOURCE)


async def capped_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives; refused when its declared length, or what has arrived so far, exceeds ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        yield chunk


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the upload is larger than this server's limit of {limit / 2**20:.3g} MB")


async def multipart_image(chunks: AsyncIterator[bytes], content_type: str) -> Upload:
    """The ``image`` field of a multipart/form-data body, parsed as it streams in; other fields are refused.

    An empty ``image`` file is kept: decoding it says the file is no image, naming it, as brainedge-classify does.
    """
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise ApiError(422, "a multipart/form-data request needs a boundary in its Content-Type")
    field = ImageField()
    parser = MultipartParser(boundary, field.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise ApiError(422, f"the multipart body could not be read ({error})") from None
    if not field.ended:
        raise ApiError(422, "the multipart body ended before its closing boundary")
    if field.chunks is None:
        raise ApiError(422, NO_IMAGE)
    check_fields(field.names)
    return Upload(b"".join(field.chunks), safe_source(field.filename))


def check_fields(names: list[str]) -> None:
    """One ``image`` and nothing else: a part the server would not read is refused, not silently dropped."""
    if names.count(IMAGE_FIELD) > 1:
        raise ApiError(
            422, f"the multipart field {IMAGE_FIELD!r} was sent {names.count(IMAGE_FIELD)} times: one image a request"
        )
    for name in names:
        if name != IMAGE_FIELD:
            raise ApiError(
                422,
                f"unknown multipart field {name!r}: send only {IMAGE_FIELD!r} "
                "(bundle, top_k and explain go in the query: /v1/classify?bundle=NAME)",
            )


class ImageField:
    """Callbacks of python-multipart's streaming parser that keep the first ``image`` part and its file name,
    and the names of all parts."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.chunks: list[bytes] | None = None
        self.filename: str | None = None
        self.ended = False
        self._receiving: list[bytes] | None = None
        self._header = b""
        self._value = b""
        self._disposition = b""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._header.strip().lower() == b"content-disposition":
            self._disposition = self._value
        self._header = self._value = b""

    def _headers_finished(self) -> None:
        options = parse_options_header(self._disposition)[1]
        self.names.append(options.get(b"name", b"").decode("utf-8", "replace"))
        if self.chunks is None and options.get(b"name") == IMAGE_FIELD.encode():
            self.chunks = self._receiving = []
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._receiving is not None:
            self._receiving.append(data[start:end])

    def _part_end(self) -> None:
        self._receiving = None

    def _end(self) -> None:
        self.ended = True


def safe_source(filename: str | None) -> str:
    """A client's file name as an answer's source: its last path component, printable, at most 200 characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(char for char in name if char.isprintable()).strip()[:MAX_SOURCE_CHARS]
    return name if name not in ("", ".", "..") else DEFAULT_SOURCE
