"""The fake OpenAI server, exercised through the real ``openai`` SDK over HTTP."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from PIL import Image

from tests.fakes import FakeOpenAIServer, Fault, Ok, fixtures

# Explicit so this file also runs without tests/conftest.py registering the plugin.
fake_openai = fixtures.fake_openai

MODEL = "gpt-image-1-mini"


@pytest.fixture
def client(fake_openai: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    """A sync SDK client without retries."""
    with _client(fake_openai) as c:
        yield c


def _client(server: FakeOpenAIServer, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5.0)
    return openai.OpenAI(api_key="sk-test", base_url=server.base_url, **kwargs)


def _decode(b64: str | None) -> Image.Image:
    assert b64
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


# --------------------------------------------------------------------------- success


def test_generate_returns_pngs_usage_and_records_request(
    fake_openai: FakeOpenAIServer,
    client: openai.OpenAI,
) -> None:
    result = client.images.generate(
        model=MODEL, prompt="a red fox in snow", n=2, size="1536x1024", quality="high"
    )
    assert result.data is not None and len(result.data) == 2
    images = [_decode(d.b64_json) for d in result.data]
    assert all(img.format == "PNG" and img.size == (64, 43) for img in images)
    assert images[0].tobytes() != images[1].tobytes()
    assert (result.size, result.quality, result.output_format, result.background) == (
        "1536x1024",
        "high",
        "png",
        "opaque",
    )
    usage = result.usage
    assert usage is not None and usage.output_tokens_details is not None
    assert usage.input_tokens == usage.input_tokens_details.text_tokens == 5
    assert usage.output_tokens == usage.output_tokens_details.image_tokens == 2 * 272
    assert usage.total_tokens == 5 + 544

    req = fake_openai.last_request
    assert (req.method, req.path) == ("POST", "/v1/images/generations")
    assert req.authorization == "Bearer sk-test"
    assert req.body == {
        "model": MODEL,
        "prompt": "a red fox in snow",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
    }
    assert isinstance(req.behaviour, Ok)


def test_auto_size_full_render_and_formats() -> None:
    with FakeOpenAIServer(render_max_side=None, revise_prompts=True) as server:
        with _client(server) as c:
            auto = c.images.generate(model=MODEL, prompt="x", size="48x32")
            assert auto.data is not None and _decode(auto.data[0].b64_json).size == (48, 32)
            assert auto.data[0].revised_prompt == "x (revised)"
            webp = c.images.generate(
                model=MODEL,
                prompt="x",
                size="32x32",
                output_format="webp",
                background="transparent",
            )
            assert webp.data is not None
            img = _decode(webp.data[0].b64_json)
            assert (img.format, img.mode, webp.background) == ("WEBP", "RGBA", "transparent")
        server.render_max_side = 16
        with _client(server) as c:
            res = c.images.generate(model=MODEL, prompt="x", size="auto")
            assert res.size == "1024x1024"
            assert res.data is not None and _decode(res.data[0].b64_json).size == (16, 16)


def test_models_list(client: openai.OpenAI) -> None:
    assert MODEL in [m.id for m in client.models.list()]


def test_latency_applies_to_successful_responses(
    fake_openai: FakeOpenAIServer,
    client: openai.OpenAI,
) -> None:
    fake_openai.latency = 0.2
    start = time.monotonic()
    client.images.generate(model=MODEL, prompt="slowish")
    assert time.monotonic() - start >= 0.2


# --------------------------------------------------------------------------- streaming


def test_stream_partials_then_completed(client: openai.OpenAI) -> None:
    events = list(
        client.images.generate(model=MODEL, prompt="a lighthouse", stream=True, partial_images=2)
    )
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [getattr(e, "partial_image_index", None) for e in events] == [0, 1, None]
    assert all(_decode(e.b64_json).format == "PNG" for e in events)
    done = events[-1]
    assert done.type == "image_generation.completed"
    assert (done.size, done.quality, done.background, done.output_format) == (
        "1024x1024",
        "medium",
        "opaque",
        "png",
    )
    assert done.usage.input_tokens == 2
    assert done.usage.output_tokens == 272 + 2 * 100
    assert done.usage.total_tokens == 2 + 472


async def test_async_stream(fake_openai: FakeOpenAIServer) -> None:
    async with openai.AsyncOpenAI(
        api_key="sk-test", base_url=fake_openai.base_url, max_retries=0, timeout=5.0
    ) as client:
        stream = await client.images.generate(
            model=MODEL, prompt="async", stream=True, partial_images=1
        )
        types = [event.type async for event in stream]
        result = await client.images.generate(model=MODEL, prompt="async plain")
    assert types == ["image_generation.partial_image", "image_generation.completed"]
    assert result.data is not None and len(result.data) == 1


def test_stream_with_n_above_one(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=MODEL, prompt="two", stream=True, n=2)
    assert info.value.param == "n"
    fake_openai.allow_stream_n = True
    events = list(client.images.generate(model=MODEL, prompt="two", stream=True, n=2))
    assert [e.type for e in events] == ["image_generation.completed"] * 2


def test_stream_answered_with_plain_json_yields_no_events(
    fake_openai: FakeOpenAIServer,
    client: openai.OpenAI,
) -> None:
    fake_openai.script(Fault.json_instead_of_stream())
    stream = client.images.generate(model=MODEL, prompt="trap", stream=True, partial_images=1)
    assert stream.response.headers["content-type"] == "application/json"
    assert list(stream) == []


def test_stream_without_completed_event(
    fake_openai: FakeOpenAIServer,
    client: openai.OpenAI,
) -> None:
    fake_openai.script(Fault.truncated_stream(), Fault.truncated_stream(partials=1, abort=True))
    events = list(client.images.generate(model=MODEL, prompt="cut", stream=True, partial_images=2))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2

    stream = client.images.generate(model=MODEL, prompt="cut", stream=True, partial_images=2)
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for event in stream:
            seen.append(event.type)
    assert seen == ["image_generation.partial_image"]


def test_stream_error_event(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.stream_error("boom", partials=1))
    stream = client.images.generate(model=MODEL, prompt="err", stream=True, partial_images=3)
    with pytest.raises(openai.APIError, match="boom"):
        list(stream)


# --------------------------------------------------------------------------- scripted faults


def test_rate_limit_is_retried_then_succeeds(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Fault.rate_limit(retry_after_ms=10), Fault.rate_limit(retry_after_ms=10), Ok()
    )
    start = time.monotonic()
    with _client(fake_openai, max_retries=2) as c:
        result = c.images.generate(model=MODEL, prompt="retry me")
    assert time.monotonic() - start < 2  # retry-after-ms honoured, not the default backoff
    assert result.data is not None and len(result.data) == 1
    reqs = fake_openai.generation_requests
    assert len(reqs) == 3 and fake_openai.pending == 0
    assert [r.headers.get("x-stainless-retry-count") for r in reqs] == ["0", "1", "2"]
    assert len({r.headers.get("idempotency-key") for r in reqs}) == 1


def test_rate_limit_exhausts_retries(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=0.01), Fault.insufficient_quota())
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "0.01"
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert info.value.code == "insufficient_quota"


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (Fault.moderation(), openai.BadRequestError, "moderation_blocked"),
        (Fault.bad_request("Invalid size.", param="size"), openai.BadRequestError, None),
        (Fault.invalid_api_key(), openai.AuthenticationError, "invalid_api_key"),
        (Fault.permission_denied(), openai.PermissionDeniedError, None),
        (Fault.model_not_found("gpt-nope"), openai.NotFoundError, "model_not_found"),
        (Fault.server_error(), openai.InternalServerError, None),
        (Fault.server_error(503), openai.InternalServerError, None),
    ],
)
def test_status_faults_raise_sdk_errors(
    fake_openai: FakeOpenAIServer,
    client: openai.OpenAI,
    fault: Fault,
    error: type[openai.APIStatusError],
    code: str | None,
) -> None:
    fake_openai.script(fault)
    with pytest.raises(error) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert info.value.status_code == fault.status
    assert info.value.code == code
    assert info.value.request_id == fake_openai.last_request.request_id
    # The queue is empty again: the next request succeeds.
    assert client.images.generate(model=MODEL, prompt="x").data


def test_moderation_error_details(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.moderation())
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=MODEL, prompt="forbidden")
    assert info.value.type == "image_generation_user_error"
    assert "rejected by the safety system" in info.value.message


def test_server_error_retried_until_exhausted(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(*[Fault.server_error(retry_after_ms=5)] * 2)
    with _client(fake_openai, max_retries=1) as c, pytest.raises(openai.InternalServerError):
        c.images.generate(model=MODEL, prompt="x")
    assert len(fake_openai.generation_requests) == 2


def test_server_checks_api_key() -> None:
    with FakeOpenAIServer(api_key="sk-right") as server, _client(server) as c:
        with pytest.raises(openai.AuthenticationError):
            c.images.generate(model=MODEL, prompt="x")
        assert server.last_request.authorization == "Bearer sk-test"


def test_slow_response_times_out(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Fault.slow(5))
    with _client(fake_openai, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
        c.images.generate(model=MODEL, prompt="x")


def test_dropped_connection(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.drop_connection(), Fault.truncated_stream())
    with pytest.raises(openai.APIConnectionError) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert not isinstance(info.value, openai.APITimeoutError)
    # truncated_stream on a plain request: half a JSON body, then the socket closes.
    with pytest.raises(openai.APIConnectionError):
        client.images.generate(model=MODEL, prompt="x")
    assert client.images.generate(model=MODEL, prompt="x").data


def test_dropped_connection_is_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Fault.drop_connection())
    with _client(fake_openai, max_retries=1) as c:
        assert c.images.generate(model=MODEL, prompt="x").data
    assert len(fake_openai.generation_requests) == 2


def test_server_side_validation(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=MODEL, prompt="x", size="huge")
    assert info.value.param == "size"
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(
            model=MODEL, prompt="x", output_format="jpeg", background="transparent"
        )
    assert info.value.param == "background"


def test_cut_after_headers(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.cut_after_headers(), Fault.cut_after_headers())
    with pytest.raises(openai.APIConnectionError) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert not isinstance(info.value, openai.APITimeoutError)
    # A stream gets its headers (the request id included), then no event at all.
    stream = client.images.generate(model=MODEL, prompt="x", stream=True, partial_images=1)
    assert stream.response.headers["x-request-id"] == fake_openai.last_request.request_id
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    assert client.images.generate(model=MODEL, prompt="x").data
    assert fake_openai.generation_count == 3


def test_503_with_retry_after_seconds(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.server_error(503, retry_after=2))
    with pytest.raises(openai.InternalServerError) as info:
        client.images.generate(model=MODEL, prompt="x")
    assert info.value.status_code == 503
    assert info.value.response.headers["retry-after"] == "2"


def test_rate_limit_storm(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(*Fault.rate_limit_storm(3, retry_after_ms=5))
    for _ in range(3):
        with pytest.raises(openai.RateLimitError) as info:
            client.images.generate(model=MODEL, prompt="x")
        assert info.value.response.headers["retry-after-ms"] == "5"
    assert client.images.generate(model=MODEL, prompt="x").data
    assert fake_openai.generation_count == 4 and fake_openai.pending == 0
