"""Never spend a user's money twice, never lose what they paid for: the generation service
against the fake OpenAI server, through the real SDK."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from dalletui.config import Settings
from dalletui.errors import ErrorKind, StorageError
from dalletui.generation import recovery
from dalletui.generation.files import ImageStore
from dalletui.generation.retry import RetryWait
from dalletui.generation.types import GenerationRequest
from dalletui.services.generation import GenerationService
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, UsageStat
from tests.fakes import FakeOpenAIServer, Fault, Ok

API_KEY = "sk-test-billing"
SMALL = {"model": "gpt-image-1-mini", "size": "1024x1024", "quality": "low"}


def service_for(
    db: DatabaseManager, home: Path, server: FakeOpenAIServer, **extra
) -> GenerationService:  # noqa: ANN003, E501
    settings = Settings(
        home=home,
        api_key=API_KEY,
        base_url=server.base_url,
        provider="openai",
        request_timeout=extra.pop("timeout", 10.0),
    )
    return GenerationService(db, ImageStore(settings.images_dir), settings)


def posts(server: FakeOpenAIServer) -> int:
    return len(server.generation_requests)


async def test_a_read_timeout_reaches_the_server_once_and_is_possibly_billed(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.slow(3))
    service = service_for(db, home, fake_openai, timeout=0.4)
    outcome = await service.generate(GenerationRequest(prompt="slow fox", n=2, **SMALL))
    await service.aclose()
    assert posts(fake_openai) == 1
    assert outcome.possibly_billed and outcome.error.kind == ErrorKind.TIMEOUT
    first = min(g.id for g in outcome.generations)
    message = str(outcome.error)
    assert "may have been billed" in message and f"dalletui retry {first}" in message
    assert {g.status for g in outcome.generations} == {"possibly_billed"}
    ledger = list(UsageStat.select())
    assert [(u.kind, u.cost, u.generation_id) for u in ledger] == [("possibly_billed", None, first)]
    totals = db.usage_totals()
    assert (totals.images, totals.possibly_billed, totals.cost_known) == (0, 1, False)


async def test_half_a_body_then_a_cut_is_one_post_and_not_called_unreachable(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.truncated_stream())
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="cut fox", n=4, **SMALL))
    await service.aclose()
    assert posts(fake_openai) == 1
    assert outcome.possibly_billed
    assert "Cannot reach" not in str(outcome.error)
    assert Generation.select().where(Generation.status == "possibly_billed").count() == 4


async def test_a_dropped_connection_after_sending_is_not_resent(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.drop_connection())
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="dropped", **SMALL))
    await service.aclose()
    assert posts(fake_openai) == 1 and outcome.possibly_billed


async def test_a_rate_limit_with_retry_after_is_retried_visibly_and_succeeds(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=0.2), Ok())
    waits: list[RetryWait] = []
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(
        GenerationRequest(prompt="patient fox", **SMALL), on_wait=waits.append
    )
    await service.aclose()
    assert posts(fake_openai) == 2 and outcome.ok
    assert len(waits) == 1 and waits[0].describe().startswith("rate limited, retrying in")
    assert "1 of" in waits[0].describe()


async def test_each_image_carries_its_own_cost_and_the_prices_used(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="three foxes", n=3, **SMALL))
    await service.aclose()
    assert outcome.ok and len(outcome.costs) == 3
    assert sum(outcome.costs.values()) == outcome.cost
    for generation in outcome.generations:
        usage = generation.usage_row
        assert usage is not None and usage.cost == outcome.costs[generation.id]
        assert usage.price_basis == "tokens" and usage.priced_at is not None
        assert usage.prices["unit"] == "per 1M tokens"
        assert usage.prices["image_out"]["source"] and usage.prices["image_out"]["as_of"]
        assert usage.request_key == generation.request_key
        assert generation.request_id and usage.request_id == generation.request_id
    assert db.usage_totals().cost == outcome.cost


async def test_an_image_whose_row_cannot_be_written_is_kept_with_a_recovery_record(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = db.finish_generation
    calls = {"n": 0}

    def flaky(generation_id: int, usage=None, **changes):  # noqa: ANN001, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise StorageError("The database stayed locked by another program.")
        return real(generation_id, usage=usage, **changes)

    monkeypatch.setattr(db, "finish_generation", flaky)
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(GenerationRequest(prompt="locked fox", n=3, **SMALL))
    await service.aclose()
    assert posts(fake_openai) == 1
    stuck = outcome.generations[1]
    assert stuck.status == "pending"
    records = recovery.read_records(home)
    assert [record["generation_id"] for _, record in records] == [stuck.id]
    record = records[0][1]
    assert Path(record["changes"]["file_path"]).is_file(), "the paid image was deleted"
    assert record["usage"]["cost"] is not None
    # Every image the API returned is on disk.
    files = list((home / "images").rglob("*.png"))
    assert len([f for f in files if f.parent.name != "thumbs"]) == 3


async def test_an_image_that_cannot_be_saved_keeps_its_bytes_and_its_cost(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dalletui.errors import GenerationError

    service = service_for(db, home, fake_openai)

    def full_disk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise GenerationError(ErrorKind.FILESYSTEM, "Cannot write images: the disk is full.")

    monkeypatch.setattr(service.images, "save", full_disk)
    outcome = await service.generate(GenerationRequest(prompt="full disk fox", n=2, **SMALL))
    await service.aclose()
    assert posts(fake_openai) == 1
    assert outcome.error is not None and outcome.error.kind == ErrorKind.FILESYSTEM
    for generation in outcome.generations:
        assert generation.status == "failed" and "kept at" in generation.error_message
        kept = Path(generation.file_path)
        assert kept.is_file() and kept.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert generation.usage_row is not None and generation.usage_row.cost is not None
    assert db.usage_totals().images == 2


async def test_a_cancel_after_the_images_arrived_still_records_them(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_for(db, home, fake_openai)
    real_save = service.images.save
    saving = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_save(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        loop.call_soon_threadsafe(saving.set)
        import time

        time.sleep(0.2)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(service.images, "save", slow_save)
    task = asyncio.create_task(
        service.generate(GenerationRequest(prompt="cancel me late", n=2, **SMALL))
    )
    await saving.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await service.aclose()
    rows = list(Generation.select())
    assert {g.status for g in rows} == {"succeeded"}
    assert all(Path(g.file_path).is_file() for g in rows)
    assert UsageStat.select().count() == 2


async def test_retry_sends_a_possibly_billed_request_again_only_when_asked(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.drop_connection())
    service = service_for(db, home, fake_openai)
    first = await service.generate(GenerationRequest(prompt="again fox", n=2, **SMALL))
    assert first.possibly_billed and posts(fake_openai) == 1
    old_id = first.generations[0].id
    again = await service.retry(old_id)
    await service.aclose()
    assert again.ok and posts(fake_openai) == 2
    body = fake_openai.generation_requests[-1].body
    assert body["prompt"] == "again fox" and body["n"] == 2 and body["quality"] == "low"
    assert db.get_generation(old_id).status == "possibly_billed"  # the record stays honest
    assert again.prompt.id == first.prompt.id


async def test_retry_refuses_a_succeeded_generation(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    from dalletui.errors import ValidationError

    service = service_for(db, home, fake_openai)
    done = await service.generate(GenerationRequest(prompt="fine fox", **SMALL))
    with pytest.raises(ValidationError, match="only a failed, cancelled"):
        await service.retry(done.generations[0].id)
    await service.aclose()
    assert posts(fake_openai) == 1


def test_recovery_record_round_trip(home: Path) -> None:
    path = recovery.write_record(
        home,
        generation_id=5,
        request_key="k",
        prompt="p",
        changes={"status": "succeeded", "file_path": "/x.png"},
        usage={"cost": Decimal("0.01")},
    )
    assert json.loads(path.read_text())["usage"]["cost"] == "0.01"
    ((_, record),) = recovery.read_records(home)
    changes, usage = recovery.record_values(record)
    assert usage == {"cost": Decimal("0.01")} and changes["file_path"] == "/x.png"


async def test_the_prompt_sent_is_the_prompt_stored_without_control_characters(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    service = service_for(db, home, fake_openai)
    outcome = await service.generate(
        GenerationRequest(prompt="a \x1b]52;c;aGk=\x07fox \x1b[2Jin snow", **SMALL)
    )
    await service.aclose()
    assert fake_openai.generation_requests[0].body["prompt"] == "a fox in snow"
    assert outcome.prompt.text == "a fox in snow"
    assert "Control characters were removed from the prompt." in outcome.warnings


async def test_a_cancel_during_a_retry_wait_is_cancelled_not_possibly_billed(
    db: DatabaseManager, home: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=30))
    service = service_for(db, home, fake_openai)
    waiting = asyncio.Event()
    task = asyncio.create_task(
        service.generate(
            GenerationRequest(prompt="patient fox", **SMALL), on_wait=lambda w: waiting.set()
        )
    )
    await asyncio.wait_for(waiting.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await service.aclose()
    assert posts(fake_openai) == 1
    assert {g.status for g in Generation.select()} == {"cancelled"}
    assert db.usage_totals().possibly_billed == 0
