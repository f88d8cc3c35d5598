"""When a failed image request may be sent again on its own, and how long to wait first.

The rule (DESIGN.md, "Billing safety"): a POST that may have reached the API is never re-sent
automatically, because the API may already have made and billed the images and the OpenAI client
sends no idempotency key. Only what surely was not processed is retried, within a bounded count
and a bounded total wait:

- 429 rate limits (not ``insufficient_quota``: waiting does not add credit);
- a connection that failed before the request was written (refused, DNS, TLS handshake, connect
  or pool timeout; httpx raises ``ConnectError`` / ``ConnectTimeout`` / ``PoolTimeout`` there);
- 503 with ``Retry-After`` (the server says it did not take the request and when to come back).

Everything else after the request may have been written (read timeout, cut-off or dropped
answer, other 5xx, 503 without ``Retry-After``) is *possibly billed*. Each wait is announced as a
``RetryWait`` before it starts and is an ``asyncio.sleep``, so cancelling the task stops it.
``openai`` and ``httpx2`` are imported inside the functions that need them (both are slow).
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

RATE_LIMITED = "rate limited"
CANNOT_CONNECT = "cannot connect"
SERVER_BUSY = "server busy (503)"

#: Status errors whose ``code`` means "no credit": retrying cannot help.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
#: Content-policy refusals (a 400, or an ``error`` event in a stream): nothing was made.
POLICY_CODES = frozenset({"moderation_blocked", "content_policy_violation"})


@dataclass(frozen=True)
class RetryWait:
    """One announced wait before an automatic retry (``attempt`` of ``of`` retries)."""

    reason: str
    seconds: float
    attempt: int
    of: int

    def describe(self) -> str:
        """E.g. ``rate limited, retrying in 12 s, 2 of 3``."""
        wait = format_seconds(self.seconds)
        return f"{self.reason}, retrying in {wait}, {self.attempt} of {self.of}"


#: Called with each ``RetryWait`` before the wait starts; may be sync or async.
WaitCallback = Callable[[RetryWait], Awaitable[None] | None]


def format_seconds(seconds: float) -> str:
    """``12 s``, ``1.5 s``, ``0.3 s``: whole seconds from ten up."""
    value = round(seconds) if seconds >= 10 else round(seconds, 1)
    return f"{value:g} s"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on automatic retries: count, total wait, and backoff when the server names none."""

    max_retries: int = 3
    #: Sum of all waits for one request. A server asking for more ends the retries instead.
    max_total_wait: float = 120.0
    #: Backoff without ``Retry-After``: base, doubling per retry, capped; minus up to ``jitter``.
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``retry + 1`` when the server did not say."""
        delay = min(self.base_delay * 2 ** min(retry, 30), self.max_delay)
        return max(0.0, delay * (1 - self.jitter * rand()))


@dataclass(frozen=True)
class Verdict:
    """What one failed attempt means for billing and for retrying."""

    #: The API may have made (and billed) the images: never re-send automatically.
    possibly_billed: bool
    #: Set when an automatic retry is allowed: the reason shown to the user.
    retry_reason: str | None = None
    #: Seconds the server asked to wait (``retry-after-ms`` / ``Retry-After``), if it said.
    retry_after: float | None = None
    #: The ``x-request-id`` of the response, when one arrived.
    request_id: str | None = None
    #: The request failed before any byte of it was written.
    nothing_sent: bool = False

    @property
    def retryable(self) -> bool:
        return self.retry_reason is not None


class RetryBudget:
    """Counts the retries and the time waited for one request; decides the next wait."""

    def __init__(self, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.retries = 0
        self.waited = 0.0
        #: The wait the server asked for that did not fit into the remaining budget.
        self.refused_wait: float | None = None
        self._rand = rand

    @property
    def exhausted(self) -> bool:
        return self.retries >= self.policy.max_retries

    def next_wait(self, verdict: Verdict) -> RetryWait | None:
        """The wait before the next attempt, or None: give up (``refused_wait`` says why)."""
        if not verdict.retryable or self.exhausted:
            return None
        if verdict.retry_after is not None:
            seconds = max(0.0, verdict.retry_after)
        else:
            seconds = self.policy.backoff(self.retries, self._rand)
        if seconds > self.policy.max_total_wait - self.waited:
            self.refused_wait = seconds
            return None
        self.retries += 1
        self.waited += seconds
        assert verdict.retry_reason is not None
        return RetryWait(verdict.retry_reason, seconds, self.retries, self.policy.max_retries)


async def wait_before_retry(wait: RetryWait, on_wait: WaitCallback | None) -> None:
    """Announce ``wait``, then sleep it; cancellation interrupts the sleep (nothing is sent)."""
    if on_wait is not None:
        outcome = on_wait(wait)
        if inspect.isawaitable(outcome):
            await outcome
    await asyncio.sleep(wait.seconds)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if seconds == seconds:  # not NaN
            return max(0.0, seconds)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zoneless one is taken as UTC too
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(exc: BaseException, response_request_id: str | None = None) -> Verdict:
    """The verdict for an exception raised by the openai SDK (``max_retries=0``).

    ``response_request_id`` is the ``x-request-id`` of a response whose headers arrived before
    the error (the SDK drops the response when its body is cut off).
    """
    import openai

    if isinstance(exc, openai.APIStatusError):
        request_id = exc.request_id
        status = exc.status_code
        headers = exc.response.headers
        if status == 429:
            if _error_code(exc) in QUOTA_CODES:
                return Verdict(possibly_billed=False, request_id=request_id)
            return Verdict(
                possibly_billed=False,
                retry_reason=RATE_LIMITED,
                retry_after=parse_retry_after(headers),
                request_id=request_id,
            )
        if status == 503:
            after = parse_retry_after(headers)
            if after is not None:
                return Verdict(
                    possibly_billed=False,
                    retry_reason=SERVER_BUSY,
                    retry_after=after,
                    request_id=request_id,
                )
            return Verdict(possibly_billed=True, request_id=request_id)
        # Other 4xx: the API answered that it refused the request.
        return Verdict(possibly_billed=status >= 500, request_id=request_id)
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        if is_connect_failure(exc.__cause__):
            return Verdict(possibly_billed=False, retry_reason=CANNOT_CONNECT, nothing_sent=True)
        return Verdict(possibly_billed=True, request_id=response_request_id)
    if isinstance(exc, openai.APIResponseValidationError):
        return Verdict(possibly_billed=True, request_id=exc.response.headers.get("x-request-id"))
    if isinstance(exc, openai.APIError) and _error_code(exc) in POLICY_CODES:
        return Verdict(possibly_billed=False, request_id=response_request_id)
    # An ``error`` event inside a started stream, or anything unforeseen after sending.
    return Verdict(possibly_billed=True, request_id=response_request_id)


def is_connect_failure(cause: BaseException | None) -> bool:
    """True for httpx errors raised while connecting, before anything is written."""
    if cause is None:
        return False
    return isinstance(cause, _connect_error_types())


def is_timeout(cause: BaseException | None, kind: str) -> bool:
    """Whether ``cause`` is httpx's ``ReadTimeout`` / ``WriteTimeout`` (``kind``: read, write)."""
    name = {"read": "ReadTimeout", "write": "WriteTimeout"}[kind]
    found = (getattr(module, name, None) for module in _httpx_modules())
    return any(isinstance(t, type) and isinstance(cause, t) for t in found)


def _connect_error_types() -> tuple[type[BaseException], ...]:
    names = ("ConnectError", "ConnectTimeout", "PoolTimeout")
    found = (getattr(module, name, None) for module in _httpx_modules() for name in names)
    return tuple(t for t in found if isinstance(t, type))


def _httpx_modules() -> list[object]:
    # The SDK uses the httpx2 fork, and also accepts a client from the original httpx when
    # the application loaded it; connect errors from either count.
    import httpx2

    modules: list[object] = [httpx2]
    legacy = sys.modules.get("httpx")
    if legacy is not None:
        modules.append(legacy)
    return modules


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        return inner.get("code") or inner.get("type")
    return None
