"""CRUD for every entity, prompt de-duplication, favourites, cascades, usage aggregation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, UsageStat


def _generation(
    db: DatabaseManager, text: str = "a red fox", n: int = 1, **kw: object
) -> list[Generation]:
    prompt = db.record_prompt_use(text)
    params = dict(
        provider="openai",
        model="gpt-image-2",
        size="1024x1024",
        quality="high",
        output_format="png",
    )
    params.update(kw)
    return db.create_generations(prompt, n, **params)  # type: ignore[arg-type]


def test_same_text_is_one_row_and_bumps_use(db: DatabaseManager) -> None:
    first = db.record_prompt_use("  a red fox in snow\n")
    later = dt.datetime.now().astimezone() + dt.timedelta(minutes=5)
    again = db.record_prompt_use("a red fox in snow", when=later)
    assert again.id == first.id
    assert again.use_count == 2
    assert again.last_used_at == later
    assert again.text == "a red fox in snow"
    assert db.counts()["prompts"] == 1


def test_record_prompt_validates(db: DatabaseManager) -> None:
    with pytest.raises(ValidationError):
        db.record_prompt_use("   ")
    assert db.counts()["prompts"] == 0


def test_prompt_update_favourite_and_delete(db: DatabaseManager) -> None:
    prompt = db.record_prompt_use("fox")
    assert db.toggle_favorite(prompt.id).is_favorite is True
    assert db.get_prompt(prompt.id).is_favorite is True
    assert db.toggle_favorite(prompt.id).is_favorite is False
    assert db.set_favorite(prompt.id, True).is_favorite is True
    updated = db.update_prompt(prompt.id, notes="nice", text=" wolf ")
    assert (updated.notes, updated.text) == ("nice", "wolf")
    db.delete_prompt(prompt.id)
    with pytest.raises(NotFoundError):
        db.get_prompt(prompt.id)
    with pytest.raises(NotFoundError):
        db.toggle_favorite(9999)


def test_purging_a_prompt_removes_generations_but_never_the_ledger(db: DatabaseManager) -> None:
    rows = _generation(db, n=2)
    for row in rows:
        db.finish_generation(
            row.id, usage={"output_image_tokens": 10, "cost": Decimal("0.01")}, status="succeeded"
        )
    assert db.counts()["usage_stats"] == 2
    removed = db.delete_prompt(rows[0].prompt_id)
    assert {g.id for g in removed} == {r.id for r in rows}
    assert db.counts()["generations"] == 0
    assert db.counts()["usage_stats"] == 2
    assert db.usage_totals().cost == Decimal("0.02")


def test_generation_lifecycle(db: DatabaseManager) -> None:
    rows = _generation(db, n=3, params={"n": 3})
    assert [r.status for r in rows] == ["pending"] * 3
    assert len({r.request_key for r in rows}) == 1
    assert [r.image_index for r in rows] == [0, 1, 2]
    done = db.finish_generation(
        rows[0].id,
        status="succeeded",
        file_path="/x.png",
        width=8,
        height=8,
        usage={"input_text_tokens": 5, "output_image_tokens": 100, "cost": Decimal("0.003")},
    )
    assert done.status == "succeeded"
    usage = UsageStat.get(UsageStat.generation == done.id)
    assert usage.total_tokens == 105 and usage.model == "gpt-image-2"
    assert db.fail_generations([rows[1].id], "failed", "rate_limit", "slow down") == 1
    assert db.fail_generations([rows[2].id], "interrupted", "interrupted", "gone") == 1
    statuses = {g.id: g.status for g in db.list_generations()}
    assert statuses == {rows[0].id: "succeeded", rows[1].id: "failed", rows[2].id: "interrupted"}
    assert db.get_generation(rows[1].id).error_message == "slow down"
    listed = db.generations_for_prompt(rows[0].prompt_id)
    assert listed[-1].usage_row.cost == Decimal("0.003")
    assert listed[0].usage_row is None
    db.delete_generation(rows[2].id)
    assert db.counts()["generations"] == 2


def test_generation_gallery_keyset(db: DatabaseManager) -> None:
    for i in range(7):
        _generation(db, text=f"prompt {i}")
    first = db.list_generations(limit=3)
    second = db.list_generations(limit=3, before_id=first[-1].id)
    assert [g.id for g in first] == [7, 6, 5]
    assert [g.id for g in second] == [4, 3, 2]
    assert first[0].prompt.text == "prompt 6"


def test_templates_and_variables_crud(db: DatabaseManager) -> None:
    template = db.create_template("portrait", "a {animal} in {style}", "desc")
    with pytest.raises(ValidationError, match="already exists"):
        db.create_template("portrait", "other")
    assert db.get_template_by_name("portrait").id == template.id
    updated = db.update_template(template.id, body="an {animal}")
    assert updated.body == "an {animal}" and updated.updated_at >= template.created_at
    variable = db.set_variable("animal", ["fox", "owl"])
    assert db.set_variable("animal", ["cat"]).id == variable.id
    assert db.variables_by_name(["animal", "nope"])["animal"].values == ["cat"]
    with pytest.raises(ValidationError):
        db.set_variable("bad name", ["x"])
    with pytest.raises(ValidationError):
        db.update_variable(variable.id, values=[])
    db.delete_variable(variable.id)
    assert db.list_variables() == []
    batch = db.create_batch("run", total=4, template_id=template.id)
    db.delete_template(template.id)
    assert db.get_batch(batch.id).template_id is None
    assert db.list_templates() == []


def test_batches_crud_and_generation_link(db: DatabaseManager) -> None:
    batch = db.create_batch(
        "night run", [("a fox", {}), ("an owl", {})], params={"model": "gpt-image-2"}
    )
    assert batch.planned == 2 and batch.status == "planned"
    rows = _generation(db, n=2, batch_id=batch.id)
    db.update_batch(batch.id, status="running")
    assert db.get_batch(batch.id).status == "running"
    assert [g.id for g in db.list_generations(batch_id=batch.id)] == [r.id for r in reversed(rows)]
    with pytest.raises(ValidationError):
        db.update_batch(batch.id, status="exploded")
    db.delete_batch(batch.id)
    assert all(g.batch_id is None for g in db.list_generations())
    assert db.list_batches() == []


def test_usage_aggregates(db: DatabaseManager) -> None:
    today = dt.datetime.now()
    entries = [
        ("gpt-image-2", today, Decimal("0.10"), 100),
        ("gpt-image-2", today - dt.timedelta(days=1), Decimal("0.05"), 50),
        ("gpt-image-1-mini", today - dt.timedelta(days=3), Decimal("0.01"), 10),
        ("chatgpt-image-latest", today, None, 70),
    ]
    for index, (model, when, cost, tokens) in enumerate(entries):
        generation = _generation(db, text=f"p{index}", model=model)[0]
        db.finish_generation(
            generation.id,
            status="succeeded",
            usage={
                "output_image_tokens": tokens,
                "input_text_tokens": 1,
                "cost": cost,
                "created_at": when,
            },
        )
    total = db.usage_totals()
    assert (total.images, total.cost, total.unknown_cost_count) == (4, Decimal("0.16"), 1)
    assert total.total_tokens == 234 and total.input_tokens == 4 and total.output_tokens == 230
    start_today = dt.datetime.combine(today.date(), dt.time())
    assert db.usage_totals(since=start_today).images == 2
    days = db.usage_by_day(7)
    assert len(days) == 7 and days[-1].label == today.date().isoformat()
    assert days[-1].images == 2 and days[-1].cost == Decimal("0.10")
    assert days[-2].cost == Decimal("0.05") and days[-3].images == 0
    by_model = {row.label: row for row in db.usage_by_model()}
    assert by_model["gpt-image-2"].images == 2 and by_model["gpt-image-2"].cost == Decimal("0.15")
    assert by_model["chatgpt-image-latest"].unknown_cost_count == 1
    assert not by_model["chatgpt-image-latest"].cost_known
