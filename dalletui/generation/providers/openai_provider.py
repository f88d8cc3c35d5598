"""The OpenAI Images API through the official SDK (``openai`` is imported lazily: it is slow).

Retries: the SDK's own ``max_retries`` is 0, because it would re-send a POST after a read
timeout or a cut-off answer, when the API may already have made and billed the images (the
client sends no idempotency key). ``dalletui.generation.retry`` decides instead: only what
surely was not processed is retried, visibly (``on_wait``) and within bounds; everything else
is a ``GenerationError`` with ``possibly_billed=True``. Content-policy refusals are 400s.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dalletui.config import SAFETY_ID_IS_KEY
from dalletui.errors import ConfigError, ErrorKind, GenerationError
from dalletui.generation.catalog import ModelCatalog, catalog
from dalletui.generation.request import validate_edit_request
from dalletui.generation.retry import (
    POLICY_CODES,
    QUOTA_CODES,
    RetryBudget,
    RetryPolicy,
    Verdict,
    WaitCallback,
    classify,
    format_seconds,
    is_timeout,
    wait_before_retry,
)
from dalletui.generation.types import (
    EditRequest,
    GenerationRequest,
    PartialCallback,
    ProviderImage,
    ProviderResult,
    Usage,
    applied_from,
)
from dalletui.textsafe import redact_secrets

if TYPE_CHECKING:
    import httpx2
    import openai

log = logging.getLogger(__name__)

#: Seconds to wait for the answer (``Settings.request_timeout`` has the reasoning).
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRIES = 3
#: Connecting takes well under a second when the network works; a longer wait only delays
#: the (safe) retry of a connection that never came up.
CONNECT_TIMEOUT_S = 10.0
MAYBE_BILLED = "the request may have been billed."

# The x-request-id of each response whose headers arrived during the current attempt: the SDK
# drops the response when its body is cut off, and that id is what the API's support needs.
_seen_request_ids: contextvars.ContextVar[list[str | None] | None] = contextvars.ContextVar(
    "dalletui_seen_request_ids", default=None
)


async def _remember_request_id(response: httpx2.Response) -> None:
    seen = _seen_request_ids.get()
    if seen is not None:
        seen.append(response.headers.get("x-request-id"))


class OpenAIProvider:
    """Generates (``images.generate``) and edits (``images.edit``) images under the
    billing-safe retry policy."""

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
        retry_policy: RetryPolicy | None = None,
        model_catalog: ModelCatalog | None = None,
        safety_identifier: str | None = None,
    ) -> None:
        """``retry_policy`` (when given) replaces the default policy with ``max_retries``;
        ``model_catalog`` (default: the packaged one) is what edits are checked against;
        ``safety_identifier`` (the user's stable id for abuse monitoring) goes with every
        request when set, and is refused when it is the API key."""
        if not api_key:
            raise GenerationError(
                ErrorKind.AUTHENTICATION,
                "No OpenAI API key: set OPENAI_API_KEY, or use the offline provider "
                "(--provider offline).",
            )
        if not api_key.isascii() or not api_key.isprintable() or " " in api_key.strip():
            # An HTTP header cannot carry it: say so before anything is sent (or recorded).
            raise GenerationError(
                ErrorKind.AUTHENTICATION,
                "The API key holds characters an API key never has (spaces, non-ASCII or "
                "control characters); check OPENAI_API_KEY.",
            )
        if safety_identifier and safety_identifier.strip() == api_key.strip():
            raise ConfigError(SAFETY_ID_IS_KEY)
        #: Sent as ``safety_identifier``; kept out of ``repr`` like the key is.
        self.safety_identifier = safety_identifier or None
        self.timeout = float(timeout)
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self.catalog = model_catalog or catalog()
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "organization": organization,
            "project": project,
        }
        self._client: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIProvider(base_url={self._options['base_url']!r})"

    def warm_up(self) -> None:
        """Import the SDK and build the client now (from a thread): the first request of a
        batch then does not stall the event loop (and a TUI) while they load."""
        self._get_client()

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                **self._options,
                timeout=openai.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_S)),
                max_retries=0,  # never the SDK's retries: see the module docstring
                http_client=openai.DefaultAsyncHttpxClient(
                    event_hooks={"response": [_remember_request_id]}
                ),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """One request; retried only when it surely was not processed (``on_wait`` hears why).

        An ``EditRequest`` is edited (``edit``), never generated from its prompt alone.
        """
        if isinstance(request, EditRequest):
            return await self.edit(request, on_partial, on_wait)
        return await self._run(request, "generate", self._params(request), on_partial, on_wait)

    async def edit(
        self,
        request: EditRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """``images.edit`` under the same retry rules as ``generate``.

        The request is first checked against the catalogue (``validate_edit_request``): a
        ``ValidationError`` then lists every problem and nothing is sent. Inputs go as
        ``(filename, bytes, content type)``: bare bytes would be labelled
        ``application/octet-stream``, which the API refuses. They are bytes in memory, so a
        retry (only of what surely was not processed) sends the same upload again.
        """
        validate_edit_request(request, self.catalog)
        params = self._params(request)
        del params["moderation"]  # images.edit has no moderation parameter
        uploads = [image.upload() for image in request.images]
        params["image"] = uploads[0] if len(uploads) == 1 else uploads
        if request.mask is not None:
            params["mask"] = request.mask.upload()
        if request.markup is not None:
            params["markup"] = request.markup.upload()
        if request.input_fidelity is not None:
            params["input_fidelity"] = request.input_fidelity
        return await self._run(request, "edit", params, on_partial, on_wait, "image_edit")

    async def _run(
        self,
        request: GenerationRequest,
        method: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None,
        on_wait: WaitCallback | None,
        events: str = "image_generation",
    ) -> ProviderResult:
        """Send ``client.images.<method>(**params)``, re-sending only what surely was not
        processed; ``events`` is the stream events' prefix."""
        import openai

        budget = RetryBudget(self.retry_policy)
        while True:
            seen: list[str | None] = []
            token = _seen_request_ids.set(seen)
            try:
                call = getattr(self._get_client().images, method)
                if request.partial_images > 0:
                    return await self._stream(call, params, request, on_partial, events)
                return await self._plain(call, params, request)
            except openai.APIError as exc:
                verdict = classify(exc, _last_id(seen))
                wait = budget.next_wait(verdict)
                if wait is None:
                    streaming = request.partial_images > 0
                    raise map_api_error(
                        exc,
                        request.model,
                        verdict=verdict,
                        budget=budget,
                        timeout=self.timeout,
                        answered=bool(seen),
                        streaming=streaming,
                    ) from exc
            finally:
                _seen_request_ids.reset(token)
            log.info("OpenAI request not processed: %s", wait.describe())
            await wait_before_retry(wait, on_wait)

    async def _plain(
        self,
        call: Callable[..., Awaitable[Any]],
        params: dict[str, Any],
        request: GenerationRequest,
    ) -> ProviderResult:
        response = await call(**params)
        request_id = getattr(response, "_request_id", None)
        applied = applied_from(response)
        images = [
            ProviderImage(
                data=_decode(item.b64_json, request_id),
                output_format=response.output_format or request.output_format,
                revised_prompt=getattr(item, "revised_prompt", None),
                applied=applied,
            )
            for item in response.data or []
            if item.b64_json
        ]
        if not images:
            raise GenerationError(
                ErrorKind.SERVER,
                f"The API answered without any image data; {MAYBE_BILLED}",
                possibly_billed=True,
                request_id=request_id,
            )
        return ProviderResult(
            images=images, usage=usage_from(response.usage), request_id=request_id
        )

    def _params(self, request: GenerationRequest) -> dict[str, Any]:
        """The keyword arguments both ``images.generate`` and ``images.edit`` take; optional
        ones only when set, so that the API applies its own default."""
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
        if request.complexity is not None:
            params["complexity"] = request.complexity
        if self.safety_identifier:
            params["safety_identifier"] = self.safety_identifier
        return params

    async def _stream(
        self,
        call: Callable[..., Awaitable[Any]],
        params: dict[str, Any],
        request: GenerationRequest,
        on_partial: PartialCallback | None,
        events: str,
    ) -> ProviderResult:
        """Stream ``events`` (``image_generation`` or ``image_edit``): partials, completed."""
        stream = await call(**params, stream=True, partial_images=request.partial_images)
        request_id = stream.response.headers.get("x-request-id")
        images: list[ProviderImage] = []
        usage: Usage | None = None
        async with stream:  # closes the connection on an error or a cancel, too
            async for event in stream:
                kind = getattr(event, "type", "")
                if kind == f"{events}.partial_image" and on_partial is not None:
                    data = _decode(event.b64_json, request_id)
                    outcome = on_partial(event.partial_image_index, data)
                    if inspect.isawaitable(outcome):
                        await outcome
                elif kind == f"{events}.completed":
                    images.append(
                        ProviderImage(
                            _decode(event.b64_json, request_id),
                            event.output_format or request.output_format,
                            applied=applied_from(event),
                        )
                    )
                    usage = _add_usage(usage, usage_from(event.usage))
        if not images:
            # A server that answers plain JSON to stream=true makes the SDK yield nothing.
            raise GenerationError(
                ErrorKind.SERVER,
                "The image stream ended before a finished image arrived (partial previews "
                f"can be turned off); {MAYBE_BILLED}",
                possibly_billed=True,
                request_id=request_id,
            )
        return ProviderResult(images=images, usage=usage, request_id=request_id)


def _last_id(seen: list[str | None]) -> str | None:
    return seen[-1] if seen else None


def _decode(b64: str | None, request_id: str | None = None) -> bytes:
    try:
        return base64.b64decode(b64 or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GenerationError(
            ErrorKind.SERVER,
            f"The API sent image data that is not base64; {MAYBE_BILLED}",
            possibly_billed=True,
            request_id=request_id,
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


def map_api_error(
    exc: Exception,
    model: str,
    *,
    verdict: Verdict | None = None,
    budget: RetryBudget | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    answered: bool = False,
    streaming: bool = False,
) -> GenerationError:
    """One user-facing sentence per class of SDK error, saying when it may have been billed.

    ``verdict`` is ``classify(exc)``; ``budget`` the retries spent on the request; ``answered``
    whether response headers arrived before the error.
    """
    import openai

    verdict = verdict or classify(exc)
    status = getattr(exc, "status_code", None)
    detail = _api_message(exc)
    code = getattr(exc, "code", None)

    def error(kind: ErrorKind, message: str) -> GenerationError:
        return GenerationError(
            kind,
            message,
            status_code=status,
            possibly_billed=verdict.possibly_billed,
            request_id=verdict.request_id,
        )

    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if verdict.nothing_sent:
            host = exc.request.url.host if exc.request is not None else "the API"
            return error(
                ErrorKind.CONNECTION,
                f"Cannot reach the OpenAI API at {host}{_after(budget)}; nothing was sent, so "
                "nothing was billed: check the network (or OPENAI_BASE_URL) and try again.",
            )
        if isinstance(exc, openai.APITimeoutError):
            limit = format_seconds(timeout)
            if is_timeout(cause, "write"):
                message = f"Sending the request stalled for {limit}; {MAYBE_BILLED}"
            elif streaming and answered:
                message = f"The image stream stalled for more than {limit}; {MAYBE_BILLED}"
            else:
                message = f"The API did not answer within {limit}; {MAYBE_BILLED}"
            return error(ErrorKind.TIMEOUT, message)
        if streaming and answered:
            message = f"The image stream broke off before the image was finished; {MAYBE_BILLED}"
        elif answered:
            message = f"The connection broke while the API's answer was arriving; {MAYBE_BILLED}"
        else:
            message = f"The connection was lost after sending, before any answer; {MAYBE_BILLED}"
        return error(ErrorKind.CONNECTION, message)
    if isinstance(exc, openai.AuthenticationError):
        return error(
            ErrorKind.AUTHENTICATION, "The API key was rejected (401); check OPENAI_API_KEY."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return error(
            ErrorKind.PERMISSION,
            f"Your API key may not use {model} (403): {detail} "
            "GPT image models may need a verified organisation.",
        )
    if isinstance(exc, openai.NotFoundError):
        return error(ErrorKind.NOT_FOUND, f"The API does not know model {model} (404): {detail}")
    if isinstance(exc, openai.RateLimitError):
        if code in QUOTA_CODES or not verdict.retryable:
            return error(
                ErrorKind.QUOTA,
                f"Your OpenAI account is out of credit or over its quota: {detail}",
            )
        return error(ErrorKind.RATE_LIMIT, _gave_up("Rate limited by the API", budget, detail))
    if isinstance(exc, openai.BadRequestError):
        if code in POLICY_CODES or "safety system" in detail.lower():
            return error(
                ErrorKind.CONTENT_POLICY, f"The request was refused by the content policy: {detail}"
            )
        return error(ErrorKind.BAD_REQUEST, f"The API refused the request: {detail}")
    if isinstance(exc, openai.APIStatusError) and (status or 0) >= 500:
        if verdict.retryable:  # 503 with Retry-After: the server did not take the request
            return error(ErrorKind.SERVER, _gave_up("The API is overloaded (503)", budget, detail))
        return error(ErrorKind.SERVER, f"The API had a server error ({status}); {MAYBE_BILLED}")
    if isinstance(exc, openai.APIStatusError):
        return error(ErrorKind.UNKNOWN, f"The API failed ({status}): {detail}")
    if isinstance(exc, openai.APIResponseValidationError):
        return error(ErrorKind.SERVER, f"The API's answer was not understood; {MAYBE_BILLED}")
    if code in POLICY_CODES:  # refused inside a stream
        return error(
            ErrorKind.CONTENT_POLICY, f"The request was refused by the content policy: {detail}"
        )
    if streaming:
        return error(
            ErrorKind.SERVER,
            f"The image stream reported an error ({detail.rstrip('.')}); {MAYBE_BILLED}",
        )
    return error(ErrorKind.UNKNOWN, f"The API failed ({detail.rstrip('.')}); {MAYBE_BILLED}")


def _after(budget: RetryBudget | None) -> str:
    if budget is None or budget.retries == 0:
        return ""
    plural = "retry" if budget.retries == 1 else "retries"
    return f" (after {budget.retries} {plural} over {format_seconds(budget.waited)})"


def _gave_up(what: str, budget: RetryBudget | None, detail: str) -> str:
    """The sentence for a retryable failure that ran out of retries or of waiting time."""
    if budget is not None and budget.refused_wait is not None:
        more = " more" if budget.retries else ""
        return (
            f"{what} and asked to wait {format_seconds(budget.refused_wait)}{more}, beyond the "
            f"{format_seconds(budget.policy.max_total_wait)} dalletui waits on its own"
            f"{_after(budget)}; nothing was billed: try again later. ({detail})"
        )
    return f"{what}{_after(budget)}; nothing was billed: wait a minute and try again. ({detail})"


def _api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return redact_secrets(str(inner["message"]))
    return redact_secrets(str(getattr(exc, "message", None) or exc))
