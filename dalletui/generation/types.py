"""Values passed between the generation service and providers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dalletui.storage.models import APPLIED_KEYS

if TYPE_CHECKING:
    from dalletui.generation.retry import WaitCallback


@dataclass(frozen=True)
class GenerationRequest:
    """What the user asked for; validated against the catalogue by ``request.validate_request``."""

    prompt: str
    model: str = "gpt-image-1-mini"
    size: str = "1024x1024"
    quality: str = "auto"
    n: int = 1
    output_format: str = "png"
    background: str = "auto"
    output_compression: int | None = None
    moderation: str = "auto"
    partial_images: int = 0  # > 0 means: stream, reporting this many partial images
    seed: int | None = None  # only the offline provider uses it
    #: Planning effort apart from rendering quality (low/medium/high); None: the model's default.
    complexity: str | None = None

    def params(self) -> dict[str, object]:
        """Parameters as a plain dict (stored as JSON on each generation)."""
        return asdict(self)


#: Content types the Images API takes for inputs, by the format their magic bytes show.
INPUT_MIMETYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def sniff_format(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``webp`` or ``gif`` from the magic bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


@dataclass(frozen=True)
class EditImage:
    """One file sent to an edit: its name (shown in messages, sent as the filename) and bytes.

    The bytes are held in memory, so an automatic retry sends exactly the same upload again.
    """

    name: str
    data: bytes = field(repr=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> EditImage:
        """Read ``path``; an unreadable file is a ``ValidationError`` of one sentence."""
        from dalletui.errors import ValidationError

        path = Path(path)
        try:
            return cls(path.name, path.read_bytes())
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ValidationError(f"Cannot read the image {path}: {reason}.") from exc

    @property
    def format(self) -> str | None:
        """What the magic bytes say the file is (``png``, ``jpeg``, ``webp``, ``gif``)."""
        return sniff_format(self.data)

    @property
    def mimetype(self) -> str:
        """The content type to send: from the bytes, never ``application/octet-stream``
        (which the API refuses). An unknown kind is sent as ``image/png``, after validation
        has already refused it."""
        return INPUT_MIMETYPES.get(self.format or "", "image/png")

    def upload(self) -> tuple[str, bytes, str]:
        """``(filename, bytes, content type)``, as the SDK takes a file."""
        return self.name, self.data, self.mimetype

    def describe(self) -> dict[str, object]:
        """Name, byte count and SHA-256: what is stored about an input (never its bytes)."""
        digest = hashlib.sha256(self.data).hexdigest()
        return {"name": self.name, "bytes": len(self.data), "sha256": digest}


#: What an edit input may be given as: a path, ``(name, bytes)`` or an ``EditImage``.
EditInput = EditImage | str | os.PathLike[str] | tuple[str, bytes]


def as_edit_image(value: EditInput) -> EditImage:
    """An ``EditImage`` from a path, a ``(name, bytes)`` pair or an ``EditImage``."""
    if isinstance(value, EditImage):
        return value
    if isinstance(value, tuple):
        name, data = value
        return EditImage(str(name), bytes(data))
    if isinstance(value, bytes | bytearray):
        raise TypeError("give an edit input a name: (name, bytes) or an EditImage")
    return EditImage.from_path(value)


@dataclass(frozen=True)
class EditRequest(GenerationRequest):
    """An edit: the generate options plus input images (up to 16), a mask or markup, and
    ``input_fidelity``; validated by ``request.validate_edit_request`` before any network call.

    ``images``, ``mask`` and ``markup`` accept paths, ``(name, bytes)`` pairs or ``EditImage``
    values; they are stored as ``EditImage`` (files are read on construction). The mask applies
    to the first image: fully transparent pixels mark where to edit.
    """

    images: tuple[EditImage, ...] = ()
    mask: EditImage | None = None
    markup: EditImage | None = None
    input_fidelity: str | None = None

    def __post_init__(self) -> None:
        images: object = self.images
        if isinstance(images, EditImage | str | os.PathLike) or _is_pair(images):
            images = (images,)  # one input given alone
        assert isinstance(images, Iterable)
        object.__setattr__(self, "images", tuple(as_edit_image(i) for i in images))
        for name in ("mask", "markup"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_edit_image(value))

    def options(self) -> GenerationRequest:
        """The generate options alone (what size, quality, format... the edit asks for)."""
        names = [f.name for f in fields(GenerationRequest)]
        return GenerationRequest(**{name: getattr(self, name) for name in names})

    def params(self) -> dict[str, object]:
        """Parameters as a plain dict, inputs described by name, size and hash (no bytes)."""
        params = self.options().params()
        params["images"] = [image.describe() for image in self.images]
        params["mask"] = None if self.mask is None else self.mask.describe()
        params["markup"] = None if self.markup is None else self.markup.describe()
        params["input_fidelity"] = self.input_fidelity
        return params


def _is_pair(value: object) -> bool:
    """One ``(name, bytes)`` input rather than a tuple of inputs."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], bytes | bytearray)
    )


def edit_images(values: Iterable[EditInput]) -> tuple[EditImage, ...]:
    """Several inputs as ``EditImage`` values (for building an ``EditRequest``)."""
    return tuple(as_edit_image(value) for value in values)


@dataclass(frozen=True)
class Usage:
    """Token counts reported by the API for one request."""

    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_text_tokens
            + self.input_image_tokens
            + self.output_image_tokens
            + self.output_text_tokens
        )


def applied_from(source: object) -> dict[str, str]:
    """The concrete values ``source`` (an SDK response or event) says it applied.

    Absent and ``auto`` values are left out: they tell nothing about what was made.
    """
    applied: dict[str, str] = {}
    for key in APPLIED_KEYS:
        value = getattr(source, key, None)
        if isinstance(value, str) and value and value != "auto":
            applied[key] = value
    return applied


@dataclass(frozen=True)
class ProviderImage:
    """One finished image as bytes in ``output_format``."""

    data: bytes
    output_format: str = "png"
    revised_prompt: str | None = None
    #: What the provider said it applied (``quality`` ``auto`` -> ``high``...): only keys it
    #: gave, never ``auto``. Stored as ``Generation.params["applied"]``.
    applied: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResult:
    """What a provider returns for one request (``n`` images share one usage)."""

    images: list[ProviderImage]
    usage: Usage | None = None
    #: The server's ``x-request-id`` for the request, when there was one.
    request_id: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


#: Called with (partial_index, image bytes) as streamed partial images arrive.
PartialCallback = Callable[[int, bytes], Awaitable[None] | None]


class ImageProvider(Protocol):
    """A source of images: the OpenAI API or the offline drawer."""

    name: str
    offline: bool

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """Make the images; raise ``GenerationError`` on failure.

        ``on_wait`` hears of each wait before an automatic retry (a ``RetryWait``).
        """
        ...

    async def aclose(self) -> None:
        """Release network resources."""
        ...


class EditingProvider(ImageProvider, Protocol):
    """A provider that also edits images (both built-in providers do)."""

    async def edit(
        self,
        request: EditRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """Edit ``request.images``; raise ``ValidationError`` before sending anything the
        catalogue refuses, ``GenerationError`` on failure."""
        ...
