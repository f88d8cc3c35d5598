"""End-to-end proof of the storage layer and its integration.

Run it with ``python -m verification.verify_phase3``.

Runs against a temporary data folder (never the user's), prints one PASS/FAIL line per check and
exits non-zero if any check fails. Every check asserts on real results, so each can fail.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from decimal import Decimal
from pathlib import Path

from dalletui import timeutil
from verification.registry import CHECKS, check


def _manager(home: Path):  # noqa: ANN202
    from dalletui.storage import DatabaseManager

    return DatabaseManager(home / "dalletui.db").open()


def _expect_invalid(instance: object, fragment: str) -> None:
    from dalletui.errors import ValidationError

    try:
        instance.validate()  # type: ignore[attr-defined]
    except ValidationError as exc:
        assert fragment in str(exc), f"message {exc!s} lacks {fragment!r}"
        return
    raise AssertionError(f"{type(instance).__name__} accepted invalid data ({fragment})")


@check("database: created with tables, indexes, FTS5, WAL and schema version")
def check_database(home: Path) -> None:
    db = _manager(home)
    tables = set(db.table_names())
    wanted = {"prompts", "template_variables", "generations", "batches", "usage_stats", "templates"}
    assert wanted <= tables, f"missing tables {wanted - tables}"
    assert "prompts_fts" in tables, "no FTS5 table"
    indexes = set(db.index_names())
    for name in (
        "prompt_created_at",
        "prompt_is_favorite",
        "generation_prompt_id",
        "generation_batch_id",
        "generation_model",
        "usagestat_model",
    ):
        assert name in indexes, f"missing index {name}"
    assert db.pragma("journal_mode") == "wal", "not in WAL mode"
    assert db.pragma("foreign_keys") == 1, "foreign keys off"
    assert db.schema_version() >= 1, "no schema version recorded"
    db.close()


@check("models: validate() rejects bad input and accepts good input")
def check_validation(home: Path) -> None:
    from dalletui.storage.models import (
        Batch,
        Generation,
        Prompt,
        Template,
        TemplateVariable,
        UsageStat,
    )

    _expect_invalid(Prompt(text="   "), "empty")
    _expect_invalid(Prompt(text="x" * 32_001), "32,001")
    _expect_invalid(Generation(model="m", size="huge", provider="p"), "WIDTHxHEIGHT")
    _expect_invalid(Generation(model="m", size="1024x1024", quality="ultra", provider="p"), "ultra")
    _expect_invalid(Generation(model="m", size="1024x1024", status="done", provider="p"), "done")
    _expect_invalid(UsageStat(model="m", output_image_tokens=-5), "negative")
    _expect_invalid(UsageStat(model="m", cost=Decimal("-1")), "negative")
    _expect_invalid(TemplateVariable(name="9lives", values=["a"]), "not valid")
    _expect_invalid(TemplateVariable(name="ok", values=[]), "non-empty list")
    _expect_invalid(Template(name="t", body=" "), "empty")
    _expect_invalid(Batch(name="b", status="??"), "status")
    Prompt(text="a red fox").validate()
    Generation(model="gpt-image-2", size="1536x864", provider="openai").validate()
    TemplateVariable(name="animal", values=["fox"]).validate()


@check("models: to_dict()/from_dict() round-trip for every model")
def check_round_trip(home: Path) -> None:
    from dalletui.storage.models import ALL_MODELS

    db = _manager(home)
    prompt = db.record_prompt_use("round trip fox")
    template = db.create_template("rt", "a {animal}")
    db.set_variable("animal", ["fox", "owl"])
    batch = db.create_batch("rt batch", [("a fox", {"animal": "fox"})], template_id=template.id)
    generation = db.create_generations(
        prompt,
        1,
        provider="offline",
        model="gpt-image-2",
        size="1024x1024",
        quality="low",
        output_format="png",
        batch_id=batch.id,
        params={"n": 1},
    )[0]
    db.finish_generation(
        generation.id,
        status="succeeded",
        usage={"output_image_tokens": 10, "cost": Decimal("0.000123")},
    )
    for model in ALL_MODELS:
        row = model.select().first()
        if row is None:  # import_journal holds rows only while an import runs
            continue
        data = row.to_dict()
        again = model.from_dict(data).to_dict()
        assert again == data, f"{model.__name__} round-trip differs: {data} != {again}"
    db.close()


@check("models: display helpers (short text, age, money, unknown cost)")
def check_formatting(home: Path) -> None:
    from dalletui.storage.models import Prompt, format_money, humanize_age

    ref = dt.datetime(2026, 11, 26, 12, 0)
    assert humanize_age(ref - dt.timedelta(minutes=5), ref) == "5 min ago"
    assert humanize_age(ref - dt.timedelta(days=3), ref) == "3 days ago"
    assert format_money(Decimal("0.0421")) == "$0.0421"
    assert format_money(None) == "unknown"
    assert Prompt(text="word " * 40).short_text.endswith("…")
    assert len(Prompt(text="word " * 40).short_text) <= 60


@check("CRUD: prompts, templates, variables, batches, generations, usage; the ledger survives")
def check_crud(home: Path) -> None:
    from dalletui.errors import NotFoundError

    db = _manager(home)
    first = db.record_prompt_use("  crud owl ")
    again = db.record_prompt_use("crud owl")
    assert first.id == again.id and again.use_count == 2, "same text made a second row"
    db.update_prompt(first.id, notes="note")
    assert db.get_prompt(first.id).notes == "note"
    template = db.create_template("crud", "an {animal}")
    db.update_template(template.id, description="d")
    assert db.get_template(template.id).description == "d"
    variable = db.set_variable("animal", ["owl"])
    db.update_variable(variable.id, values=["owl", "cat"])
    assert db.get_variable(variable.id).values == ["owl", "cat"]
    batch = db.create_batch("crud batch", total=2, template_id=template.id)
    db.update_batch(batch.id, status="running")
    rows = db.create_generations(
        first,
        2,
        provider="offline",
        model="gpt-image-2",
        size="1024x1024",
        quality="low",
        output_format="png",
        batch_id=batch.id,
    )
    for row in rows:
        db.finish_generation(row.id, status="succeeded", usage={"output_image_tokens": 5})
    db.delete_template(template.id)
    assert db.get_batch(batch.id).template_id is None, "batch kept a deleted template"
    db.delete_batch(batch.id)
    assert db.get_generation(rows[0].id).batch_id is None, "generation kept a deleted batch"
    db.delete_variable(variable.id)
    db.delete_prompt(first.id)
    counts = db.counts()
    assert counts["generations"] == 0, f"no cascade: {counts}"
    assert counts["usage_stats"] == 2, f"purging a prompt erased spend: {counts}"
    try:
        db.get_prompt(first.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("deleted prompt still found")
    db.close()


@check("favourites: toggle on and off persists")
def check_favourites(home: Path) -> None:
    db = _manager(home)
    prompt = db.record_prompt_use("star me")
    assert db.toggle_favorite(prompt.id).is_favorite is True
    assert db.get_prompt(prompt.id).is_favorite is True
    assert db.toggle_favorite(prompt.id).is_favorite is False
    assert db.get_prompt(prompt.id).is_favorite is False
    db.close()


@check("search: words, prefixes, phrases, filters and 40 hostile strings")
def check_search(home: Path) -> None:
    from dalletui.storage import PromptQuery

    db = _manager(home)
    db.import_prompts(["a red fox in the snow", "cyberpunk city at night", "the fox and the hound"])

    def found(text: str, **kw: object) -> set[str]:
        return {p.text for p in db.search_prompts(PromptQuery(text=text, **kw)).items}  # type: ignore[arg-type]

    assert found("fox", prefix_last=False) == {"a red fox in the snow", "the fox and the hound"}
    assert found("cyb") == {"cyberpunk city at night"}, "prefix while typing failed"
    assert found('"red fox"') == {"a red fox in the snow"}, "phrase failed"
    assert found('"fox red"') == set(), "phrase matched words out of order"
    hostile = [
        '"',
        "*",
        "-",
        "NEAR",
        "AND",
        "OR",
        "NOT",
        "(",
        ")",
        "()",
        "fox AND",
        "NEAR(a b)",
        "text:fox",
        "^",
        ":",
        "'",
        "\\",
        "%",
        "_",
        "🔥",
        "👨‍👩‍👧",
        "\x00",
        '"open',
        'a"b',
        "fox -snow",
        "-fox",
        "*fox",
        "fox**",
        "{x}",
        "[x]",
        "; DROP TABLE prompts;--",
        "\u200b",
        "ab" * 200,
        "日本語",
        "NOT NOT",
        "OR OR",
        "+",
        "--",
        "fox*snow",
        "AND(",
    ]
    for text in hostile:
        db.search_prompts(PromptQuery(text=text))
    assert len(hostile) >= 40
    assert db.counts()["prompts"] == 3, "a hostile query changed data"
    db.close()


@check("usage: aggregates by day, model and all time; unknown cost stays unknown")
def check_usage(home: Path) -> None:
    db = _manager(home)
    prompt = db.record_prompt_use("usage fox")
    today = timeutil.now()
    plan = [
        ("gpt-image-2", Decimal("0.25"), today),
        ("gpt-image-2", Decimal("0.10"), today),
        ("chatgpt-image-latest", None, today - dt.timedelta(days=2)),
    ]
    for model, cost, when in plan:
        row = db.create_generations(
            prompt,
            1,
            provider="openai",
            model=model,
            size="1024x1024",
            quality="high",
            output_format="png",
        )[0]
        db.finish_generation(
            row.id,
            status="succeeded",
            usage={"output_image_tokens": 100, "cost": cost, "created_at": when},
        )
    total = db.usage_totals()
    assert total.images == 3 and total.total_tokens == 300, total
    assert total.cost == Decimal("0.35") and total.unknown_cost_count == 1, total
    by_model = {t.label: t for t in db.usage_by_model()}
    assert by_model["gpt-image-2"].cost == Decimal("0.35")
    assert by_model["chatgpt-image-latest"].unknown_cost_count == 1
    days = db.usage_by_day(7)
    assert days[-1].images == 2 and days[-3].images == 1 and days[-2].images == 0, days
    db.close()


def _load_extra_checks() -> None:
    """Later phases add checks in sibling modules (generation, UI); import them if present."""
    import importlib

    for name in (
        "verification.checks_generation",
        "verification.checks_trust",
        "verification.checks_batches",
        "verification.checks_portable",
        "verification.checks_ui",
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def main() -> int:
    _load_extra_checks()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="dalletui-verify-") as tmp:
        os.environ["DALLETUI_CONFIG"] = str(Path(tmp) / "no-config.toml")
        os.environ.pop("OPENAI_API_KEY", None)
        for index, (name, fn) in enumerate(CHECKS):
            home = Path(tmp) / f"home{index}"
            os.environ["DALLETUI_HOME"] = str(home)
            try:
                fn(home)
            except Exception as exc:  # noqa: BLE001 (a failing check must not stop the others)
                failures += 1
                print(f"FAIL  {name}\n      {type(exc).__name__}: {exc}")
                if os.environ.get("VERIFY_TRACEBACK"):
                    traceback.print_exc()
            else:
                print(f"PASS  {name}")
            finally:
                from dalletui.storage.models import database

                if not database.is_closed():
                    database.close()
    print(f"\n{len(CHECKS) - failures}/{len(CHECKS)} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
