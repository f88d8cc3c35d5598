"""A fake OpenAI Images API: a real HTTP server on 127.0.0.1 for tests and benchmarks.

The real ``openai`` SDK talks to it over HTTP (``base_url=server.base_url``); nothing is
mocked. The wire format follows openai 3.x: ``ImagesResponse`` JSON for plain requests and
``text/event-stream`` with ``image_generation.partial_image`` / ``image_generation.completed``
events for ``stream: true``.

Usage::

    with FakeOpenAIServer() as server:
        server.script(Fault.rate_limit(retry_after_ms=10), Ok())
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url)
        client.images.generate(prompt="a cat", model="gpt-image-1-mini")
        assert len(server.generation_requests) == 2

``POST /v1/images/edits`` takes the SDK's ``multipart/form-data`` (one ``image`` or several
``image[]`` parts, an optional ``mask``, text fields), checks it as the API does (at most 16
images under 50 MB each, declared ``image/png`` / ``image/jpeg`` / ``image/webp`` and being one
by their magic bytes; a mask must be a PNG under 4 MB with an alpha channel and the first
image's pixel size) and answers like a generation, streaming ``image_edit.*`` events.
Each ``RecordedRequest`` of an edit holds the text fields as ``body`` and the parts as ``files``
(``images``, ``mask``, ``image_sizes``, ``mask_size``).

Scripted behaviours are consumed one per image request (``POST /v1/images/generations`` or
``POST /v1/images/edits``), in order; when the queue is empty, requests succeed. ``GET
/v1/models`` never consumes the script.

Concurrency and timing, for batch tests: ``in_flight`` / ``max_in_flight`` count the image
requests (generations and edits) being worked on (from the moment the body was read until the
answer starts), each ``RecordedRequest`` has monotonic ``arrived`` / ``answered`` times and
the ``status`` answered, ``wait_until`` / ``wait_in_flight`` / ``wait_requests`` block on a
condition (never a sleep), and ``hold_answers()`` / ``release_answers()`` keep every image
request waiting (counted in flight) until released. ``latency_jitter`` adds a seeded random
0..jitter seconds per answer.

Streaming with ``n > 1`` is rejected with a 400 ``invalid_request_error`` (param ``n``) by
default; with ``allow_stream_n=True`` each image is streamed in turn (its partial images,
then its ``image_generation.completed`` event, whose usage covers that image only).
Edits stream the same way with ``image_edit.partial_image`` / ``image_edit.completed``.
"""

from __future__ import annotations

import base64
import contextlib
import email.policy
import hashlib
import io
import json
import random
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

__all__ = [
    "DEFAULT_MODELS",
    "MODERATION_MESSAGE",
    "Behaviour",
    "FakeOpenAIServer",
    "Fault",
    "Ok",
    "RecordedRequest",
    "UploadedFile",
    "render_image",
]

#: Models listed by ``GET /v1/models`` (and accepted when ``strict_models=True``).
DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare",
    "chatgpt-image-latest",
)

MODERATION_MESSAGE = (
    "Your request was rejected by the safety system. If you believe this is an error, "
    "contact us at help.openai.com and include the request ID."
)
INVALID_KEY_MESSAGE = (
    "Incorrect API key provided: sk-***. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)
PERMISSION_MESSAGE = (
    "Your organization must be verified to use this model. Please go to "
    "https://platform.openai.com/settings/organization/general and click on Verify Organization."
)

_GENERATIONS_PATH = "/v1/images/generations"
_EDITS_PATH = "/v1/images/edits"
_IMAGE_PATHS = (_GENERATIONS_PATH, _EDITS_PATH)
#: Multipart parts of an edit that are files even when sent without a filename.
_FILE_FIELDS = frozenset({"image", "image[]", "mask", "markup"})
MAX_EDIT_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
#: The declared part types the API takes. It goes by the part's ``Content-Type``: a bare
#: ``bytes`` upload, which the SDK sends as ``application/octet-stream``, is refused.
_IMAGE_MIMETYPES = ("image/png", "image/jpeg", "image/webp")
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_COMPLEXITIES = ("low", "medium", "high")
_CONNECTION_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

FaultKind = Literal[
    "http_error",
    "slow",
    "drop_connection",
    "json_instead_of_stream",
    "truncated_stream",
    "cut_after_headers",
    "stream_error",
]


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Ok:
    """Answer the request normally, optionally after ``delay`` seconds."""

    delay: float = 0.0


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour for one request; build it with the class methods."""

    kind: FaultKind
    status: int = 200
    error: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    partials: int | None = None
    abort: bool = False

    # -- HTTP errors with an OpenAI-style body ------------------------------------------

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        should_retry: bool | None = None,
    ) -> Fault:
        """Any status with body ``{"error": {message, type, code, param}}``.

        ``should_retry`` sets the ``x-should-retry`` header the SDK obeys.
        """
        hdrs = dict(headers or {})
        if should_retry is not None:
            hdrs["x-should-retry"] = "true" if should_retry else "false"
        return cls(
            kind="http_error",
            status=status,
            error=_error(message, type, code, param),
            headers=tuple(hdrs.items()),
        )

    @classmethod
    def rate_limit(
        cls,
        *,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        message: str = "Rate limit reached for images per minute. Please try again later.",
        code: str = "rate_limit_exceeded",
    ) -> Fault:
        """429 ``rate_limit_error``; adds ``Retry-After`` / ``retry-after-ms`` when given."""
        return cls.http_error(
            429,
            message,
            type="rate_limit_error",
            code=code,
            headers=_retry_headers(retry_after, retry_after_ms),
        )

    @classmethod
    def rate_limit_storm(
        cls, count: int, *, retry_after: float | None = None, retry_after_ms: int | None = None
    ) -> tuple[Fault, ...]:
        """``count`` 429s in a row: ``server.script(*Fault.rate_limit_storm(10, ...))``."""
        fault = cls.rate_limit(retry_after=retry_after, retry_after_ms=retry_after_ms)
        return (fault,) * count

    @classmethod
    def insufficient_quota(cls) -> Fault:
        """429 ``insufficient_quota`` (billing): same status as a rate limit, other code."""
        return cls.http_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def moderation(cls, message: str = MODERATION_MESSAGE) -> Fault:
        """400 content-policy rejection: code ``moderation_blocked``."""
        return cls.http_error(
            400, message, type="image_generation_user_error", code="moderation_blocked"
        )

    @classmethod
    def bad_request(
        cls, message: str, *, param: str | None = None, code: str | None = None
    ) -> Fault:
        """400 ``invalid_request_error`` with the given message."""
        return cls.http_error(400, message, param=param, code=code)

    @classmethod
    def invalid_api_key(cls, message: str = INVALID_KEY_MESSAGE) -> Fault:
        """401 ``invalid_api_key``."""
        return cls.http_error(401, message, code="invalid_api_key")

    @classmethod
    def permission_denied(cls, message: str = PERMISSION_MESSAGE) -> Fault:
        """403, e.g. organization not verified for the model."""
        return cls.http_error(403, message)

    @classmethod
    def model_not_found(cls, model: str = "gpt-image-1-mini") -> Fault:
        """404 ``model_not_found``."""
        return cls.http_error(404, _model_missing(model), code="model_not_found", param="model")

    @classmethod
    def server_error(
        cls,
        status: int = 500,
        message: str = "The server had an error while processing your request. Sorry about that!",
        *,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
    ) -> Fault:
        """5xx ``server_error``; ``Retry-After`` (seconds) / ``retry-after-ms`` when given.

        ``server_error(503, retry_after=1)`` is an overloaded server naming when to come back.
        """
        return cls.http_error(
            status,
            message,
            type="server_error",
            headers=_retry_headers(retry_after, retry_after_ms),
        )

    # -- transport-level faults ---------------------------------------------------------

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait ``seconds`` and then answer normally (client timeouts fire first)."""
        return cls(kind="slow", delay=seconds)

    @classmethod
    def drop_connection(cls) -> Fault:
        """Read the request, then close the socket without any response."""
        return cls(kind="drop_connection")

    @classmethod
    def json_instead_of_stream(cls) -> Fault:
        """Stream requested, plain ``application/json`` ImagesResponse returned.

        A non-streaming request is answered normally.
        """
        return cls(kind="json_instead_of_stream")

    @classmethod
    def truncated_stream(cls, *, partials: int | None = None, abort: bool = False) -> Fault:
        """Send ``partials`` partial events (default: all requested), never the completed one.

        ``abort=False`` ends the HTTP body cleanly (the SDK iterator just stops);
        ``abort=True`` closes the socket mid-body (the SDK raises ``APIConnectionError``).
        A non-streaming request gets half a JSON body and a closed socket.
        """
        return cls(kind="truncated_stream", partials=partials, abort=abort)

    @classmethod
    def cut_after_headers(cls) -> Fault:
        """Process the request, send a 200's headers (with ``x-request-id``), then cut.

        A plain request announces a JSON ``Content-Length`` and sends no body byte; a stream
        request gets the event-stream headers and no event. The images count as made.
        """
        return cls(kind="cut_after_headers")

    @classmethod
    def stream_error(
        cls,
        message: str = "An error occurred while generating the image.",
        *,
        type: str = "server_error",
        code: str | None = None,
        partials: int = 0,
    ) -> Fault:
        """After ``partials`` partial events, an SSE ``error`` event (SDK raises ``APIError``).

        A non-streaming request gets a 500 with the same error body.
        """
        return cls(
            kind="stream_error", status=500, error=_error(message, type, code), partials=partials
        )


Behaviour = Ok | Fault


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request (an edit's ``image`` / ``image[]`` / ``mask``)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)
    #: ``png`` / ``webp`` / ``jpeg`` from the magic bytes; None for anything else.
    format: str | None
    #: Pixel ``(width, height)`` when Pillow could read the header; None otherwise.
    pixel_size: tuple[int, int] | None
    #: Pillow's mode (``RGBA``, ``RGB``, ``P`` ...) when readable.
    mode: str | None
    #: Whether the picture carries transparency (an alpha band or a transparency entry).
    has_alpha: bool

    @property
    def nbytes(self) -> int:
        """Size of the part's content in bytes."""
        return len(self.data)


@dataclass
class RecordedRequest:
    """One request as received (headers have lower-case names).

    ``body`` is the parsed JSON body, or for ``multipart/form-data`` (edits) a dict of the text
    fields as sent (strings; a repeated name gives a list); the file parts are in ``files``.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    received_at: float
    request_id: str
    behaviour: Behaviour | None = None
    #: ``time.monotonic()`` when the body had been read (the request counts as in flight).
    arrived: float = 0.0
    #: ``time.monotonic()`` when the answer started (or the connection was cut); None before.
    answered: float | None = None
    #: The HTTP status answered; None while unanswered or when the connection was cut.
    status: int | None = None
    #: The file parts of a multipart request, in the order sent.
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header, if any."""
        return self.headers.get("authorization")

    @property
    def prompt(self) -> str | None:
        """The ``prompt`` of a generation's JSON body or an edit's form fields."""
        prompt = self.body.get("prompt") if isinstance(self.body, dict) else None
        return prompt if isinstance(prompt, str) else None

    def sent(self, name: str) -> Any:
        """A JSON body's or an edit form's field ``name`` as sent; None when absent."""
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def images(self) -> list[UploadedFile]:
        """An edit's ``image`` / ``image[]`` parts, in the order sent."""
        return [f for f in self.files if f.field in ("image", "image[]")]

    @property
    def mask(self) -> UploadedFile | None:
        """An edit's ``mask`` part, if one was sent."""
        return next((f for f in self.files if f.field == "mask"), None)

    @property
    def image_sizes(self) -> list[tuple[int, int] | None]:
        """Pixel size of each image part (None where unreadable)."""
        return [f.pixel_size for f in self.images]

    @property
    def mask_size(self) -> tuple[int, int] | None:
        """Pixel size of the mask, None without (a readable) one."""
        mask = self.mask
        return mask.pixel_size if mask is not None else None


# --------------------------------------------------------------------------- helpers


class _BadRequest(Exception):
    """An OpenAI-style error answer raised during validation."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.status = status
        self.error = error


def _error(
    message: str, type: str = "invalid_request_error", code: str | None = None, param: Any = None
) -> dict[str, Any]:
    return {"message": message, "type": type, "param": param, "code": code}


def _invalid(message: str, param: str | None = None, code: str | None = None) -> _BadRequest:
    return _BadRequest(400, _error(message, "invalid_request_error", code, param))


def _model_missing(model: str) -> str:
    return f"The model `{model}` does not exist or you do not have access to it."


def _retry_headers(retry_after: float | None, retry_after_ms: int | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return headers


def _parse_size(size: Any) -> tuple[int, int]:
    """Nominal ``(width, height)``; ``auto`` / missing -> 1024x1024."""
    if size in (None, "auto"):
        return 1024, 1024
    if isinstance(size, str):
        w, sep, h = size.partition("x")
        if sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0:
            return int(w), int(h)
    raise _invalid(
        f"Invalid value: '{size}'. Supported values are 'auto' or 'WIDTHxHEIGHT'.", "size"
    )


def _colour(digest: bytes, offset: int) -> tuple[int, int, int]:
    return digest[offset], digest[offset + 1], digest[offset + 2]


def render_image(
    prompt: str,
    index: int,
    size: tuple[int, int],
    output_format: str = "png",
    *,
    transparent: bool = False,
    progress: float = 1.0,
) -> bytes:
    """A deterministic picture: colours from a hash of (prompt, index); ``progress`` < 1 fades."""
    width, height = size
    digest = hashlib.sha256(f"{prompt}\x00{index}".encode()).digest()
    mode = "RGBA" if transparent and output_format != "jpeg" else "RGB"
    base = (*_colour(digest, 0), 0 if transparent else 255)
    img = Image.new("RGBA", (width, height), base)
    draw = ImageDraw.Draw(img)
    # A band whose position depends on the hash, plus a corner square marking the index.
    band = max(1, height // 4)
    top = digest[6] * max(1, height - band) // 255
    draw.rectangle((0, top, width, top + band), fill=(*_colour(digest, 3), 255))
    mark = max(1, min(width, height) // 8)
    draw.rectangle((0, 0, mark * (index + 1), mark), fill=(*_colour(digest, 9), 255))
    if progress < 1.0:
        grey = Image.new("RGBA", (width, height), (128, 128, 128, base[3]))
        img = Image.blend(grey, img, max(0.0, progress))
    buf = io.BytesIO()
    img.convert(mode).save(buf, format=_FORMATS[output_format])
    return buf.getvalue()


def _render_size(nominal: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """Scale ``nominal`` down (aspect kept) so its longest side is at most ``max_side``."""
    w, h = nominal
    if max_side is None or max(w, h) <= max_side:
        return w, h
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _sniff_format(data: bytes) -> str | None:
    """``png`` / ``jpeg`` / ``webp`` from the magic bytes, as the API checks uploads."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _uploaded(
    name: str, filename: str | None, content_type: str | None, data: bytes
) -> UploadedFile:
    fmt = _sniff_format(data)
    pixel_size: tuple[int, int] | None = None
    mode: str | None = None
    has_alpha = False
    if fmt is not None:
        try:
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                pixel_size, mode = (int(img.width), int(img.height)), img.mode
                has_alpha = "A" in img.getbands() or "transparency" in img.info
        except (OSError, ValueError, SyntaxError):
            pass
    return UploadedFile(name, filename, content_type, data, fmt, pixel_size, mode, has_alpha)


def _parse_multipart(
    content_type: str, raw: bytes
) -> tuple[dict[str, str | list[str]], list[UploadedFile]] | None:
    """Text fields and file parts of a ``multipart/form-data`` body; None if it is not one.

    The stdlib ``email`` parser does the work, fed the request's ``Content-Type`` (with its
    boundary) as a header block in front of the body.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not msg.is_multipart() or msg.defects:
        return None
    fields: dict[str, str | list[str]] = {}
    files: list[UploadedFile] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        filename = part.get_filename()
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return None
        if filename is not None or part.get("content-type") is not None or name in _FILE_FIELDS:
            files.append(_uploaded(name, filename, part.get("content-type"), data))
            continue
        text = data.decode("utf-8", errors="replace")
        existing = fields.get(name)
        if existing is None:
            fields[name] = text
        elif isinstance(existing, list):
            existing.append(text)
        else:
            fields[name] = [existing, text]
    return fields, files


def _check_mimetype(upload: UploadedFile) -> None:
    mimetype = (upload.content_type or "").split(";")[0].strip().lower()
    if mimetype not in _IMAGE_MIMETYPES:
        name = upload.field.removesuffix("[]")
        raise _invalid(
            f"Invalid file '{name}': unsupported mimetype ('{mimetype}'). Supported file formats "
            "are 'image/jpeg', 'image/png', and 'image/webp'.",
            name,
            "unsupported_file_mimetype",
        )


def _form_int(form: dict[str, Any], name: str) -> int | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    raise _invalid(
        f"Invalid type for '{name}': expected an integer, but got a string instead.",
        name,
        "invalid_type",
    )


def _form_bool(form: dict[str, Any], name: str) -> bool:
    value = form.get(name)
    if value is None or value in ("false", "False", "0", ""):
        return False
    if value in ("true", "True", "1"):
        return True
    raise _invalid(
        f"Invalid type for '{name}': expected a boolean, but got a string instead.",
        name,
        "invalid_type",
    )


@dataclass
class _Job:
    """A validated generation or edit request."""

    prompt: str
    model: str | None
    n: int
    nominal: tuple[int, int]
    render: tuple[int, int]
    output_format: str
    background: str
    quality: str
    stream: bool
    partial_images: int
    safety_identifier: str | None
    #: ``low`` / ``medium`` / ``high``, or None when omitted (the model's default).
    complexity: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    #: Prefix of the stream events: ``image_generation`` or ``image_edit``.
    event_prefix: str = "image_generation"
    #: Input image tokens (an edit's reference images; 0 for a generation).
    image_tokens: int = 0
    #: What the pictures are drawn from (defaults to the prompt; an edit adds its inputs).
    seed_text: str | None = None

    @property
    def size(self) -> str:
        return f"{self.nominal[0]}x{self.nominal[1]}"

    @property
    def text_tokens(self) -> int:
        return len(self.prompt.split())


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open sockets so ``stop()`` can cut them."""

    daemon_threads = True
    block_on_close = False
    #: socketserver's default listen backlog is 5: a batch opening 8 connections at once would
    #: have the extra handshakes dropped and retried 0.2-1 s later (no real API does that).
    request_queue_size = 128

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        # Headers and body are written separately: without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK (40 ms on Linux), which no real API does.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; record anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            self.fake._errors.append(traceback.format_exc())

    def cut_all(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Routes every request to the owning ``FakeOpenAIServer``."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._dispatch(self)

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._dispatch(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""


class _Reply:
    """Writes responses on one handler, swallowing errors from vanished clients."""

    def __init__(
        self,
        handler: _Handler,
        request_id: str,
        on_answer: Callable[[int | None], None] | None = None,
    ) -> None:
        self.h = handler
        self.request_id = request_id
        self._on_answer = on_answer

    def answered(self, status: int | None) -> None:
        """Tell the server (once) that the answer starts now: before any byte is written, so a
        client can never send its next request while this one still counts as in flight."""
        on_answer, self._on_answer = self._on_answer, None
        if on_answer is not None:
            on_answer(status)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.answered(status)
        self.h.send_response(status)
        self.h.send_header("x-request-id", self.request_id)
        self.h.send_header("openai-processing-ms", "1")
        for name, value in headers.items():
            self.h.send_header(name, value)
        self.h.end_headers()

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._head(
            status,
            {
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                **(headers or {}),
            },
        )
        self.h.wfile.write(body)

    def error(
        self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self.json(status, {"error": error}, headers)

    def half_json(self, payload: Any) -> None:
        """Announce the full length, send half, then cut the connection."""
        body = json.dumps(payload).encode()
        self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        self.h.wfile.write(body[: len(body) // 2])
        self.drop()

    def headers_then_cut(self, payload: Any, *, stream: bool) -> None:
        """A 200's headers and not one body byte, then a closed socket."""
        if stream:
            self.start_stream()
        else:
            body = json.dumps(payload).encode()
            self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        self.h.wfile.flush()
        self.drop()

    def start_stream(self) -> None:
        self._head(
            200,
            {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked",
            },
        )

    def event(self, event: str, data: dict[str, Any]) -> None:
        """One SSE event (``event:`` + single ``data:`` line + blank line) as one chunk."""
        payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        self.h.wfile.write(f"{len(payload):X}\r\n".encode() + payload + b"\r\n")

    def end_stream(self) -> None:
        self.h.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """Close the socket now, without (the rest of) a response."""
        self.answered(None)
        self.h.close_connection = True
        with contextlib.suppress(OSError):
            self.h.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- the server


class FakeOpenAIServer:
    """Fake OpenAI Images endpoint on ``127.0.0.1:<random port>`` in a background thread.

    Args:
        render_max_side: longest side of the PNGs actually rendered (aspect kept);
            ``None`` renders the full requested size. The reported ``size`` is always nominal.
        output_tokens_per_image: output image tokens reported per image.
        tokens_per_partial: extra output image tokens per streamed partial image.
        input_tokens_per_image: input image tokens reported per image sent to an edit
            (doubled with ``input_fidelity=high``).
        latency: seconds to wait before every successful answer (mutable at runtime).
        latency_jitter: up to this many more seconds per answer, drawn from ``Random(seed)``.
        stream_event_delay: seconds between streamed events (mutable at runtime).
        api_key: when set, any other ``Authorization: Bearer`` gets a 401.
        strict_models: 404 ``model_not_found`` for models not in ``models``.
        allow_stream_n: stream ``n > 1`` images one after another instead of a 400.
        revise_prompts: add ``revised_prompt`` to each returned image.
        seed: seeds the latency jitter.
        noise_images: answer with random-noise images at the nominal size (as large as the
            API's, cached), not small drawings: for benchmarks of real payloads.
        auto_quality: the quality a request for ``auto`` is made at. Like the API, every answer
            (and each stream's events) states what was applied: a concrete ``quality``, the
            ``size`` (``auto`` -> 1024x1024), ``background`` (``auto`` -> opaque) and
            ``output_format``.
    """

    def __init__(
        self,
        *,
        render_max_side: int | None = 64,
        output_tokens_per_image: int = 272,
        tokens_per_partial: int = 100,
        input_tokens_per_image: int = 323,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        stream_event_delay: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
        strict_models: bool = False,
        allow_stream_n: bool = False,
        revise_prompts: bool = False,
        seed: int = 0,
        noise_images: bool = False,
        auto_quality: str = "medium",
    ) -> None:
        self.render_max_side = render_max_side
        self.auto_quality = auto_quality
        self.output_tokens_per_image = output_tokens_per_image
        self.tokens_per_partial = tokens_per_partial
        self.input_tokens_per_image = input_tokens_per_image
        self.latency = latency
        self.stream_event_delay = stream_event_delay
        self.api_key = api_key
        self.models = models
        self.strict_models = strict_models
        self.allow_stream_n = allow_stream_n
        self.revise_prompts = revise_prompts
        self.latency_jitter = latency_jitter
        self.noise_images = noise_images
        self._noise_cache: dict[tuple[tuple[int, int], str, int], str] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._in_flight = 0
        self._max_in_flight = 0
        self._in_flight_log: list[tuple[float, int]] = []
        self._gate = threading.Event()
        self._gate.set()
        self._script: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._counter = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind a free port and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and interrupt pending sleeps."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.cut_all()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (server must be started)."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, ready for ``openai.OpenAI(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self, api_key: str = "sk-test") -> dict[str, str]:
        """Environment variables pointing an app at this server."""
        return {"OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": self.base_url}

    # -- scripting and inspection -------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next image requests, generations or edits (one each, in
        the order they arrive)."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet consumed."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Forget recorded requests, errors, the remaining script and the in-flight peak."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._errors.clear()
            self._max_in_flight = self._in_flight
            self._in_flight_log = [(time.monotonic(), self._in_flight)]

    # -- concurrency and timing ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Image requests (generations and edits) received and not answered yet."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most image requests ever in flight at once (since start or ``reset``)."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight_log(self) -> list[tuple[float, int]]:
        """``(time.monotonic(), requests in flight)`` after each change, oldest first."""
        with self._lock:
            return list(self._in_flight_log)

    def max_in_flight_between(self, start: float, end: float) -> int:
        """The most image requests in flight at once between two monotonic times."""
        at_start = 0
        peak = 0
        for when, count in self.in_flight_log:
            if when <= start:
                at_start = count
            elif when <= end:
                peak = max(peak, count)
            else:
                break
        return max(at_start, peak)

    def wait_until(self, check: Callable[[FakeOpenAIServer], bool], timeout: float = 10.0) -> bool:
        """Block until ``check(server)`` is true (looked at again whenever a request arrives or
        is answered); False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while not check(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._changed:
                self._changed.wait(min(left, 0.05))
        return True

    def wait_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` image requests are in flight."""
        return self.wait_until(lambda server: server.in_flight >= count, timeout)

    def wait_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` generation requests have arrived."""
        return self.wait_until(lambda server: server.generation_count >= count, timeout)

    def hold_answers(self) -> None:
        """From now on image requests wait (in flight) until ``release_answers()``."""
        self._gate.clear()

    def release_answers(self) -> None:
        """Let every held image request (and later ones) go on."""
        self._gate.set()

    @property
    def prompts(self) -> list[str | None]:
        """The prompt of each generation request, in the order they arrived."""
        return [r.prompt for r in self.generation_requests]

    def _count(self, delta: int) -> None:
        with self._changed:
            self._in_flight += delta
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._in_flight_log.append((time.monotonic(), self._in_flight))
            self._changed.notify_all()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def generation_requests(self) -> list[RecordedRequest]:
        """Requests to ``POST /v1/images/generations``."""
        return [r for r in self.requests if r.path == _GENERATIONS_PATH]

    @property
    def generation_count(self) -> int:
        """How many ``POST /v1/images/generations`` arrived (each may have been billed)."""
        return len(self.generation_requests)

    @property
    def edit_requests(self) -> list[RecordedRequest]:
        """Requests to ``POST /v1/images/edits`` (fields in ``body``, parts in ``files``)."""
        return [r for r in self.requests if r.path == _EDITS_PATH]

    @property
    def edit_count(self) -> int:
        """How many ``POST /v1/images/edits`` arrived (each may have been billed)."""
        return len(self.edit_requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (raises if none)."""
        with self._lock:
            if not self._requests:
                raise LookupError("no request received yet")
            return self._requests[-1]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions inside the server (should stay empty)."""
        return list(self._errors)

    # -- request handling ---------------------------------------------------------------

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; return False if the server is shutting down."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    @staticmethod
    def _read_body(h: _Handler) -> bytes:
        """The request body, by ``Content-Length`` or ``Transfer-Encoding: chunked``."""
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _record(self, h: _Handler) -> RecordedRequest:
        raw = self._read_body(h)
        body: Any = None
        files: list[UploadedFile] = []
        multipart = _parse_multipart(h.headers.get("Content-Type") or "", raw) if raw else None
        if multipart is not None:
            body, files = multipart
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        parts = urlsplit(h.path)
        with self._lock:
            self._counter += 1
            rec = RecordedRequest(
                method=h.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in h.headers.items()},
                raw_body=raw,
                body=body,
                received_at=time.time(),
                request_id=f"req_fake_{self._counter:06d}",
                arrived=time.monotonic(),
                files=files,
            )
            self._requests.append(rec)
            self._changed.notify_all()
        return rec

    def _dispatch(self, h: _Handler) -> None:
        reply: _Reply | None = None
        try:
            rec = self._record(h)
            counted = rec.method == "POST" and rec.path in _IMAGE_PATHS
            if counted:
                self._count(+1)
            reply = _Reply(h, rec.request_id, self._on_answer(rec, counted))
            try:
                self._route(h, rec, reply)
            except _BadRequest as exc:
                reply.error(exc.status, exc.error)
        except _CONNECTION_ERRORS:
            h.close_connection = True
        except Exception:
            self._errors.append(traceback.format_exc())
            h.close_connection = True
            with contextlib.suppress(Exception):
                _Reply(h, "req_fake_error").error(
                    500, _error("fake server bug (see server.errors)", "server_error")
                )
        finally:
            if reply is not None:
                reply.answered(None)  # a client that went away before its answer

    def _on_answer(self, rec: RecordedRequest, counted: bool) -> Callable[[int | None], None]:
        def answered(status: int | None) -> None:
            with self._changed:
                rec.answered = time.monotonic()
                rec.status = status
                self._changed.notify_all()
            if counted:
                self._count(-1)

        return answered

    def _route(self, h: _Handler, rec: RecordedRequest, reply: _Reply) -> None:
        authorized = self.api_key is None or rec.authorization == f"Bearer {self.api_key}"
        if rec.method == "POST" and rec.path in _IMAGE_PATHS:
            behaviour: Behaviour = Ok()
            if authorized:  # scripted behaviours go to requests in the order they arrived
                with self._lock:
                    behaviour = self._script.popleft() if self._script else Ok()
                rec.behaviour = behaviour
            # hold_answers(): wait, in flight, until released (a rejected key's request too)
            while not self._gate.wait(0.05):
                if self._stopping.is_set():
                    reply.drop()
                    return
            if authorized:
                self._answer_images(rec, reply, behaviour)
                return
        if not authorized:
            fault = Fault.invalid_api_key()
            reply.error(401, fault.error or {})
            return
        if rec.method == "GET" and rec.path == "/v1/models":
            reply.json(200, {"object": "list", "data": [self._model(m) for m in self.models]})
            return
        if rec.method == "GET" and rec.path.startswith("/v1/models/"):
            model = rec.path.removeprefix("/v1/models/")
            if model in self.models:
                reply.json(200, self._model(model))
            else:
                reply.error(404, _error(_model_missing(model), code="model_not_found"))
            return
        reply.error(404, _error(f"Invalid URL ({rec.method} {rec.path})"))

    def _jitter(self) -> float:
        if self.latency_jitter <= 0:
            return 0.0
        with self._lock:
            return self._random.uniform(0.0, self.latency_jitter)

    @staticmethod
    def _model(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"}

    def _answer_images(self, rec: RecordedRequest, reply: _Reply, behaviour: Behaviour) -> None:
        """Answer a generation or an edit: the scripted fault (shared by both), else images."""
        if isinstance(behaviour, Fault):
            if behaviour.kind == "http_error":
                reply.error(behaviour.status, behaviour.error or {}, dict(behaviour.headers))
                return
            if behaviour.kind == "drop_connection":
                reply.drop()
                return
        if not self._sleep(behaviour.delay):
            reply.drop()
            return
        job = self._validate_edit(rec) if rec.path == _EDITS_PATH else self._validate(rec.body)
        kind = behaviour.kind if isinstance(behaviour, Fault) else "ok"
        wait = self.latency + self._jitter()
        if kind == "ok" and not job.stream:
            # The images are made within the latency (as the API makes them before it
            # answers): large ones do not make an answer later than ``latency``.
            started = time.monotonic()
            payload = self._images_response(job)
            if not self._sleep(wait - (time.monotonic() - started)):
                reply.drop()
                return
            reply.json(200, payload)
            return
        if not self._sleep(wait):
            reply.drop()
            return
        if kind == "cut_after_headers":
            reply.headers_then_cut(self._images_response(job), stream=job.stream)
        elif job.stream and kind != "json_instead_of_stream":
            self._stream(job, reply, behaviour if isinstance(behaviour, Fault) else None)
        elif kind == "truncated_stream":
            reply.half_json(self._images_response(job))
        elif kind == "stream_error" and isinstance(behaviour, Fault):
            reply.error(500, behaviour.error or {})
        else:
            reply.json(200, self._images_response(job))

    def _validate(self, body: Any) -> _Job:
        """Check the request body like the API would; raise ``_BadRequest`` otherwise."""
        if not isinstance(body, dict):
            raise _invalid(
                "We could not parse the JSON body of your request. The OpenAI API expects a "
                "JSON payload."
            )
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise _invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required")
        model = body.get("model")
        if self.strict_models and model not in self.models:
            raise _BadRequest(
                404, _error(_model_missing(str(model)), code="model_not_found", param="model")
            )
        n = body.get("n") if body.get("n") is not None else 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            raise _invalid(f"Invalid value for 'n': {n}. Must be between 1 and 10.", "n")
        stream = bool(body.get("stream"))
        if stream and n > 1 and not self.allow_stream_n:
            raise _invalid("Streaming is only supported with n=1.", "n")
        partials = body.get("partial_images") or 0
        if not isinstance(partials, int) or not 0 <= partials <= 3:
            raise _invalid(
                f"Invalid value for 'partial_images': {partials}. Must be between 0 and 3.",
                "partial_images",
            )
        fmt = body.get("output_format") or "png"
        if fmt not in _FORMATS:
            raise _invalid(
                f"Invalid value: '{fmt}'. The fake server supports 'png', 'jpeg' and 'webp'.",
                "output_format",
            )
        background = body.get("background") or "auto"
        if background == "transparent" and fmt == "jpeg":
            raise _invalid(
                "Transparent background is only supported with output_format 'png' or 'webp'.",
                "background",
            )
        if body.get("response_format") == "url":
            raise _invalid(
                "Unsupported value: 'response_format' 'url' is not supported with this model.",
                "response_format",
            )
        complexity = body.get("complexity")
        if complexity is not None and complexity not in _COMPLEXITIES:
            raise _invalid(
                f"Invalid value: '{complexity}'. Supported values are: 'low', 'medium' and 'high'.",
                "complexity",
                "invalid_value",
            )
        nominal = _parse_size(body.get("size"))
        quality = body.get("quality") or "auto"
        return _Job(
            prompt=prompt,
            model=model,
            n=n,
            nominal=nominal,
            render=_render_size(nominal, self.render_max_side),
            output_format=fmt,
            background="transparent" if background == "transparent" else "opaque",
            quality=self.auto_quality if quality == "auto" else quality,
            stream=stream,
            partial_images=partials,
            safety_identifier=body.get("safety_identifier") or body.get("user") or None,
            complexity=complexity,
        )

    def _validate_edit(self, rec: RecordedRequest) -> _Job:
        """Check an edit's multipart form like the API would; raise ``_BadRequest`` otherwise."""
        form = rec.body
        content_type = rec.headers.get("content-type", "")
        if not isinstance(form, dict) or not content_type.startswith("multipart/form-data"):
            raise _invalid(
                f"Invalid Content-Type header ({content_type}), expected multipart/form-data."
            )
        images = rec.images
        if not images:
            raise _invalid("Missing required parameter: 'image'.", "image", "missing_required")
        if len(images) > MAX_EDIT_IMAGES:
            raise _invalid(
                f"Invalid 'image': array too long. Expected an array with maximum length "
                f"{MAX_EDIT_IMAGES}, but got an array with length {len(images)} instead.",
                "image",
                "array_above_max_length",
            )
        for upload in (*images, *([rec.mask] if rec.mask else [])):
            _check_mimetype(upload)
        for number, image in enumerate(images, 1):
            if image.nbytes >= MAX_IMAGE_BYTES:
                raise _invalid(
                    f"Invalid image file for image {number}: images must be less than 50 MB.",
                    "image",
                    "image_too_large",
                )
            if image.format is None or image.pixel_size is None:
                raise _invalid(
                    f"Invalid image file or mode for image {number}, please check your image "
                    "file. Supported formats are 'png', 'webp' and 'jpg'.",
                    "image",
                    "invalid_image_format",
                )
        mask = rec.mask
        if mask is not None:
            self._check_mask(mask, images[0])
        fidelity = form.get("input_fidelity")
        if fidelity is not None and fidelity not in ("low", "high"):
            raise _invalid(
                f"Invalid value: '{fidelity}'. Supported values are: 'low' and 'high'.",
                "input_fidelity",
                "invalid_value",
            )
        compression = _form_int(form, "output_compression")
        if compression is not None and not 0 <= compression <= 100:
            raise _invalid(
                f"Invalid value for 'output_compression': {compression}. "
                "Must be between 0 and 100.",
                "output_compression",
            )
        typed: dict[str, Any] = {
            name: value for name, value in form.items() if isinstance(value, str) and value
        }
        for name in ("n", "partial_images"):
            typed[name] = _form_int(form, name)
        typed["stream"] = _form_bool(form, "stream")
        job = self._validate(typed)
        job.event_prefix = "image_edit"
        per_image = self.input_tokens_per_image * (2 if fidelity == "high" else 1)
        job.image_tokens = per_image * len(images)
        inputs = hashlib.sha256(b"".join(hashlib.sha256(i.data).digest() for i in images))
        job.seed_text = f"{job.prompt}\x00edit\x00{inputs.hexdigest()}"
        return job

    @staticmethod
    def _check_mask(mask: UploadedFile, first: UploadedFile) -> None:
        """A mask is a PNG under 4 MB, with an alpha channel, as large as the first image."""
        if mask.format != "png" or mask.pixel_size is None:
            raise _invalid(
                "Invalid mask image format - mask must be a valid PNG file.",
                "mask",
                "invalid_image_format",
            )
        if mask.nbytes >= MAX_MASK_BYTES:
            raise _invalid(
                "Invalid mask image: the mask must be less than 4 MB.", "mask", "image_too_large"
            )
        if not mask.has_alpha:
            raise _invalid(
                f"Invalid mask image format - the mask must have an alpha channel, got "
                f"{mask.mode}.",
                "mask",
                "invalid_image_format",
            )
        if mask.pixel_size != first.pixel_size:
            mw, mh = mask.pixel_size
            iw, ih = first.pixel_size or (0, 0)
            raise _invalid(
                f"Invalid mask image format - mask size ({mw}x{mh}) does not match image size "
                f"({iw}x{ih}).",
                "mask",
                "invalid_mask_size",
            )

    def _b64(self, job: _Job, index: int, progress: float = 1.0) -> str:
        if self.noise_images and progress >= 1.0:
            return self._noise(job, index)
        data = render_image(
            job.seed_text or job.prompt,
            index,
            job.render,
            job.output_format,
            transparent=job.background == "transparent",
            progress=progress,
        )
        return base64.b64encode(data).decode("ascii")

    def _noise(self, job: _Job, index: int) -> str:
        """Random pixels at the nominal size: as large as the API's images (about 3 MB of PNG
        at 1024x1024), made once per size, format and index and then reused."""
        key = (job.nominal, job.output_format, index)
        with self._lock:
            cached = self._noise_cache.get(key)
        if cached is None:
            width, height = job.nominal
            pixels = random.Random(f"{key}").randbytes(width * height * 3)
            img = Image.frombytes("RGB", (width, height), pixels)
            buf = io.BytesIO()
            img.save(buf, format=_FORMATS[job.output_format])
            cached = base64.b64encode(buf.getvalue()).decode("ascii")
            with self._lock:
                self._noise_cache[key] = cached
        return cached

    def _usage(self, job: _Job, images: int, partials: int = 0) -> dict[str, Any]:
        out = self.output_tokens_per_image * images + self.tokens_per_partial * partials
        tokens_in = job.text_tokens + job.image_tokens
        return {
            "input_tokens": tokens_in,
            "input_tokens_details": {
                "text_tokens": job.text_tokens,
                "image_tokens": job.image_tokens,
            },
            "output_tokens": out,
            "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
            "total_tokens": tokens_in + out,
        }

    def _images_response(self, job: _Job) -> dict[str, Any]:
        data = []
        for i in range(job.n):
            item: dict[str, Any] = {"b64_json": self._b64(job, i)}
            if self.revise_prompts:
                item["revised_prompt"] = f"{job.prompt} (revised)"
            data.append(item)
        payload: dict[str, Any] = {
            "created": job.created,
            "data": data,
            "usage": self._usage(job, job.n),
            "output_format": job.output_format,
            "size": job.size,
            "quality": job.quality,
            "background": job.background,
        }
        if job.safety_identifier:
            payload["safety_identifier"] = job.safety_identifier
        return payload

    def _event_base(self, job: _Job) -> dict[str, Any]:
        return {
            "background": job.background,
            "created_at": int(time.time()),
            "output_format": job.output_format,
            "quality": job.quality,
            "size": job.size,
        }

    def _stream(self, job: _Job, reply: _Reply, fault: Fault | None) -> None:
        kind = fault.kind if fault else "ok"
        wanted = job.partial_images
        if fault is not None and fault.partials is not None:
            wanted = fault.partials
        reply.start_stream()
        for image in range(job.n):
            for p in range(wanted):
                if not self._sleep(self.stream_event_delay if image or p else 0.0):
                    reply.drop()
                    return
                event = {
                    "type": f"{job.event_prefix}.partial_image",
                    **self._event_base(job),
                    "b64_json": self._b64(job, image, progress=(p + 1) / (wanted + 1)),
                    "partial_image_index": p,
                }
                reply.event(event["type"], event)
            if kind == "truncated_stream":
                if fault is not None and fault.abort:
                    reply.drop()
                else:
                    reply.end_stream()
                return
            if kind == "stream_error" and fault is not None:
                reply.event("error", {"type": "error", "error": fault.error})
                reply.end_stream()
                return
            if not self._sleep(self.stream_event_delay if wanted or image else 0.0):
                reply.drop()
                return
            usage = self._usage(job, 1, wanted)
            del usage["output_tokens_details"]  # not part of the completed event's schema
            completed: dict[str, Any] = {
                "type": f"{job.event_prefix}.completed",
                **self._event_base(job),
                "b64_json": self._b64(job, image),
                "usage": usage,
            }
            if job.safety_identifier:
                completed["safety_identifier"] = job.safety_identifier
            reply.event(completed["type"], completed)
        reply.end_stream()
