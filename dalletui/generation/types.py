"""Values passed between the generation service and providers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
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

    def params(self) -> dict[str, object]:
        """Parameters as a plain dict (stored as JSON on each generation)."""
        return asdict(self)


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
