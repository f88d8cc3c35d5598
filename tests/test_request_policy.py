"""The billing-safe request policy: through the real openai SDK against the fake server.

Only what surely was not processed is retried (429 rate limits, connect failures, 503 with
Retry-After), visibly and within bounds; anything that may have reached the API is reported
as possibly billed after exactly one POST. Every test is bounded in time.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import openai
import pytest

from dalletui.config import Settings, load_settings
from dalletui.errors import ConfigError, ErrorKind, GenerationError
from dalletui.generation.providers import make_provider
from dalletui.generation.providers.offline import OfflineProvider
from dalletui.generation.providers.openai_provider import DEFAULT_TIMEOUT_S, OpenAIProvider
from dalletui.generation.retry import (
    CANNOT_CONNECT,
    RATE_LIMITED,
    SERVER_BUSY,
    RetryBudget,
    RetryPolicy,
    RetryWait,
    Verdict,
    classify,
    format_seconds,
    parse_retry_after,
)
from dalletui.generation.types import GenerationRequest, ProviderResult
from tests.fakes import FakeOpenAIServer, Fault, Ok

T = TypeVar("T")

#: Small and deterministic: waits of a few milliseconds, no jitter.
FAST = RetryPolicy(max_retries=3, max_total_wait=5.0, base_delay=0.01, max_delay=0.04, jitter=0)
PLAIN = GenerationRequest(prompt="a lighthouse at dusk", model="gpt-image-1-mini")
STREAM = GenerationRequest(prompt="a lighthouse at dusk", model="gpt-image-1.5", partial_images=2)
BOUND_S = 10.0


def make(base_url: str, *, timeout: float = 5.0, policy: RetryPolicy = FAST) -> OpenAIProvider:
    return OpenAIProvider("sk-test", base_url=base_url, timeout=timeout, retry_policy=policy)


@pytest.fixture
async def provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    made = make(fake_openai.base_url)
    yield made
    await made.aclose()


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, BOUND_S)


async def fails(awaitable: Awaitable[ProviderResult]) -> GenerationError:
    with pytest.raises(GenerationError) as info:
        await bounded(awaitable)
    return info.value


def closed_port() -> int:
    """A loopback port with nothing listening: connecting is refused before anything is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- possibly billed


async def test_response_cut_after_headers_is_one_post_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.cut_after_headers())
    error = await fails(provider.generate(PLAIN))
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.CONNECTION and error.possibly_billed
    assert error.request_id == fake_openai.last_request.request_id  # the headers did arrive
    assert "may have been billed" in str(error) and "Cannot reach" not in str(error)


async def test_read_timeout_is_one_post_possibly_billed(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Fault.slow(5))
    provider = make(fake_openai.base_url, timeout=0.3)
    started = time.monotonic()
    error = await fails(provider.generate(PLAIN))
    await provider.aclose()
    assert time.monotonic() - started < 2
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.TIMEOUT and error.possibly_billed
    assert error.request_id is None  # no response arrived
    assert str(error) == "The API did not answer within 0.3 s; the request may have been billed."


async def test_half_body_then_cut_is_one_post_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.truncated_stream())  # plain request: half a JSON body, then a cut
    error = await fails(provider.generate(PLAIN))
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.CONNECTION and error.possibly_billed
    assert error.request_id == fake_openai.last_request.request_id
    assert "Cannot reach" not in str(error)
    assert "answer was arriving" in str(error) and "may have been billed" in str(error)


async def test_connection_dropped_after_sending_is_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.drop_connection())
    error = await fails(provider.generate(PLAIN))
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.CONNECTION and error.possibly_billed
    assert error.request_id is None and "lost after sending" in str(error)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_one_post_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider, status: int
) -> None:
    fake_openai.script(Fault.server_error(status), Ok())  # 503 here has no Retry-After
    error = await fails(provider.generate(PLAIN))
    assert fake_openai.generation_count == 1 and fake_openai.pending == 1
    assert error.kind == ErrorKind.SERVER and error.possibly_billed
    assert error.status_code == status
    assert error.request_id == fake_openai.last_request.request_id
    assert str(error) == f"The API had a server error ({status}); the request may have been billed."


async def test_rate_limit_then_server_error_stops_at_the_server_error(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=5), Fault.server_error(), Ok())
    error = await fails(provider.generate(PLAIN))
    assert fake_openai.generation_count == 2
    assert error.kind == ErrorKind.SERVER and error.possibly_billed


# --------------------------------------------------------------------------- retried, visibly


async def test_rate_limit_with_retry_after_then_ok(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=0.05), Ok())
    waits: list[RetryWait] = []
    result = await bounded(provider.generate(PLAIN, on_wait=waits.append))
    assert len(result.images) == 1 and result.usage is not None
    assert fake_openai.generation_count == 2
    assert waits == [RetryWait(RATE_LIMITED, 0.05, 1, 3)]
    assert waits[0].describe() == "rate limited, retrying in 0.1 s, 1 of 3"
    # Each attempt is a fresh SDK request: the SDK itself never retried.
    assert [r.headers.get("x-stainless-retry-count") for r in fake_openai.generation_requests] == [
        "0",
        "0",
    ]


async def test_async_on_wait_and_retry_after_ms(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=20), Fault.rate_limit(retry_after_ms=30))
    seen: list[str] = []

    async def on_wait(wait: RetryWait) -> None:
        await asyncio.sleep(0)
        seen.append(wait.describe())

    assert (await bounded(provider.generate(PLAIN, on_wait=on_wait))).images
    assert fake_openai.generation_count == 3
    assert seen == [
        "rate limited, retrying in 0 s, 1 of 3",
        "rate limited, retrying in 0 s, 2 of 3",
    ]


async def test_rate_limit_without_retry_after_backs_off(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(), Fault.rate_limit())
    waits: list[RetryWait] = []
    assert (await bounded(provider.generate(PLAIN, on_wait=waits.append))).images
    assert [w.seconds for w in waits] == [0.01, 0.02]  # FAST: base 0.01 s doubling, no jitter


async def test_503_with_retry_after_is_retried(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.server_error(503, retry_after=0.02), Ok())
    waits: list[RetryWait] = []
    assert (await bounded(provider.generate(PLAIN, on_wait=waits.append))).images
    assert fake_openai.generation_count == 2
    assert waits == [RetryWait(SERVER_BUSY, 0.02, 1, 3)]


async def test_insufficient_quota_is_not_retried(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.insufficient_quota(), Ok())
    waits: list[RetryWait] = []
    error = await fails(provider.generate(PLAIN, on_wait=waits.append))
    assert fake_openai.generation_count == 1 and waits == []
    assert error.kind == ErrorKind.QUOTA and not error.possibly_billed
    assert error.status_code == 429
    assert str(error).startswith("Your OpenAI account is out of credit or over its quota:")


async def test_rate_limit_storm_stops_at_the_retry_count(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(*Fault.rate_limit_storm(10, retry_after_ms=1))
    waits: list[RetryWait] = []
    error = await fails(provider.generate(PLAIN, on_wait=waits.append))
    assert fake_openai.generation_count == 4  # the first try and 3 retries
    assert [(w.attempt, w.of) for w in waits] == [(1, 3), (2, 3), (3, 3)]
    assert error.kind == ErrorKind.RATE_LIMIT and not error.possibly_billed
    assert "after 3 retries" in str(error) and "wait a minute" in str(error)
    assert "nothing was billed" in str(error)


async def test_rate_limit_storm_longer_than_the_wait_budget(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(*Fault.rate_limit_storm(10, retry_after_ms=100))
    policy = RetryPolicy(max_retries=10, max_total_wait=0.2)
    provider = make(fake_openai.base_url, policy=policy)
    started = time.monotonic()
    error = await fails(provider.generate(PLAIN))
    await provider.aclose()
    assert time.monotonic() - started < 2
    assert fake_openai.generation_count == 3  # waited 0.1 + 0.1; a third 0.1 s does not fit
    assert error.kind == ErrorKind.RATE_LIMIT and not error.possibly_billed
    assert str(error).startswith(
        "Rate limited by the API and asked to wait 0.1 s more, beyond the 0.2 s dalletui waits "
        "on its own (after 2 retries over 0.2 s); nothing was billed: try again later."
    )


async def test_retry_after_beyond_the_budget_is_not_waited(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=600), Ok())
    waits: list[RetryWait] = []
    error = await fails(provider.generate(PLAIN, on_wait=waits.append))
    assert fake_openai.generation_count == 1 and waits == []
    assert str(error).startswith(
        "Rate limited by the API and asked to wait 600 s, beyond the 5 s dalletui waits on its "
        "own; nothing was billed: try again later."
    )


async def test_connection_refused_is_retried_then_says_nothing_was_sent() -> None:
    provider = make(f"http://127.0.0.1:{closed_port()}/v1")
    waits: list[RetryWait] = []
    error = await fails(provider.generate(PLAIN, on_wait=waits.append))
    await provider.aclose()
    assert [(w.reason, w.attempt) for w in waits] == [(CANNOT_CONNECT, n) for n in (1, 2, 3)]
    assert error.kind == ErrorKind.CONNECTION and not error.possibly_billed
    assert error.request_id is None
    message = str(error)
    assert message.startswith("Cannot reach the OpenAI API at 127.0.0.1 (after 3 retries")
    assert "nothing was sent, so nothing was billed" in message


async def test_cancelling_during_a_wait_sends_nothing_more(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=30), Ok())
    provider = make(fake_openai.base_url, policy=RetryPolicy(max_total_wait=60))
    waiting = asyncio.Event()

    def on_wait(wait: RetryWait) -> None:
        waiting.set()

    task = asyncio.create_task(provider.generate(PLAIN, on_wait=on_wait))
    await bounded(waiting.wait())
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1  # the 30 s wait stopped at once
    await asyncio.sleep(0.2)
    await provider.aclose()
    assert fake_openai.generation_count == 1 and fake_openai.pending == 1


# --------------------------------------------------------------------------- streaming


async def test_stream_cut_after_it_started_is_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.truncated_stream(partials=1, abort=True), Ok())
    partials: list[int] = []
    error = await fails(provider.generate(STREAM, on_partial=lambda i, _: partials.append(i)))
    assert fake_openai.generation_count == 1 and partials == [0]
    assert error.kind == ErrorKind.CONNECTION and error.possibly_billed
    assert error.request_id == fake_openai.last_request.request_id
    assert "stream broke off" in str(error)


async def test_stream_cut_after_headers_is_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.cut_after_headers())
    error = await fails(provider.generate(STREAM))
    assert fake_openai.generation_count == 1
    assert error.possibly_billed and error.request_id == fake_openai.last_request.request_id


async def test_stream_that_ends_without_an_image_is_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.truncated_stream(partials=1))  # clean end, no completed event
    error = await fails(provider.generate(STREAM))
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.SERVER and error.possibly_billed
    assert error.request_id == fake_openai.last_request.request_id


async def test_stream_error_event_is_possibly_billed_unless_refused(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(
        Fault.stream_error("boom", partials=1),
        Fault.stream_error(
            "refused", type="image_generation_user_error", code="moderation_blocked"
        ),
    )
    error = await fails(provider.generate(STREAM))
    assert error.kind == ErrorKind.SERVER and error.possibly_billed and "boom" in str(error)
    error = await fails(provider.generate(STREAM))
    assert error.kind == ErrorKind.CONTENT_POLICY and not error.possibly_billed
    assert fake_openai.generation_count == 2


async def test_stream_rate_limited_before_it_starts_is_retried(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=5))
    partials: list[int] = []
    waits: list[RetryWait] = []
    result = await bounded(
        provider.generate(STREAM, on_partial=lambda i, _: partials.append(i), on_wait=waits.append)
    )
    assert result.images and partials == [0, 1] and len(waits) == 1
    assert fake_openai.generation_count == 2


async def test_stream_read_timeout_between_events(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.stream_event_delay = 3
    provider = make(fake_openai.base_url, timeout=0.3)
    error = await fails(provider.generate(STREAM))
    await provider.aclose()
    assert fake_openai.generation_count == 1
    assert error.kind == ErrorKind.TIMEOUT and error.possibly_billed
    assert "stream stalled for more than 0.3 s" in str(error)


# --------------------------------------------------------------------------- set-up


async def test_client_has_no_sdk_retries_and_the_configured_timeout(
    fake_openai: FakeOpenAIServer,
) -> None:
    provider = make(fake_openai.base_url, timeout=42)
    client = provider._get_client()
    assert client.max_retries == 0
    assert isinstance(client.timeout, httpx2.Timeout)
    assert (client.timeout.read, client.timeout.connect) == (42, 10)
    await provider.aclose()


def test_make_provider_passes_the_request_timeout(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, api_key="sk-test", request_timeout=77.0)
    provider = make_provider(settings, "openai")
    assert isinstance(provider, OpenAIProvider) and provider.timeout == 77.0
    assert Settings(home=tmp_path).request_timeout == DEFAULT_TIMEOUT_S == 300.0


async def test_offline_provider_accepts_on_wait() -> None:
    waits: list[RetryWait] = []
    result = await OfflineProvider().generate(
        GenerationRequest(prompt="x", size="64x64"), on_wait=waits.append
    )
    assert result.images and waits == []


def test_generation_error_defaults() -> None:
    error = GenerationError(ErrorKind.SERVER, "x")
    assert (error.possibly_billed, error.request_id) == (False, None)
    error = GenerationError(ErrorKind.TIMEOUT, "y", possibly_billed=True, request_id="req_1")
    assert (error.possibly_billed, error.request_id) == (True, "req_1")


# --------------------------------------------------------------------------- config


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DALLETUI_REQUEST_TIMEOUT", raising=False)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("DALLETUI_CONFIG", str(path))
    return path


@pytest.mark.parametrize(("text", "seconds"), [("", 300.0), ("90", 90.0), ("12.5", 12.5)])
def test_request_timeout_from_the_file(config_file: Path, text: str, seconds: float) -> None:
    config_file.write_text(f"request_timeout = {text}\n" if text else "")
    assert load_settings().request_timeout == seconds


def test_request_timeout_env_wins(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file.write_text("request_timeout = 90\n")
    monkeypatch.setenv("DALLETUI_REQUEST_TIMEOUT", " 600 ")
    assert load_settings().request_timeout == 600.0


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf"])
def test_request_timeout_env_must_be_positive(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DALLETUI_REQUEST_TIMEOUT", value)
    with pytest.raises(ConfigError, match="DALLETUI_REQUEST_TIMEOUT must be a positive number"):
        load_settings()


@pytest.mark.parametrize("value", ['"300"', "true", "0", "-1.5"])
def test_request_timeout_file_must_be_positive_number(config_file: Path, value: str) -> None:
    config_file.write_text(f"request_timeout = {value}\n")
    with pytest.raises(ConfigError, match=r"'request_timeout' in .*config\.toml must be"):
        load_settings()


# --------------------------------------------------------------------------- unit: the policy

URL = "https://api.openai.com/v1/images/generations"


def status_error(
    status: int, *, code: str | None = None, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(
        status, headers={"x-request-id": "req_abc", **(headers or {})}, request=request
    )
    body: dict[str, Any] = {"message": "m", "type": "t", "code": code}
    cls: type[openai.APIStatusError] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return cls("m", response=response, body=body)


def connection_error(cause: BaseException, *, timeout: bool = False) -> openai.APIError:
    request = httpx2.Request("POST", URL)
    exc = openai.APITimeoutError(request) if timeout else openai.APIConnectionError(request=request)
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            status_error(429, headers={"retry-after-ms": "250"}),
            Verdict(False, RATE_LIMITED, 0.25, "req_abc"),
        ),
        (status_error(429), Verdict(False, RATE_LIMITED, None, "req_abc")),
        (status_error(429, code="insufficient_quota"), Verdict(False, request_id="req_abc")),
        (
            status_error(503, headers={"retry-after": "7"}),
            Verdict(False, SERVER_BUSY, 7.0, "req_abc"),
        ),
        (status_error(503), Verdict(True, request_id="req_abc")),
        (status_error(500), Verdict(True, request_id="req_abc")),
        (status_error(502, headers={"retry-after": "1"}), Verdict(True, request_id="req_abc")),
        (status_error(400, code="moderation_blocked"), Verdict(False, request_id="req_abc")),
        (status_error(401), Verdict(False, request_id="req_abc")),
        (status_error(404), Verdict(False, request_id="req_abc")),
        (status_error(408), Verdict(False, request_id="req_abc")),
        (
            connection_error(httpx2.ConnectError("refused")),
            Verdict(False, CANNOT_CONNECT, nothing_sent=True),
        ),
        (
            connection_error(httpx2.ConnectTimeout("slow"), timeout=True),
            Verdict(False, CANNOT_CONNECT, nothing_sent=True),
        ),
        (
            connection_error(httpx2.PoolTimeout("pool"), timeout=True),
            Verdict(False, CANNOT_CONNECT, nothing_sent=True),
        ),
        (connection_error(httpx2.ReadTimeout("read"), timeout=True), Verdict(True)),
        (connection_error(httpx2.WriteTimeout("write"), timeout=True), Verdict(True)),
        (connection_error(httpx2.RemoteProtocolError("cut")), Verdict(True)),
        (connection_error(httpx2.ReadError("reset")), Verdict(True)),
        (connection_error(httpx2.WriteError("broken pipe")), Verdict(True)),
        (connection_error(OSError("unmapped")), Verdict(True)),
        (
            openai.APIError("boom", httpx2.Request("POST", URL), body={"code": None}),
            Verdict(True),
        ),
        (
            openai.APIError("no", httpx2.Request("POST", URL), body={"code": "moderation_blocked"}),
            Verdict(False),
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_classify(exc: BaseException, expected: Verdict) -> None:
    assert classify(exc) == expected


def test_classify_keeps_the_id_of_a_cut_off_response() -> None:
    verdict = classify(connection_error(httpx2.RemoteProtocolError("cut")), "req_cut")
    assert verdict == Verdict(True, request_id="req_cut")
    # A connect failure had no response, whatever the caller saw before.
    assert classify(connection_error(httpx2.ConnectError("x")), "req_old").request_id is None


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "2"}) == 2.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30)
    assert parse_retry_after({"retry-after": "tomorrow"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    headers = httpx2.Headers({"Retry-After": "3"})  # case-insensitive like the SDK's headers
    assert parse_retry_after(headers) == 3.0


def test_budget_counts_retries() -> None:
    budget = RetryBudget(RetryPolicy(max_retries=2, base_delay=1, jitter=0))
    verdict = Verdict(False, RATE_LIMITED)
    assert budget.next_wait(verdict) == RetryWait(RATE_LIMITED, 1.0, 1, 2)
    assert budget.next_wait(verdict) == RetryWait(RATE_LIMITED, 2.0, 2, 2)
    assert budget.next_wait(verdict) is None and budget.refused_wait is None
    assert (budget.retries, budget.waited) == (2, 3.0)


def test_budget_bounds_the_total_wait() -> None:
    budget = RetryBudget(RetryPolicy(max_retries=5, max_total_wait=10))
    assert budget.next_wait(Verdict(False, RATE_LIMITED, retry_after=6)) is not None
    assert budget.next_wait(Verdict(False, RATE_LIMITED, retry_after=5)) is None
    assert budget.refused_wait == 5 and budget.waited == 6 and budget.retries == 1


def test_budget_never_retries_what_may_have_been_billed() -> None:
    budget = RetryBudget(RetryPolicy())
    assert budget.next_wait(Verdict(True)) is None
    assert budget.next_wait(Verdict(False)) is None  # refused by the API: retrying won't help
    assert budget.retries == 0


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8, jitter=0.25)
    assert [policy.backoff(n, rand=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert policy.backoff(2, rand=lambda: 1.0) == 1.5
    assert policy.backoff(10_000, rand=lambda: 0.0) == 8


def test_describe_and_seconds() -> None:
    assert (
        RetryWait("rate limited", 12.4, 2, 3).describe() == "rate limited, retrying in 12 s, 2 of 3"
    )
    assert RetryWait("cannot connect", 1.5, 1, 3).describe() == (
        "cannot connect, retrying in 1.5 s, 1 of 3"
    )
    assert [format_seconds(s) for s in (0.3, 1.0, 9.96, 10.4, 120)] == [
        "0.3 s",
        "1 s",
        "10 s",
        "10 s",
        "120 s",
    ]


async def test_warm_up_builds_the_client_in_a_thread_and_sends_nothing(
    fake_openai: FakeOpenAIServer,
) -> None:
    provider = make(fake_openai.base_url)
    await asyncio.to_thread(provider.warm_up)
    client = provider._client
    assert client is not None and fake_openai.generation_count == 0
    fake_openai.script(Ok())
    result = await provider.generate(PLAIN)
    assert provider._client is client and len(result.images) == 1
    await provider.aclose()
