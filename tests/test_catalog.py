"""The model catalogue: loaded from package data, complete, consistent, and overridable."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from typing import Any, get_args

import pytest

from dalletui.errors import ConfigError
from dalletui.generation.catalog import (
    USER_CONFIG_SOURCE,
    ModelCatalog,
    SizeRule,
    catalog,
    load_catalog,
    or_list,
    parse_size,
)

STANDARD = ["1024x1024", "1536x1024", "1024x1536"]
ARBITRARY = [
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
]
SNAPSHOTS = {
    "gpt-image-2-2026-04-21": "gpt-image-2",
    "gpt-image-2.5-sunburst-2026-09-08": "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare-2026-09-08": "gpt-image-2.5-flare",
}


def raw_data() -> dict[str, Any]:
    text = resources.files("dalletui.generation").joinpath("catalog.json").read_text("utf-8")
    return json.loads(text, parse_float=Decimal)


def test_catalog_json_is_package_data_and_loads() -> None:
    assert resources.files("dalletui.generation").joinpath("catalog.json").is_file()
    assert len(load_catalog().models()) == len(raw_data()["models"])


def test_catalog_is_cached() -> None:
    assert catalog() is catalog()


def test_every_sdk_model_is_catalogued() -> None:
    from openai.types.image_model import ImageModel

    sdk_models = set(get_args(ImageModel))
    assert sdk_models, "the SDK's ImageModel literal should list models"
    assert sdk_models == {spec.name for spec in catalog().models()}


def test_default_model() -> None:
    cat = catalog()
    assert cat.default_model() == "gpt-image-1-mini"
    spec = cat.get("gpt-image-1-mini")
    assert spec is not None and not spec.is_retired


@pytest.mark.parametrize(
    ("name", "retired_on", "successors"),
    [
        ("gpt-image-1", date(2026, 10, 23), ("gpt-image-2.5-sunburst", "gpt-image-2.5-flare")),
        ("dall-e-3", date(2026, 5, 12), ("gpt-image-2.5-sunburst", "gpt-image-2.5-flare")),
        ("dall-e-2", date(2026, 5, 12), ("gpt-image-1-mini",)),
    ],
)
def test_retired_models_stay_with_date_and_successor(
    name: str, retired_on: date, successors: tuple[str, ...]
) -> None:
    cat = catalog()
    spec = cat.get(name)
    assert spec is not None
    assert spec.is_retired and cat.is_retired(name)
    assert spec.retired_on == retired_on
    assert spec.successors == successors
    assert spec not in cat.current()
    assert spec in cat.models() and spec not in cat.models(include_retired=False)


def test_current_models_and_unknown_names() -> None:
    cat = catalog()
    names = [spec.name for spec in cat.current()]
    assert "gpt-image-2.6-sunburst" in names and "chatgpt-image-latest" in names
    assert all(spec.status == "current" and spec.retired_on is None for spec in cat.current())
    assert cat.get("no-such-model") is None
    assert not cat.is_retired("no-such-model")
    assert "gpt-image-2" in cat and "no-such-model" not in cat


@pytest.mark.parametrize(("snapshot", "parent"), SNAPSHOTS.items())
def test_snapshots_share_the_parent_spec(snapshot: str, parent: str) -> None:
    cat = catalog()
    child, base = cat.get(snapshot), cat.get(parent)
    assert child is not None and base is not None
    assert child.snapshot_of == parent
    assert child.label != base.label
    same = ("sizes", "qualities", "output_formats", "n_range", "token_prices", "max_prompt_chars")
    for field in same:
        assert getattr(child, field) == getattr(base, field), field


def test_sizes_and_qualities_per_family() -> None:
    cat = catalog()
    for spec in cat.current():
        assert list(spec.sizes.fixed) == STANDARD
        assert spec.sizes.allow_auto
        assert (spec.sizes.rule is not None) == (spec.name in ARBITRARY), spec.name
        assert spec.max_prompt_chars == 32_000
        assert spec.n_range == (1, 10)
        assert spec.output_formats == ("png", "webp", "jpeg")
        assert "gif" not in spec.output_formats and "svg" not in spec.output_formats
        assert set(spec.compression_formats) == {"webp", "jpeg"}
        assert set(spec.transparent_formats) == {"png", "webp"}
        assert spec.streaming and spec.max_partial_images == 3
        assert set(spec.moderation) == {"auto", "low"}
        has_extra = {"xhigh", "max"} <= set(spec.qualities)
        assert has_extra == spec.name.startswith("gpt-image-2.5"), spec.name
    dalle3 = cat.get("dall-e-3")
    assert dalle3 is not None
    assert dalle3.n_range == (1, 1) and dalle3.max_prompt_chars == 4000
    assert dalle3.qualities == ("standard", "hd") and not dalle3.sizes.allow_auto
    dalle2 = cat.get("dall-e-2")
    assert dalle2 is not None and dalle2.max_prompt_chars == 1000
    assert dalle2.sizes.fixed == ("256x256", "512x512", "1024x1024")


def test_gpt_image_2_size_rule_values() -> None:
    spec = catalog().get("gpt-image-2")
    assert spec is not None and spec.sizes.rule is not None
    rule = spec.sizes.rule
    assert rule.multiple_of == 16
    assert (rule.min_aspect, rule.max_aspect) == (Fraction(1, 3), Fraction(3))
    assert rule.max_size == (3840, 2160)
    assert (rule.min_pixels, rule.max_pixels) == (655_360, 8_294_400)
    assert rule.experimental_above == (2560, 1440)
    sunburst = catalog().get("gpt-image-2.5-sunburst")
    assert sunburst is not None and sunburst.sizes.rule is not None
    assert sunburst.sizes.rule.min_pixels is None and sunburst.sizes.rule.max_pixels is None


def test_sizes_for_picker() -> None:
    cat = catalog()
    assert cat.sizes_for("gpt-image-1-mini") == [*STANDARD, "auto"]
    two = cat.sizes_for("gpt-image-2")
    assert two[:3] == STANDARD and two[-1] == "auto"
    assert {"1536x864", "864x1536", "2048x2048"} <= set(two)
    assert len(two) == len(set(two))
    assert cat.sizes_for("dall-e-3") == ["1024x1024", "1792x1024", "1024x1792"]
    assert cat.sizes_for("some-future-model") == [*STANDARD, "auto"]


def test_sizes_for_filters_picker_sizes_by_rule() -> None:
    data = raw_data()
    data["picker_sizes"] = ["1536x864", "512x512", "4000x1000"]
    cat = ModelCatalog.from_data(data)
    assert cat.sizes_for("gpt-image-2") == [*STANDARD, "1536x864", "auto"]
    # 2.5 has no pixel minimum, so 512x512 is offered there.
    assert cat.sizes_for("gpt-image-2.5-flare") == [*STANDARD, "1536x864", "512x512", "auto"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1536x864", (1536, 864)),
        ("16x16", (16, 16)),
        ("auto", None),
        ("", None),
        ("1536X864", None),
        ("1536 x 864", None),
        (" 1024x1024", None),
        ("01024x1024", None),
        ("1024x", None),
        ("0x1024", None),
        ("-16x16", None),
        ("1024x1024x3", None),
    ],
)
def test_parse_size(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_size(text) == expected


def test_size_rule_clauses() -> None:
    rule = SizeRule(
        multiple_of=16,
        min_aspect=Fraction(1, 3),
        max_aspect=Fraction(3),
        max_size=(3840, 2160),
        min_pixels=655_360,
        max_pixels=8_294_400,
        experimental_above=(2560, 1440),
    )
    assert rule.allows(1536, 864) and rule.allows(2160, 3840) and rule.allows(3840, 2160)
    assert rule.problems(1000, 1008) == ["width and height must be multiples of 16 (1000 is not)"]
    assert rule.problems(1000, 1000)[0] == "width and height must be multiples of 16 (1000 is not)"
    assert any("aspect ratio" in p and "4:1" in p for p in rule.problems(4000, 1000))
    assert any("3840x2160 or 2160x3840" in p for p in rule.problems(3200, 2400))
    assert rule.problems(512, 512) == ["it has 262,144 pixels and the minimum is 655,360"]
    assert not rule.is_experimental(2560, 1440)
    assert rule.is_experimental(2048, 2048)
    assert SizeRule().allows(1, 99999)


def test_or_list() -> None:
    assert or_list([]) == ""
    assert or_list(["a"]) == "a"
    assert or_list(["a", "b", "c"]) == "a, b or c"
    assert or_list(["a", "b"], "and") == "a and b"


def test_prices_carry_date_and_source() -> None:
    cat = catalog()
    mini = cat.get("gpt-image-1-mini")
    assert mini is not None
    prices = mini.token_prices
    assert prices.text_in is not None and prices.text_in.amount == Decimal("2.00")
    assert prices.image_in is not None and prices.image_in.amount == Decimal("2.50")
    assert prices.image_out is not None and prices.image_out.amount == Decimal("8.00")
    assert prices.text_out is None
    assert prices.image_out.source == "official pricing page" and prices.image_out.as_of
    one_five = cat.get("gpt-image-1.5")
    assert one_five is not None and one_five.token_prices.text_out is not None
    assert one_five.token_prices.text_out.amount == Decimal(10)
    for spec in cat.models():
        for price in (
            *(getattr(spec.token_prices, k) for k in ("text_in", "image_in", "image_out")),
            *(entry.price for entry in spec.per_image_prices),
        ):
            if price is not None:
                assert price.as_of and price.source, spec.name
                assert isinstance(price.amount, Decimal)


@pytest.mark.parametrize("name", ["gpt-image-2.6-flare", "chatgpt-image-latest"])
def test_unpublished_prices_are_unknown(name: str) -> None:
    spec = catalog().get(name)
    assert spec is not None
    assert not spec.price_known
    assert not spec.token_prices.known and spec.per_image_prices == ()


def test_per_image_tables() -> None:
    cat = catalog()
    dalle3, dalle2, gpt1 = cat.get("dall-e-3"), cat.get("dall-e-2"), cat.get("gpt-image-1")
    assert dalle3 is not None and dalle2 is not None and gpt1 is not None
    hd_wide = dalle3.per_image_price("hd", "1792x1024")
    assert hd_wide is not None and hd_wide.amount == Decimal("0.120")
    assert dalle3.per_image_price("hd", "512x512") is None
    any_quality = dalle2.per_image_price("whatever", "256x256")
    assert any_quality is not None and any_quality.amount == Decimal("0.016")
    high = gpt1.per_image_price("high", "1024x1024")
    assert high is not None and high.amount == Decimal("0.167")
    assert gpt1.per_image_price("high", "1536x1024") is None
    assert not gpt1.token_prices.known and gpt1.price_known


def test_override_changes_one_price_and_records_user_config() -> None:
    cat = load_catalog({"gpt-image-2": {"image_out": 28.0, "as_of": "2026-12-01"}})
    spec = cat.get("gpt-image-2")
    assert spec is not None
    image_out = spec.token_prices.image_out
    assert image_out is not None
    assert image_out.amount == Decimal("28.0")
    assert image_out.source == USER_CONFIG_SOURCE and image_out.as_of == "2026-12-01"
    text_in = spec.token_prices.text_in
    assert text_in is not None and text_in.amount == Decimal(5)
    assert text_in.source == "third-party listing"
    snapshot = cat.get("gpt-image-2-2026-04-21")
    assert snapshot is not None and snapshot.token_prices == spec.token_prices
    # The shared default catalogue is not touched.
    default = catalog().get("gpt-image-2")
    assert default is not None and default.token_prices.image_out is not None
    assert default.token_prices.image_out.amount == Decimal(30)


def test_override_can_price_an_unpriced_model_and_per_image_table() -> None:
    cat = load_catalog(
        {
            "gpt-image-2.6-flare": {"text_in": 4, "image_in": 6, "image_out": 24},
            "dall-e-3": {"per_image": {"hd": {"1024x1024": "0.09"}}},
        }
    )
    flare = cat.get("gpt-image-2.6-flare")
    assert flare is not None and flare.price_known
    dalle3 = cat.get("dall-e-3")
    assert dalle3 is not None
    hd = dalle3.per_image_price("hd", "1024x1024")
    assert hd is not None and hd.amount == Decimal("0.09") and hd.source == USER_CONFIG_SOURCE
    kept = dalle3.per_image_price("hd", "1792x1024")
    assert kept is not None and kept.amount == Decimal("0.120")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"gpt-image-9": {"image_out": 1}}, "not in the catalogue"),
        ({"gpt-image-2": {"image_output": 1}}, "unknown key"),
        ({"gpt-image-2": {"image_out": -1}}, "non-negative"),
        ({"gpt-image-2": {"image_out": "cheap"}}, "non-negative"),
        ({"gpt-image-2": {"image_out": True}}, "non-negative"),
        ({"gpt-image-2": {"per_image": {"hd": 0.1}}}, "per_image"),
        ({"gpt-image-2": 28}, "table"),
    ],
)
def test_bad_overrides_raise_config_error(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_catalog(overrides)


def test_inconsistent_catalogue_is_rejected() -> None:
    data = raw_data()
    looped = copy.deepcopy(data)
    looped["templates"]["gpt-image"]["inherits"] = "gpt-image-arbitrary"
    with pytest.raises(ValueError, match="loop"):
        ModelCatalog.from_data(looped)
    orphan = copy.deepcopy(data)
    orphan["models"][-1]["successors"] = []
    with pytest.raises(ValueError, match="successor"):
        ModelCatalog.from_data(orphan)
    bad_default = copy.deepcopy(data)
    bad_default["default_model"] = "dall-e-2"
    with pytest.raises(ValueError, match="default model"):
        ModelCatalog.from_data(bad_default)
    incomplete = copy.deepcopy(data)
    del incomplete["templates"]["gpt-image"]["qualities"]
    with pytest.raises(ValueError, match="incomplete"):
        ModelCatalog.from_data(incomplete)
