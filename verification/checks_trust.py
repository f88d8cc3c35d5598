"""verify_phase3 checks for trust: no silent re-sends, an append-only ledger, newer databases."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

from verification.registry import check


def _services(home: Path, **settings: object):  # noqa: ANN202
    from dalletui.config import Settings
    from dalletui.services.context import open_services

    return open_services(Settings(home=home, **settings))  # type: ignore[arg-type]


@check("billing: cut-off and timed-out requests reach the server once, marked possibly billed")
def check_possibly_billed(home: Path) -> None:
    from dalletui.generation.types import GenerationRequest
    from tests.fakes import FakeOpenAIServer, Fault

    async def scenario(services, server) -> None:  # noqa: ANN001
        request = GenerationRequest(prompt="verify billing", model="gpt-image-1-mini", n=2)
        for fault in (Fault.cut_after_headers(), Fault.slow(3)):
            before = len(server.generation_requests)
            server.script(fault)
            outcome = await services.generation.generate(request)
            assert len(server.generation_requests) == before + 1, "the request was re-sent"
            assert outcome.possibly_billed, outcome.error
            assert "dalletui retry" in str(outcome.error)
            assert {g.status for g in outcome.generations} == {"possibly_billed"}
        waits = []
        server.script(Fault.rate_limit(retry_after=0.1))
        outcome = await services.generation.generate(request, on_wait=waits.append)
        assert outcome.ok and len(waits) == 1, (outcome.error, waits)
        usage = services.usage.all_time()
        assert usage.possibly_billed == 2 and usage.images == 2 and not usage.cost_known, usage
        await services.generation.aclose()

    with FakeOpenAIServer() as server:
        services = _services(
            home,
            api_key="sk-verify",
            base_url=server.base_url,
            provider="openai",
            request_timeout=0.5,
        )
        try:
            asyncio.run(scenario(services, server))
        finally:
            services.close()


@check("ledger: purging a prompt with images leaves spend unchanged")
def check_ledger(home: Path) -> None:
    from dalletui.storage import DatabaseManager

    db = DatabaseManager(home / "dalletui.db").open()
    prompt = db.record_prompt_use("verify ledger")
    rows = db.create_generations(
        prompt,
        3,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    for row in rows:
        db.finish_generation(row.id, usage={"cost": Decimal("0.0071")}, status="succeeded")
    before = db.usage_totals().cost
    db.delete_prompt(prompt.id)
    assert db.usage_totals().cost == before == Decimal("0.0213"), db.usage_totals()
    db.close()


@check("storage: a database from a newer dalletui is refused and left unchanged")
def check_newer_database(home: Path) -> None:
    from dalletui.errors import StorageError
    from dalletui.storage import DatabaseManager
    from dalletui.storage.database import code_schema_version

    newer = code_schema_version() + 1
    path = home / "dalletui.db"
    DatabaseManager(path).open().close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    try:
        DatabaseManager(path).open()
    except StorageError as exc:
        assert "newer dalletui" in str(exc) and str(newer) in str(exc), exc
    else:
        raise AssertionError("a newer database was opened")
    assert path.read_bytes() == before
