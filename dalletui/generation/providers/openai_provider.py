"""The OpenAI Images API through the official SDK (``openai`` is imported lazily: it is slow).

Retries: the SDK already retries 408/409/429/5xx and connection errors with backoff, honouring
``Retry-After`` / ``retry-after-ms`` (it refuses waits over 60 s). We set ``max_retries`` (default
3) and add no loop of our own on top, so the total wait stays bounded and each request keeps one
idempotency key. Content-policy refusals are 400s, which the SDK never retries.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import logging
from typing import TYPE_CHECKING, Any

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.types import (
    GenerationRequest,
    PartialCallback,
    ProviderImage,
    ProviderResult,
    Usage,
)

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRIES = 3
POLICY_CODES = {"moderation_blocked", "content_policy_violation"}


class OpenAIProvider:
    """Generates images with ``AsyncOpenAI.images.generate``."""

    name = "openai"
    offline = False

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if not api_key:
            raise GenerationError(
                ErrorKind.AUTHENTICATION,
                "No OpenAI API key: set OPENAI_API_KEY, or use the offline provider "
                "(--provider offline).",
            )
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "organization": organization,
            "project": project,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        self._client: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIProvider(base_url={self._options['base_url']!r})"

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(**self._options)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def generate(
        self, request: GenerationRequest, on_partial: PartialCallback | None = None
    ) -> ProviderResult:
        import openai

        params = self._params(request)
        try:
            if request.partial_images > 0:
                return await self._stream(params, request, on_partial)
            response = await self._get_client().images.generate(**params)
        except openai.APIError as exc:
            raise map_api_error(exc, request.model) from exc
        images = [
            ProviderImage(
                data=_decode(item.b64_json),
                output_format=response.output_format or request.output_format,
                revised_prompt=getattr(item, "revised_prompt", None),
            )
            for item in response.data or []
            if item.b64_json
        ]
        if not images:
            raise GenerationError(ErrorKind.SERVER, "The API answered without any image data.")
        return ProviderResult(images=images, usage=usage_from(response.usage))

    @staticmethod
    def _params(request: GenerationRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "prompt": request.prompt,
            "model": request.model,
            "n": request.n,
            "size": request.size,
            "quality": request.quality,
            "output_format": request.output_format,
            "background": request.background,
            "moderation": request.moderation,
        }
        if request.output_compression is not None:
            params["output_compression"] = request.output_compression
        return params

    async def _stream(
        self,
        params: dict[str, Any],
        request: GenerationRequest,
        on_partial: PartialCallback | None,
    ) -> ProviderResult:
        stream = await self._get_client().images.generate(
            **params, stream=True, partial_images=request.partial_images
        )
        images: list[ProviderImage] = []
        usage: Usage | None = None
        async for event in stream:
            kind = getattr(event, "type", "")
            if kind == "image_generation.partial_image" and on_partial is not None:
                outcome = on_partial(event.partial_image_index, _decode(event.b64_json))
                if inspect.isawaitable(outcome):
                    await outcome
            elif kind == "image_generation.completed":
                images.append(
                    ProviderImage(
                        _decode(event.b64_json), event.output_format or request.output_format
                    )
                )
                usage = _add_usage(usage, usage_from(event.usage))
        if not images:
            # A server that answers plain JSON to stream=true makes the SDK yield nothing.
            raise GenerationError(
                ErrorKind.SERVER,
                "The image stream ended before a finished image arrived; try again without "
                "partial previews.",
            )
        return ProviderResult(images=images, usage=usage)


def _decode(b64: str | None) -> bytes:
    try:
        return base64.b64decode(b64 or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GenerationError(
            ErrorKind.SERVER, "The API sent image data that is not base64."
        ) from exc


def usage_from(raw: Any) -> Usage | None:
    """Our ``Usage`` from the SDK's usage object (non-streaming or completed event)."""
    if raw is None:
        return None
    input_details = getattr(raw, "input_tokens_details", None)
    output_details = getattr(raw, "output_tokens_details", None)
    input_text = getattr(input_details, "text_tokens", None)
    input_image = getattr(input_details, "image_tokens", 0) or 0
    if input_text is None:
        input_text = max((raw.input_tokens or 0) - input_image, 0)
    if output_details is not None:
        output_image = output_details.image_tokens or 0
        output_text = getattr(output_details, "text_tokens", 0) or 0
    else:
        output_image, output_text = raw.output_tokens or 0, 0
    return Usage(
        input_text_tokens=input_text,
        input_image_tokens=input_image,
        output_image_tokens=output_image,
        output_text_tokens=output_text,
    )


def _add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    return Usage(
        a.input_text_tokens + b.input_text_tokens,
        a.input_image_tokens + b.input_image_tokens,
        a.output_image_tokens + b.output_image_tokens,
        a.output_text_tokens + b.output_text_tokens,
    )


def map_api_error(exc: Exception, model: str) -> GenerationError:
    """One user-facing sentence per class of SDK error."""
    import openai

    status = getattr(exc, "status_code", None)
    detail = _api_message(exc)
    code = getattr(exc, "code", None)
    if isinstance(exc, openai.APITimeoutError):
        return GenerationError(
            ErrorKind.TIMEOUT, "The API did not answer in time; try again or lower the quality."
        )
    if isinstance(exc, openai.APIConnectionError):
        return GenerationError(
            ErrorKind.CONNECTION,
            "Cannot reach the OpenAI API; check the network (or OPENAI_BASE_URL) and try again.",
        )
    if isinstance(exc, openai.AuthenticationError):
        return GenerationError(
            ErrorKind.AUTHENTICATION,
            "The API key was rejected (401); check OPENAI_API_KEY.",
            status_code=status,
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return GenerationError(
            ErrorKind.PERMISSION,
            f"Your API key may not use {model} (403): {detail} "
            "GPT image models may need a verified organisation.",
            status_code=status,
        )
    if isinstance(exc, openai.NotFoundError):
        return GenerationError(
            ErrorKind.NOT_FOUND,
            f"The API does not know model {model} (404): {detail}",
            status_code=status,
        )
    if isinstance(exc, openai.RateLimitError):
        if code == "insufficient_quota":
            return GenerationError(
                ErrorKind.RATE_LIMIT,
                f"Your OpenAI account is out of credit or over its quota: {detail}",
                status_code=status,
            )
        return GenerationError(
            ErrorKind.RATE_LIMIT,
            f"Rate limited by the API even after retrying; wait a minute and try again. ({detail})",
            status_code=status,
        )
    if isinstance(exc, openai.BadRequestError):
        if code in POLICY_CODES or "safety system" in detail.lower():
            return GenerationError(
                ErrorKind.CONTENT_POLICY,
                f"The request was refused by the content policy: {detail}",
                status_code=status,
            )
        return GenerationError(
            ErrorKind.BAD_REQUEST, f"The API refused the request: {detail}", status_code=status
        )
    if isinstance(exc, openai.APIStatusError) and (status or 0) >= 500:
        return GenerationError(
            ErrorKind.SERVER,
            f"The API had a server error ({status}) even after retrying; try again later.",
            status_code=status,
        )
    return GenerationError(ErrorKind.UNKNOWN, f"The API failed: {detail}", status_code=status)


def _api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", None) or exc)
