"""The data models: validation, dict round-trip, display helpers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dalletui.errors import ValidationError
from dalletui.storage.models import (
    Batch,
    Generation,
    Prompt,
    Template,
    TemplateVariable,
    UsageStat,
    format_money,
    humanize_age,
    shorten,
)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_prompt_rejects_empty(text: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        Prompt(text=text).validate()


def test_prompt_rejects_over_long() -> None:
    with pytest.raises(ValidationError, match="32,001 characters"):
        Prompt(text="x" * 32_001).validate()
    Prompt(text="x" * 32_000).validate()


@pytest.mark.parametrize("size", ["1024", "1024x", "x1024", "0x1024", "1024X1024", "big"])
def test_generation_rejects_bad_size(size: str) -> None:
    g = Generation(model="gpt-image-2", size=size, provider="openai", request_key="k")
    with pytest.raises(ValidationError, match="WIDTHxHEIGHT"):
        g.validate()


def test_generation_enums_and_negatives() -> None:
    g = Generation(
        model="m", size="1024x1024", quality="ultra", status="done", provider="x", width=-1
    )
    with pytest.raises(ValidationError) as info:
        g.validate()
    text = " ".join(info.value.problems)
    assert "Quality 'ultra'" in text and "Status 'done'" in text and "width" in text


def test_usage_rejects_negative_tokens_and_cost() -> None:
    with pytest.raises(ValidationError) as info:
        UsageStat(model="m", input_text_tokens=-1, cost=Decimal("-0.01")).validate()
    assert len(info.value.problems) == 2


@pytest.mark.parametrize("name", ["1abc", "with space", "dash-ed", "", "é"])
def test_variable_names_are_identifiers(name: str) -> None:
    with pytest.raises(ValidationError, match="not valid"):
        TemplateVariable(name=name, values=["a"]).validate()


@pytest.mark.parametrize("values", [[], "abc", ["ok", ""], ["ok", 3], None])
def test_variable_values_non_empty_list_of_strings(values: object) -> None:
    with pytest.raises(ValidationError):
        TemplateVariable(name="style", values=values).validate()


def test_template_and_batch_validation() -> None:
    with pytest.raises(ValidationError, match="needs a name"):
        Template(name=" ", body="x").validate()
    with pytest.raises(ValidationError, match="body is empty"):
        Template(name="t", body="").validate()
    with pytest.raises(ValidationError, match="status"):
        Batch(name="b", status="weird").validate()


def test_round_trip_every_model() -> None:
    when = dt.datetime(2026, 11, 1, 12, 30, 5)
    samples = [
        Prompt(id=3, text="fox", text_hash="h", created_at=when, last_used_at=when, use_count=2),
        Template(id=1, name="t", body="a {x}", created_at=when, updated_at=when),
        TemplateVariable(id=2, name="x", values=["a", "b"], created_at=when, updated_at=when),
        Batch(id=4, name="b", template=1, params={"n": 1}, created_at=when),
        Generation(
            id=5,
            prompt=3,
            batch=4,
            model="gpt-image-2",
            size="1536x864",
            params={"a": 1},
            request_key="k",
            provider="openai",
            created_at=when,
        ),
        UsageStat(
            id=6, generation=5, model="gpt-image-2", cost=Decimal("0.012345"), created_at=when
        ),
    ]
    for original in samples:
        data = original.to_dict()
        copy = type(original).from_dict(data)
        assert copy.to_dict() == data
        assert copy.id == original.id
    generation = Generation.from_dict(samples[4].to_dict())
    assert generation.prompt_id == 3 and generation.created_at == when
    assert UsageStat.from_dict(samples[5].to_dict()).cost == Decimal("0.012345")


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Unknown field 'colour'"):
        Prompt.from_dict({"text": "x", "colour": "red"})


def test_display_helpers() -> None:
    ref = dt.datetime(2026, 11, 26, 12, 0)
    assert humanize_age(ref - dt.timedelta(seconds=10), ref) == "just now"
    assert humanize_age(ref - dt.timedelta(minutes=5), ref) == "5 min ago"
    assert humanize_age(ref - dt.timedelta(hours=3), ref) == "3 h ago"
    assert humanize_age(ref - dt.timedelta(days=1, hours=2), ref) == "yesterday"
    assert humanize_age(ref - dt.timedelta(days=12), ref) == "12 days ago"
    assert humanize_age(ref - dt.timedelta(days=90), ref) == "2026-08-28"
    assert humanize_age(None) == "never"
    assert format_money(None) == "unknown"
    assert format_money(Decimal(0)) == "$0.00"
    assert format_money(Decimal("0.04213")) == "$0.0421"
    assert format_money(Decimal("1234.5")) == "$1,234.50"
    assert shorten("a  long\nprompt text here", 12) == "a long prom…"
    assert Prompt(text="x", is_favorite=True).star == "★"
    assert Generation(duration_ms=1530).duration_display == "1.5s"
    assert UsageStat(cost=None).cost_display == "unknown"
