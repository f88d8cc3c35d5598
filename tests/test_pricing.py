"""Costs come from usage tokens or per-image tables; anything unknown stays None."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from dalletui.formatting import format_money as format_cost
from dalletui.generation.catalog import ModelSpec, catalog, load_catalog
from dalletui.generation.pricing import compute_cost, estimate_cost
from dalletui.generation.types import Usage

SQUARE = {"size": "1024x1024", "quality": "medium", "n": 1}


def spec(name: str) -> ModelSpec:
    found = catalog().get(name)
    assert found is not None, name
    return found


def test_gpt_image_1_mini_cost_from_tokens() -> None:
    usage = Usage(input_text_tokens=50, input_image_tokens=1000, output_image_tokens=4160)
    # 50 x $2.00 + 1,000 x $2.50 + 4,160 x $8.00, per million tokens.
    expected = (50 * Decimal("2.00") + 1000 * Decimal("2.50") + 4160 * Decimal("8.00")) / 10**6
    assert expected == Decimal("0.03588")
    cost = compute_cost(spec("gpt-image-1-mini"), usage, **SQUARE)
    assert isinstance(cost, Decimal)
    assert cost == Decimal("0.03588")


def test_text_output_counts_only_where_priced() -> None:
    usage = Usage(input_text_tokens=100, output_image_tokens=1000, output_text_tokens=200)
    # gpt-image-1.5 prices text out at $10: 100 x 5 + 1000 x 32 + 200 x 10 = 34,500 per 1M.
    assert compute_cost(spec("gpt-image-1.5"), usage, **SQUARE) == Decimal("0.0345")
    # gpt-image-1-mini has no text-out price: those tokens add nothing.
    assert compute_cost(spec("gpt-image-1-mini"), usage, **SQUARE) == Decimal("0.0082")


def test_token_cost_does_not_multiply_by_n() -> None:
    usage = Usage(input_text_tokens=20, output_image_tokens=2000)
    one = compute_cost(spec("gpt-image-2"), usage, size="1536x864", quality="high", n=1)
    four = compute_cost(spec("gpt-image-2"), usage, size="1536x864", quality="high", n=4)
    assert one == four == Decimal("0.0601")


def test_snapshot_costs_like_parent() -> None:
    usage = Usage(input_text_tokens=10, output_image_tokens=1000)
    parent = compute_cost(spec("gpt-image-2.5-flare"), usage, **SQUARE)
    assert parent == Decimal("0.03005")
    assert compute_cost(spec("gpt-image-2.5-flare-2026-09-08"), usage, **SQUARE) == parent


def test_token_priced_model_without_usage_is_unknown() -> None:
    assert compute_cost(spec("gpt-image-2"), None, **SQUARE) is None


@pytest.mark.parametrize("name", ["gpt-image-2.6-flare", "chatgpt-image-latest"])
def test_unpublished_price_is_unknown_not_zero(name: str) -> None:
    usage = Usage(input_text_tokens=10, output_image_tokens=1000)
    assert compute_cost(spec(name), usage, **SQUARE) is None


def test_unknown_model_is_unknown() -> None:
    assert compute_cost(None, Usage(output_image_tokens=1), **SQUARE) is None


def test_missing_component_price_makes_cost_unknown() -> None:
    mini = spec("gpt-image-1-mini")
    partial = replace(mini, token_prices=replace(mini.token_prices, image_in=None))
    assert compute_cost(partial, Usage(output_image_tokens=1000), **SQUARE) == Decimal("0.008")
    assert (
        compute_cost(partial, Usage(input_image_tokens=1, output_image_tokens=1), **SQUARE) is None
    )


def test_dall_e_3_per_image() -> None:
    dalle3 = spec("dall-e-3")
    hd_wide = compute_cost(dalle3, None, size="1792x1024", quality="hd", n=1)
    assert hd_wide == Decimal("0.120")
    assert compute_cost(dalle3, None, size="1024x1792", quality="standard", n=1) == Decimal("0.08")
    assert compute_cost(dalle3, None, size="1024x1024", quality="hd", n=1) == Decimal("0.08")
    # Usage, if an old row has any, does not change a per-image price.
    assert compute_cost(
        dalle3, Usage(output_image_tokens=99), size="1792x1024", quality="hd", n=1
    ) == (Decimal("0.12"))
    assert compute_cost(dalle3, None, size="1536x1024", quality="hd", n=1) is None
    assert compute_cost(dalle3, None, size="1024x1024", quality="auto", n=1) is None


def test_dall_e_2_per_image_times_n() -> None:
    cost = compute_cost(spec("dall-e-2"), None, size="512x512", quality="standard", n=3)
    assert cost == Decimal("0.054")
    assert compute_cost(spec("dall-e-2"), None, size="256x256", quality="auto", n=2) == Decimal(
        "0.032"
    )


def test_gpt_image_1_per_image_at_1024_only() -> None:
    gpt1 = spec("gpt-image-1")
    usage = Usage(input_text_tokens=10, output_image_tokens=4160)
    assert compute_cost(gpt1, usage, size="1024x1024", quality="high", n=2) == Decimal("0.334")
    assert compute_cost(gpt1, None, size="1024x1024", quality="low", n=1) == Decimal("0.011")
    assert compute_cost(gpt1, usage, size="1536x1024", quality="high", n=1) is None
    assert compute_cost(gpt1, usage, size="1024x1024", quality="auto", n=1) is None


def test_overrides_change_cost() -> None:
    usage = Usage(output_image_tokens=1_000_000)
    overridden = load_catalog({"gpt-image-2": {"image_out": 28.0}}).get("gpt-image-2")
    assert compute_cost(overridden, usage, **SQUARE) == Decimal(28)
    assert compute_cost(spec("gpt-image-2"), usage, **SQUARE) == Decimal(30)


def test_override_prices_a_model_with_unpublished_price() -> None:
    cat = load_catalog({"chatgpt-image-latest": {"text_in": 5, "image_in": 8, "image_out": 40}})
    usage = Usage(input_text_tokens=1000, output_image_tokens=1000)
    assert compute_cost(cat.get("chatgpt-image-latest"), usage, **SQUARE) == Decimal("0.045")


def test_n_below_one_is_a_bug() -> None:
    with pytest.raises(ValueError):
        compute_cost(spec("dall-e-2"), None, size="256x256", quality="standard", n=0)


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (None, "unknown"),
        (Decimal("0.0421"), "$0.0421"),
        (Decimal("0.03588"), "$0.0359"),
        (Decimal("0.12"), "$0.1200"),
        (Decimal("0"), "$0.00"),
        (Decimal("0.00001"), "<$0.0001"),
        (Decimal("0.99996"), "$1.00"),
        (Decimal("1"), "$1.00"),
        (Decimal("12.345"), "$12.35"),
        (Decimal("1234.5"), "$1,234.50"),
    ],
)
def test_format_cost(cost: Decimal | None, text: str) -> None:
    assert format_cost(cost) == text


def test_format_estimate_is_marked() -> None:
    assert format_cost(Decimal("0.08"), estimate=True) == "~$0.0800"
    assert format_cost(None, estimate=True) == "unknown"


def test_estimate_cost() -> None:
    dalle3 = spec("dall-e-3")
    assert estimate_cost(dalle3, size="1024x1024", quality="hd", n=1) == Decimal("0.080")
    mini = spec("gpt-image-1-mini")
    assert estimate_cost(mini, size="1024x1024", quality="low", n=2) is None
    typical = Usage(input_text_tokens=50, output_image_tokens=1000)
    assert estimate_cost(
        mini, size="1024x1024", quality="low", n=2, typical_usage=typical
    ) == Decimal("0.0162")
    assert estimate_cost(None, size="1024x1024", quality="low", n=1) is None
    assert (
        estimate_cost(
            spec("gpt-image-2.6-flare"), size="auto", quality="auto", n=1, typical_usage=typical
        )
        is None
    )
