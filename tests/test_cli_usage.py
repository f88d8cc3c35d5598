"""`dalletui usage` and `usage reprice`: spend from the append-only ledger."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dalletui.cli import main
from dalletui.storage import DatabaseManager
from dalletui.storage.models import UsageStat


def _row(
    db: DatabaseManager, *, cost: Decimal | None, tokens: int, model: str = "gpt-image-1-mini"
):  # noqa: ANN202, E501
    prompt = db.record_prompt_use(f"usage {cost} {tokens}")
    (generation,) = db.create_generations(
        prompt,
        1,
        provider="openai",
        model=model,
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    return db.finish_generation(
        generation.id,
        usage={"output_image_tokens": tokens, "input_text_tokens": 10, "cost": cost},
        status="succeeded",
    )


def test_usage_shows_spend_and_possibly_billed_requests_apart(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    _row(db, cost=Decimal("0.0071"), tokens=100)
    prompt = db.record_prompt_use("timed out")
    rows = db.create_generations(
        prompt,
        2,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    db.mark_possibly_billed([r.id for r in rows], "timeout", "The API did not answer.")
    db.close()
    assert main(["usage"]) == 0
    out = capsys.readouterr().out
    assert "all time" in out
    assert "1 image, at least $0.0071, 1 request possibly billed, cost unknown" in out
    assert main(["usage", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    all_time = data["periods"][2]
    assert all_time["possibly_billed_requests"] == 1 and all_time["cost_known"] is False


def test_reprice_prices_unknown_rows_once_and_never_changes_known_ones(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    known = _row(db, cost=Decimal("0.5"), tokens=100)
    unknown = _row(db, cost=None, tokens=4160)
    db.close()
    assert main(["usage", "reprice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Priced 1 ledger rows")
    db.open()
    priced = UsageStat.get(UsageStat.generation == unknown.id)
    assert priced.cost is not None and priced.cost > 0
    assert priced.price_basis == "tokens" and priced.prices["image_out"]["source"]
    assert UsageStat.get(UsageStat.generation == known.id).cost == Decimal("0.5")
    first = priced.cost
    db.close()
    assert main(["usage", "reprice"]) == 0
    assert capsys.readouterr().out.startswith("Priced 0 ledger rows")
    db.open()
    assert UsageStat.get(UsageStat.generation == unknown.id).cost == first
