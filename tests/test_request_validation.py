"""Requests are checked against the catalogue, with every problem named in one error."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from dalletui.errors import ValidationError
from dalletui.generation.catalog import ModelCatalog, catalog
from dalletui.generation.request import parse_size, validate_request
from dalletui.generation.types import GenerationRequest

BASE = GenerationRequest(prompt="a lighthouse at dusk, oil painting")
CURRENT = [spec.name for spec in catalog().current()]


def check(**changes: Any) -> list[str]:
    return validate_request(replace(BASE, **changes), catalog())


def problems(**changes: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        check(**changes)
    return caught.value.problems


def only_problem(**changes: Any) -> str:
    found = problems(**changes)
    assert len(found) == 1, found
    return found[0]


def test_default_request_is_valid_without_warnings() -> None:
    assert validate_request(BASE, catalog()) == []


def test_parse_size_is_exported() -> None:
    assert parse_size("1536x864") == (1536, 864)
    assert parse_size("auto") is None


@pytest.mark.parametrize("model", CURRENT)
@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "1024x1536", "auto"])
def test_every_current_model_accepts_standard_sizes(model: str, size: str) -> None:
    assert check(model=model, size=size) == []


@pytest.mark.parametrize("model", CURRENT)
def test_every_picker_size_validates(model: str) -> None:
    for size in catalog().sizes_for(model):
        check(model=model, size=size)  # warnings allowed, errors not


@pytest.mark.parametrize("size", ["1536x864", "864x1536", "2048x1152", "1024x3072", "2560x1440"])
def test_gpt_image_2_accepts_arbitrary_sizes(size: str) -> None:
    assert check(model="gpt-image-2", size=size) == []


@pytest.mark.parametrize(
    ("size", "fragments"),
    [
        ("1000x1000", ["multiples of 16", "1000 is not"]),
        ("1024x1000", ["multiples of 16", "1000 is not"]),
        ("4000x1000", ["aspect ratio must be between 1:3 and 3:1", "4:1", "3840x2160"]),
        ("512x512", ["262,144 pixels", "minimum is 655,360"]),
        ("3840x2176", ["3840x2160 or 2160x3840"]),
        ("1008x3200", ["aspect ratio", "(it is 1:3.17)"]),
    ],
)
def test_gpt_image_2_rejects_sizes_with_reasons(size: str, fragments: list[str]) -> None:
    message = only_problem(model="gpt-image-2", size=size)
    assert message.startswith(f"gpt-image-2 does not accept size {size}: ")
    for fragment in fragments:
        assert fragment in message


def test_large_sizes_are_experimental_warnings() -> None:
    warnings = check(model="gpt-image-2", size="3840x2160")
    assert warnings == [
        "Size 3840x2160 is above 2560x1440, which is experimental on gpt-image-2; results may vary."
    ]
    assert check(model="gpt-image-2.5-flare", size="2160x3840") != []
    assert check(model="gpt-image-2", size="2560x1440") == []


def test_gpt_image_2_5_has_no_pixel_minimum() -> None:
    assert check(model="gpt-image-2.5-sunburst", size="512x512") == []
    assert check(model="gpt-image-2.5-sunburst-2026-09-08", size="512x512") == []


@pytest.mark.parametrize(
    "model", ["gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2.6-sunburst", "chatgpt-image-latest"]
)
def test_standard_size_models_reject_arbitrary_sizes_listing_allowed(model: str) -> None:
    assert only_problem(model=model, size="1536x864") == (
        f"{model} does not accept size 1536x864; choose 1024x1024, 1536x1024, 1024x1536 or auto."
    )


@pytest.mark.parametrize("size", ["1536*864", "big", "1536x", "", " 1024x1024", "1024X1024"])
def test_malformed_sizes_are_rejected(size: str) -> None:
    message = only_problem(model="gpt-image-2", size=size)
    assert f"size '{size}'" in message
    assert "1024x1024, 1536x1024, 1024x1536, auto or any WIDTHxHEIGHT with" in message
    assert "multiples of 16" in message


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("dall-e-3", "dall-e-3 was retired on 2026-05-12; use gpt-image-2.5-sunburst or "
         "gpt-image-2.5-flare."),
        ("dall-e-2", "dall-e-2 was retired on 2026-05-12; use gpt-image-1-mini."),
        ("gpt-image-1", "gpt-image-1 was retired on 2026-10-23; use gpt-image-2.5-sunburst or "
         "gpt-image-2.5-flare."),
    ],
)  # fmt: skip
def test_retired_models_are_refused_naming_successors(model: str, expected: str) -> None:
    # Sizes valid for the old model do not matter: only the retirement is reported.
    assert only_problem(model=model, size="1792x1024", quality="hd") == expected


def test_retired_model_and_empty_prompt_are_both_reported() -> None:
    found = problems(model="dall-e-3", prompt="  ")
    assert len(found) == 2
    assert any("retired" in p for p in found) and any("empty" in p for p in found)


def test_unknown_model_passes_with_warning() -> None:
    warnings = check(model="gpt-image-9000", size="1000x1000", quality="xhigh")
    assert warnings == [
        "Model 'gpt-image-9000' is not in dalletui's catalogue; it is sent as-is and its cost "
        "is unknown."
    ]


def test_unknown_model_still_catches_typos() -> None:
    found = problems(model="gpt-image-9000", quality="hgih", n=0, size="big")
    assert len(found) == 3
    assert any("Quality 'hgih'" in p for p in found)


def test_unknown_model_can_be_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_request(
            replace(BASE, model="gpt-image-9000"), catalog(), allow_unknown_model=False
        )
    (message,) = caught.value.problems
    assert message.startswith("Model 'gpt-image-9000' is not in dalletui's catalogue; choose ")
    assert "gpt-image-1-mini" in message and "gpt-image-2.6-sunburst" in message
    assert "dall-e-3" not in message and "2026-04-21" not in message


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t "])
def test_empty_prompt_is_refused(prompt: str) -> None:
    assert only_problem(prompt=prompt) == "The prompt is empty; describe the image you want."


def test_prompt_length_limit() -> None:
    assert check(model="gpt-image-2", prompt="x" * 32_000) == []
    assert only_problem(model="gpt-image-2", prompt="x" * 40_123) == (
        "The prompt is 40,123 characters; gpt-image-2 accepts at most 32,000."
    )


def test_quality_per_model() -> None:
    assert check(model="gpt-image-2.5-sunburst", quality="xhigh") == []
    assert check(model="gpt-image-2.5-flare-2026-09-08", quality="max") == []
    assert only_problem(model="gpt-image-2", quality="xhigh") == (
        "Quality 'xhigh' is not available for gpt-image-2; choose low, medium, high or auto."
    )
    assert "Quality 'hd'" in only_problem(model="gpt-image-1-mini", quality="hd")


@pytest.mark.parametrize("n", [1, 10])
def test_n_in_range(n: int) -> None:
    assert check(n=n) == []


@pytest.mark.parametrize("n", [0, 11, -1])
def test_n_out_of_range(n: int) -> None:
    assert only_problem(n=n) == (
        f"The number of images is {n}; gpt-image-1-mini makes 1 to 10 per request."
    )


def test_output_formats() -> None:
    assert check(output_format="jpeg") == []
    assert check(output_format="webp") == []
    assert only_problem(output_format="gif") == (
        "Output format 'gif' is an API preview that dalletui does not support; "
        "choose png, webp or jpeg."
    )
    assert "svg" in only_problem(output_format="svg")
    assert only_problem(output_format="bmp") == (
        "Output format 'bmp' is not available for gpt-image-1-mini; choose png, webp or jpeg."
    )


def test_compression() -> None:
    assert check(output_format="webp", output_compression=50) == []
    assert check(output_format="jpeg", output_compression=0) == []
    assert check(output_format="jpeg", output_compression=100) == []
    assert only_problem(output_format="png", output_compression=50) == (
        "Output compression applies only to webp or jpeg output; leave it unset for png."
    )
    for bad in (101, -1):
        assert only_problem(output_format="jpeg", output_compression=bad) == (
            f"Output compression is {bad}; it must be 0 to 100."
        )
    assert len(problems(output_format="png", output_compression=150)) == 2


def test_transparent_background() -> None:
    assert check(background="transparent", output_format="png") == []
    assert check(background="transparent", output_format="webp") == []
    assert only_problem(background="transparent", output_format="jpeg") == (
        "A transparent background needs png or webp output, not jpeg."
    )
    assert check(model="gpt-image-2", background="transparent") == [
        "Transparent backgrounds are a preview feature on gpt-image-2; results may vary."
    ]
    assert check(model="gpt-image-2", background="opaque") == []
    assert "Background 'clear'" in only_problem(background="clear")


def test_partial_images() -> None:
    assert check(partial_images=3) == []
    for bad in (4, -1):
        assert only_problem(partial_images=bad) == (
            f"Partial images is {bad}; gpt-image-1-mini streams 0 to 3 partial images."
        )


def test_partial_images_on_a_model_without_streaming() -> None:
    text = resources.files("dalletui.generation").joinpath("catalog.json").read_text("utf-8")
    data = copy.deepcopy(json.loads(text, parse_float=Decimal))
    mini = next(m for m in data["models"] if m["name"] == "gpt-image-1-mini")
    mini.update(streaming=False, max_partial_images=0)
    custom = ModelCatalog.from_data(data)
    assert validate_request(BASE, custom) == []
    with pytest.raises(ValidationError) as caught:
        validate_request(replace(BASE, partial_images=2), custom)
    assert caught.value.problems == [
        "gpt-image-1-mini does not stream, so partial images must be 0."
    ]


def test_moderation() -> None:
    assert check(moderation="low") == []
    assert only_problem(moderation="high") == (
        "Moderation 'high' is not available for gpt-image-1-mini; choose auto or low."
    )


@pytest.mark.parametrize("model", CURRENT)
def test_every_current_model_takes_each_complexity(model: str) -> None:
    assert catalog().get(model).complexity == ("low", "medium", "high")  # type: ignore[union-attr]
    for value in (None, "low", "medium", "high"):
        assert problems_or_none(model=model, complexity=value) is None


def problems_or_none(**changes: Any) -> list[str] | None:
    try:
        check(**changes)
    except ValidationError as err:
        return err.problems
    return None


def test_complexity() -> None:
    assert BASE.complexity is None  # omitted: the model's default
    assert only_problem(complexity="max") == (
        "Complexity 'max' is not available for gpt-image-1-mini; choose low, medium or high."
    )
    assert only_problem(complexity="") == (
        "Complexity '' is not available for gpt-image-1-mini; choose low, medium or high."
    )
    assert check(complexity="high", quality="low") == []  # independent of quality


def test_retired_dall_e_models_take_no_complexity() -> None:
    for name in ("dall-e-2", "dall-e-3"):
        assert catalog().get(name).complexity == ()  # type: ignore[union-attr]


def test_complexity_on_a_model_without_it() -> None:
    text = resources.files("dalletui.generation").joinpath("catalog.json").read_text("utf-8")
    data = copy.deepcopy(json.loads(text, parse_float=Decimal))
    mini = next(m for m in data["models"] if m["name"] == "gpt-image-1-mini")
    mini.update(complexity=[])
    custom = ModelCatalog.from_data(data)
    assert validate_request(BASE, custom) == []
    with pytest.raises(ValidationError) as caught:
        validate_request(replace(BASE, complexity="low"), custom)
    assert caught.value.problems == ["gpt-image-1-mini does not take a complexity; leave it unset."]


def test_unknown_model_takes_the_complexities_of_current_models() -> None:
    assert check(model="gpt-image-9", complexity="medium") == [
        "Model 'gpt-image-9' is not in dalletui's catalogue; it is sent as-is and its cost is "
        "unknown."
    ]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ValidationError) as caught:
        check(
            prompt=" ",
            size="1536x864",
            quality="ultra",
            n=0,
            output_format="jpeg",
            background="transparent",
            partial_images=9,
            moderation="none",
            complexity="extreme",
        )
    found = caught.value.problems
    assert len(found) == 8, found
    assert str(caught.value) == " ".join(found)
    assert all(p.endswith(".") for p in found)
