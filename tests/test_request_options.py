"""The generate options issue 14 adds: ``complexity`` (catalogue-checked, sent only when set) and
the ``safety_identifier`` setting (sent on generate and edit, never the API key), through the
real SDK against the fake server."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from dalletui.config import Settings, load_settings
from dalletui.errors import ConfigError, ErrorKind, GenerationError
from dalletui.generation.providers import make_provider
from dalletui.generation.providers.offline import OfflineProvider
from dalletui.generation.providers.openai_provider import OpenAIProvider
from dalletui.generation.retry import RetryPolicy
from dalletui.generation.types import EditImage, EditRequest, GenerationRequest
from dalletui.services.context import open_services
from tests.fakes import FakeOpenAIServer

API_KEY = "sk-test-options-SECRET-0123456789abcdef"
SAFETY_ID = "c0ffee5afe1d"
FAST = RetryPolicy(max_retries=0)


def picture(size: tuple[int, int] = (32, 32)) -> EditImage:
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(buf, format="PNG")
    return EditImage("in.png", buf.getvalue())


def provider_for(server: FakeOpenAIServer, **kwargs: object) -> OpenAIProvider:
    return OpenAIProvider(
        API_KEY, base_url=server.base_url, timeout=5.0, retry_policy=FAST, **kwargs
    )


@pytest.fixture
async def provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    made = provider_for(fake_openai)
    yield made
    await made.aclose()


# --------------------------------------------------------------------------- complexity


def test_complexity_is_a_request_field_stored_in_params() -> None:
    request = GenerationRequest(prompt="a fox", complexity="high")
    assert request.params()["complexity"] == "high"
    assert GenerationRequest(prompt="a fox").params()["complexity"] is None
    edit = EditRequest(prompt="a fox", images=(picture(),), complexity="low", seed=7)
    assert edit.options().complexity == "low" and edit.options().seed == 7
    assert edit.params()["complexity"] == "low"
    assert edit.params()["images"][0]["name"] == "in.png"


async def test_generate_sends_complexity_only_when_set(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    await provider.generate(GenerationRequest(prompt="a fox", complexity="high"))
    assert fake_openai.last_request.body["complexity"] == "high"
    await provider.generate(GenerationRequest(prompt="a fox"))
    assert "complexity" not in fake_openai.last_request.body


async def test_streamed_generate_sends_complexity(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    result = await provider.generate(
        GenerationRequest(prompt="a fox", complexity="medium", partial_images=1)
    )
    assert len(result.images) == 1
    body = fake_openai.last_request.body
    assert body["complexity"] == "medium" and body["stream"] is True


async def test_edit_sends_complexity_as_a_form_field(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    await provider.edit(EditRequest(prompt="paint it red", images=(picture(),), complexity="low"))
    rec = fake_openai.last_request
    assert rec.path == "/v1/images/edits" and rec.sent("complexity") == "low"
    await provider.edit(EditRequest(prompt="paint it red", images=(picture(),)))
    assert fake_openai.last_request.sent("complexity") is None


async def test_fake_refuses_an_unknown_complexity_like_the_api(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    # The provider trusts the service to validate generations: this reaches the fake.
    with pytest.raises(GenerationError) as caught:
        await provider.generate(GenerationRequest(prompt="a fox", complexity="extreme"))
    assert caught.value.kind == ErrorKind.BAD_REQUEST and caught.value.status_code == 400
    assert "'extreme'" in str(caught.value) and "'low', 'medium' and 'high'" in str(caught.value)
    assert fake_openai.last_request.status == 400


async def test_offline_provider_ignores_complexity() -> None:
    offline = OfflineProvider()
    plain = await offline.generate(GenerationRequest(prompt="a fox", seed=3))
    planned = await offline.generate(GenerationRequest(prompt="a fox", seed=3, complexity="high"))
    assert plain.images[0].data == planned.images[0].data


# --------------------------------------------------------------------------- safety identifier


async def test_safety_identifier_goes_with_generate_and_edit(
    fake_openai: FakeOpenAIServer,
) -> None:
    provider = provider_for(fake_openai, safety_identifier=SAFETY_ID)
    try:
        await provider.generate(GenerationRequest(prompt="a fox"))
        assert fake_openai.last_request.body["safety_identifier"] == SAFETY_ID
        await provider.generate(GenerationRequest(prompt="a fox", partial_images=1))
        assert fake_openai.last_request.body["safety_identifier"] == SAFETY_ID
        await provider.edit(EditRequest(prompt="paint it red", images=(picture(),)))
        assert fake_openai.last_request.sent("safety_identifier") == SAFETY_ID
    finally:
        await provider.aclose()
    assert SAFETY_ID not in repr(provider)


async def test_no_safety_identifier_when_unset(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    await provider.generate(GenerationRequest(prompt="a fox"))
    await provider.edit(EditRequest(prompt="paint it red", images=(picture(),)))
    assert all(r.sent("safety_identifier") is None for r in fake_openai.requests)


def test_provider_refuses_the_key_as_safety_identifier(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ConfigError) as caught:
        provider_for(fake_openai, safety_identifier=API_KEY)
    message = str(caught.value)
    assert API_KEY not in message and message.count(".") == 1 and message.endswith(".")


def test_make_provider_passes_the_safety_identifier(home: Path) -> None:
    settings = Settings(home=home, api_key=API_KEY, safety_identifier=SAFETY_ID)
    provider = make_provider(settings, "openai")
    assert isinstance(provider, OpenAIProvider) and provider.safety_identifier == SAFETY_ID
    assert SAFETY_ID not in repr(settings)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_config_reads_safety_identifier_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "c.toml", f'[defaults]\nsafety_identifier = "{SAFETY_ID}"\n')
    assert load_settings(config_path=config).safety_identifier == SAFETY_ID
    monkeypatch.setenv("DALLETUI_SAFETY_IDENTIFIER", "from-env")
    assert load_settings(config_path=config).safety_identifier == "from-env"
    monkeypatch.delenv("DALLETUI_SAFETY_IDENTIFIER")
    blank = write_config(tmp_path / "b.toml", 'safety_identifier = "  "\n')
    assert load_settings(config_path=blank).safety_identifier is None
    assert load_settings(config_path=tmp_path / "none.toml").safety_identifier is None


def test_config_refuses_a_safety_identifier_that_is_not_text(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", "safety_identifier = 42\n")
    with pytest.raises(ConfigError, match="'safety_identifier' must be a str"):
        load_settings(config_path=config)


@pytest.mark.parametrize("key_from", ["env", "file"])
def test_config_refuses_the_api_key_as_safety_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_from: str
) -> None:
    lines = [f'safety_identifier = "{API_KEY}"']
    if key_from == "env":
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    else:
        lines.append(f'api_key = "{API_KEY}"')
    config = write_config(tmp_path / "c.toml", "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=config)
    message = str(caught.value)
    assert message.startswith("safety_identifier is the API key")
    assert API_KEY not in message and message.count(".") == 1


async def test_key_never_reaches_body_database_files_or_logs(
    home: Path, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        home=home,
        api_key=API_KEY,
        base_url=fake_openai.base_url,
        provider="openai",
        safety_identifier=SAFETY_ID,
    )
    services = open_services(settings)
    try:
        request = GenerationRequest(prompt="a fox in snow", complexity="high")
        outcome = await services.generation.generate(request)
        await services.generation.aclose()
        assert outcome.ok, outcome.error
        [row] = outcome.generations
        assert row.params["complexity"] == "high"
    finally:
        services.close()
    rec = fake_openai.last_request
    assert rec.body["safety_identifier"] == SAFETY_ID and rec.body["complexity"] == "high"
    assert rec.authorization == f"Bearer {API_KEY}"  # the header, and nowhere else
    assert API_KEY.encode() not in rec.raw_body
    secret = API_KEY.encode()
    for path in home.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    assert API_KEY not in caplog.text
