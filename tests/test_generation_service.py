"""GenerationService end to end through the real openai SDK against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from dalletui.config import Settings
from dalletui.errors import ErrorKind, GenerationError, ValidationError
from dalletui.generation.files import ImageStore
from dalletui.generation.providers import make_provider
from dalletui.generation.providers.openai_provider import OpenAIProvider
from dalletui.generation.types import GenerationRequest
from dalletui.services.generation import GenerationService, split_usage
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, UsageStat
from tests.fakes import FakeOpenAIServer, Fault

API_KEY = "sk-test-SECRET-never-stored-0123456789"


def service_for(
    db: DatabaseManager,
    home: Path,
    server: FakeOpenAIServer,
    *,
    timeout: float = 10.0,
    retries: int = 2,
) -> GenerationService:
    settings = Settings(home=home, api_key=API_KEY, base_url=server.base_url, provider="openai")

    def factory(s: Settings, name: str):  # noqa: ANN202
        if name == "openai":
            return OpenAIProvider(
                s.api_key, base_url=s.base_url, timeout=timeout, max_retries=retries
            )
        return make_provider(s, name)

    return GenerationService(
        db, ImageStore(settings.images_dir), settings, provider_factory=factory
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_success_writes_file_thumbnail_and_rows_with_cost(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    request = GenerationRequest(
        prompt="a red fox in snow", model="gpt-image-1-mini", quality="low", n=2
    )
    outcome = await service.generate(request)
    await service.aclose()
    assert outcome.ok and outcome.error is None
    assert [g.status for g in outcome.generations] == ["succeeded", "succeeded"]
    sent = fake_openai.last_request
    assert sent.authorization == f"Bearer {API_KEY}"
    assert sent.body["model"] == "gpt-image-1-mini" and sent.body["n"] == 2
    for g in outcome.generations:
        assert Path(g.file_path).is_file() and Path(g.thumbnail_path).is_file()
        assert Image.open(g.file_path).format == "PNG"
        assert Image.open(g.file_path).text["prompt"] == "a red fox in snow"
        assert g.provider == "openai" and g.duration_ms is not None
    # usage: 5 prompt words in, 272 image tokens out per image (fake server); remainders go first
    rows = list(UsageStat.select().order_by(UsageStat.id))
    assert [(r.input_text_tokens, r.output_image_tokens) for r in rows] == [(3, 272), (2, 272)]
    expected = (Decimal(5) * 2 + Decimal(544) * 8) / 1_000_000  # gpt-image-1-mini per 1M tokens
    assert sum(r.cost for r in rows) == expected.quantize(Decimal("0.000001"))
    assert outcome.cost == sum(r.cost for r in rows)
    assert db.get_prompt(outcome.prompt.id).use_count == 1


@pytest.mark.parametrize(
    ("fault", "kind", "status", "fragment"),
    [
        (Fault.moderation(), ErrorKind.CONTENT_POLICY, 400, "content policy"),
        (Fault.bad_request("Invalid size."), ErrorKind.BAD_REQUEST, 400, "Invalid size."),
        (Fault.invalid_api_key(), ErrorKind.AUTHENTICATION, 401, "OPENAI_API_KEY"),
        (Fault.permission_denied(), ErrorKind.PERMISSION, 403, "verified organisation"),
        (Fault.model_not_found("gpt-image-1-mini"), ErrorKind.NOT_FOUND, 404, "does not know"),
        (Fault.insufficient_quota(), ErrorKind.QUOTA, 429, "quota"),
    ],
)
async def test_fault_classes_give_their_message_and_status(
    db: DatabaseManager,
    home: Path,
    fake_openai: FakeOpenAIServer,
    fault: Fault,
    kind: ErrorKind,
    status: int,
    fragment: str,
) -> None:
    fake_openai.script(fault)
    service = service_for(db, home, fake_openai, retries=0)
    outcome = await service.generate(GenerationRequest(prompt="a fox", model="gpt-image-1-mini"))
    await service.aclose()
    assert outcome.error is not None and outcome.error.kind == kind
    assert outcome.error.status_code == status
    assert fragment in str(outcome.error)
    [row] = outcome.generations
    assert row.status == "failed" and row.error_kind == kind and fragment in row.error_message
    assert files_under(home / "images") == []
    assert db.counts()["usage_stats"] == 0


async def test_server_error_is_possibly_billed_and_not_resent(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    # A 500 may come after the images were made: never re-sent automatically (billing safety).
    fake_openai.script(*[Fault.server_error(retry_after_ms=1)] * 3)
    service = service_for(db, home, fake_openai, retries=2)
    outcome = await service.generate(GenerationRequest(prompt="a fox"))
    await service.aclose()
    assert outcome.error.kind == ErrorKind.SERVER and outcome.error.possibly_billed
    assert len(fake_openai.generation_requests) == 1


async def test_rate_limit_retries_then_succeeds(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=20), Fault.rate_limit(retry_after_ms=20))
    service = service_for(db, home, fake_openai, retries=3)
    outcome = await service.generate(GenerationRequest(prompt="patience"))
    await service.aclose()
    assert outcome.ok
    assert len(fake_openai.generation_requests) == 3


async def test_rate_limit_exhausted(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(*[Fault.rate_limit(retry_after_ms=5)] * 3)
    service = service_for(db, home, fake_openai, retries=2)
    outcome = await service.generate(GenerationRequest(prompt="too fast"))
    await service.aclose()
    assert outcome.error.kind == ErrorKind.RATE_LIMIT and "wait a minute" in str(outcome.error)


async def test_timeout_and_dropped_connection(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.slow(3))
    service = service_for(db, home, fake_openai, timeout=0.3, retries=0)
    outcome = await service.generate(GenerationRequest(prompt="slow"))
    assert outcome.error.kind == ErrorKind.TIMEOUT
    fake_openai.script(Fault.drop_connection())
    outcome = await service.generate(GenerationRequest(prompt="dropped"))
    await service.aclose()
    assert outcome.error.kind == ErrorKind.CONNECTION
    # Both requests may have reached the API: neither is re-sent, both say so.
    assert {g.status for g in Generation.select()} == {"possibly_billed"}
    assert outcome.possibly_billed and "dalletui retry" in str(outcome.error)
    assert db.usage_totals().possibly_billed == 2


async def test_streaming_partials_arrive_in_order(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    seen: list[tuple[int, int]] = []

    async def on_partial(index: int, data: bytes) -> None:
        seen.append((index, len(data)))
        assert Image.open(__import__("io").BytesIO(data)).format == "PNG"

    request = GenerationRequest(prompt="stream me", model="gpt-image-1.5", partial_images=3)
    outcome = await service.generate(request, on_partial=on_partial)
    await service.aclose()
    assert [index for index, _ in seen] == [0, 1, 2]
    assert outcome.ok and fake_openai.last_request.body["stream"] is True
    assert UsageStat.get().output_image_tokens > 0


async def test_stream_answered_with_json_is_an_error(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.json_instead_of_stream())
    service = service_for(db, home, fake_openai, retries=0)
    outcome = await service.generate(GenerationRequest(prompt="trap", partial_images=1))
    await service.aclose()
    assert outcome.error.kind == ErrorKind.SERVER and "stream ended" in str(outcome.error)


async def test_cancel_while_the_api_works_is_possibly_billed_and_leaves_no_files(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.slow(5))
    service = service_for(db, home, fake_openai)
    task = asyncio.create_task(service.generate(GenerationRequest(prompt="never mind", n=2)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await service.aclose()
    # The POST was sent: the API may make (and bill) the images even though we stopped waiting.
    assert {g.status for g in Generation.select()} == {"possibly_billed"}
    assert db.usage_totals().possibly_billed == 1
    assert len(fake_openai.generation_requests) == 1
    assert [p for p in files_under(home / "images") if p.suffix == ".png"] == []


async def test_unwritable_image_folder_is_refused_before_sending(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    (home / "images").write_text("a file where the image folder should be")
    service = service_for(db, home, fake_openai)
    # Refused before anything is sent: images the API would make could not be kept.
    with pytest.raises(GenerationError) as refused:
        await service.generate(GenerationRequest(prompt="nowhere to go", n=2))
    await service.aclose()
    assert refused.value.kind == ErrorKind.FILESYSTEM
    assert "Cannot write images" in str(refused.value)
    assert len(fake_openai.generation_requests) == 0
    assert db.counts()["generations"] == 0 and db.counts()["usage_stats"] == 0


async def test_validation_happens_before_any_request_or_row(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    bad = [
        GenerationRequest(prompt="  "),
        GenerationRequest(prompt="x" * 32_001),
        GenerationRequest(prompt="x", model="gpt-image-1-mini", size="1000x1000"),
        GenerationRequest(prompt="x", model="dall-e-3"),
        GenerationRequest(prompt="x", n=11),
        GenerationRequest(prompt="x", output_format="jpeg", background="transparent"),
    ]
    for request in bad:
        with pytest.raises(ValidationError):
            await service.generate(request)
    assert fake_openai.generation_requests == []
    assert db.counts()["prompts"] == 0 and db.counts()["generations"] == 0


async def test_api_key_never_reaches_database_or_logs(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = service_for(db, home, fake_openai)
    fake_openai.script(Fault.invalid_api_key())
    await service.generate(GenerationRequest(prompt="secret check"))
    await service.generate(GenerationRequest(prompt="secret check"))
    await service.aclose()
    db.close()
    for path in home.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(service.settings) and API_KEY not in repr(service.provider())


#: A project key as a server might echo it back (the configured key is echoed too).
PROJECT_KEY = "sk-proj-abc123DEF456ghi789JKL012mno345PQR678stu901"


def _echoing_fault(status: int) -> Fault:
    body = f"Invalid request from key {API_KEY} (project {PROJECT_KEY})."
    return Fault.http_error(
        status, body, headers={"retry-after-ms": "1"} if status == 429 else None
    )


@pytest.mark.parametrize("status", [400, 403, 404, 429])
async def test_key_echoed_by_an_error_body_never_reaches_database_or_logs(
    status: int,
    db: DatabaseManager,
    home: Path,
    fake_openai: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.script(*[_echoing_fault(status)] * 5)
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="echo check"))
    await service.aclose()
    assert outcome.error is not None
    [row] = Generation.select()
    assert row.status == "failed" and "sk-proj-…REDACTED" in (row.error_message or "")
    db.close()
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert API_KEY.encode() not in data and PROJECT_KEY.encode() not in data, path
    assert API_KEY not in caplog.text and PROJECT_KEY not in caplog.text


@pytest.mark.parametrize("status", [400, 403, 404, 429])
async def test_key_echoed_by_an_error_body_is_redacted_in_the_error_itself(
    status: int, db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    # The error every caller shows (toast, stderr, JSON) is clean at its source.
    fake_openai.script(*[_echoing_fault(status)] * 5)
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="echo check"))
    await service.aclose()
    message = str(outcome.error)
    assert API_KEY not in message and PROJECT_KEY not in message
    assert "REDACTED" in message


async def test_offline_provider_is_default_without_key(db: DatabaseManager, home: Path) -> None:
    service = GenerationService(db, ImageStore(home / "images"), Settings(home=home))
    outcome = await service.generate(GenerationRequest(prompt="a red fox in snow", seed=7))
    assert service.provider_name == "offline"
    [row] = outcome.generations
    assert row.provider == "offline" and row.status == "succeeded"
    assert UsageStat.get().cost == Decimal(0)
    assert Image.open(row.file_path).size == (1024, 1024)


def test_split_usage_keeps_totals() -> None:
    from dalletui.generation.types import Usage

    parts = split_usage(Usage(7, 0, 545, 1), 3)
    assert [p.output_image_tokens for p in parts] == [183, 181, 181]
    assert sum(p.total_tokens for p in parts) == 553
    assert split_usage(None, 2) == [None, None]
    assert dataclasses.is_dataclass(parts[0])
