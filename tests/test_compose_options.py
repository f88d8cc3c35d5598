"""Compose's pickers for background, output compression, moderation, partial images and
complexity (issue 14): catalogue-driven choices, the ``values()`` / ``apply()`` round trip used by
reuse, and the catalogue's one-sentence problems shown inline."""

from __future__ import annotations

import pytest
from textual.widgets import Select, Static

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.services.history import reuse_params
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.messages import ReusePrompt
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.widgets.compose_params import COMPRESSION_STEPS, ParamPickers

SIZE = (100, 30)

FULL = {
    "model": "gpt-image-1.5",
    "size": "1536x1024",
    "quality": "high",
    "n": 1,
    "output_format": "webp",
    "background": "transparent",
    "output_compression": 85,  # not a step: offered because it was asked for
    "partial_images": 3,
    "moderation": "low",
    "complexity": "high",
}


def pickers(app: DalleTuiApp) -> ParamPickers:
    return app.screen.query_one(ParamPickers)


def messages(app: DalleTuiApp) -> str:
    box = app.screen.query_one("#compose-messages")
    return "\n".join(str(s.render()) for s in box.query(Static))


async def test_new_pickers_start_neutral_with_catalogue_choices(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        found = pickers(app)
        values = found.values()
        assert {k: values[k] for k in FULL if k not in ("model", "size", "quality")} == {
            "n": 1,
            "output_format": "png",
            "background": "auto",
            "output_compression": None,
            "partial_images": 0,
            "moderation": "auto",
            "complexity": None,
        }
        assert found.choices("background") == ["auto", "opaque", "transparent"]
        assert found.choices("moderation") == ["auto", "low"]
        assert found.choices("partial_images") == [0, 1, 2, 3]
        assert found.choices("complexity") == [None, "low", "medium", "high"]
        assert found.choices("output_compression") == list(COMPRESSION_STEPS)


async def test_values_and_apply_round_trip(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        found = pickers(app)
        found.apply(FULL)
        await pilot.pause()
        assert found.values() == FULL
        assert 85 in found.choices("output_compression")
        request = GenerationRequest(prompt="a fox", **found.values())
        assert request.complexity == "high" and request.output_compression == 85
        # Back to the neutral values: None is a choice, not "leave as it is".
        neutral = {"output_compression": None, "complexity": None, "partial_images": 0}
        found.apply(neutral)
        await pilot.pause()
        assert {k: found.values()[k] for k in neutral} == neutral


async def test_compression_applies_only_to_jpeg_and_webp(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        found = pickers(app)
        compression = app.screen.query_one("#pick-compression", Select)
        assert compression.disabled  # png
        found.apply({"output_format": "jpeg", "output_compression": 60})
        await pilot.pause()
        assert not compression.disabled and found.values()["output_compression"] == 60
        app.screen.query_one("#pick-format", Select).value = "png"
        await pilot.pause()
        assert compression.disabled and found.values()["output_compression"] is None
        app.screen.query_one("#pick-format", Select).value = "webp"
        await pilot.pause()
        assert found.values()["output_compression"] == 60  # kept while it could not apply


async def test_partial_images_need_one_image(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        found = pickers(app)
        found.apply({"partial_images": 2})
        await pilot.pause()
        assert found.values()["partial_images"] == 2
        found.apply({"n": 4})
        await pilot.pause()
        assert app.screen.query_one("#pick-partials", Select).disabled
        assert found.values()["partial_images"] == 0


async def test_transparent_with_jpeg_shows_the_catalogue_sentence(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        pickers(app).apply({"output_format": "jpeg", "background": "transparent"})
        await pilot.pause(0.5)
        assert "A transparent background needs png or webp output, not jpeg." in messages(app)
        pickers(app).apply({"output_format": "png"})
        await pilot.pause(0.5)
        assert "transparent" not in messages(app)


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"model": "gpt-image-2", "background": "transparent"}, "preview feature on gpt-image-2"),
        ({"moderation": "low"}, None),
        ({"complexity": "medium"}, None),
    ],
)
async def test_other_options_validate_inline(
    app: DalleTuiApp, params: dict[str, object], sentence: str | None
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        pickers(app).apply(params)
        await pilot.pause(0.5)
        shown = messages(app)
        if sentence is None:
            assert shown == ""
        else:
            assert sentence in shown


async def test_reuse_brings_back_the_new_options(app: DalleTuiApp, services: Services) -> None:
    request = GenerationRequest(prompt="a quiet harbour", **{**FULL, "model": "gpt-image-1-mini"})
    outcome = await services.generation.generate(request, provider="offline")
    [generation] = outcome.generations
    params = reuse_params(generation)
    assert {k: params[k] for k in FULL if k != "model"} == {
        k: v for k, v in FULL.items() if k != "model"
    }
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(ReusePrompt("a quiet harbour", params))
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        rebuilt = screen.build_request()
        assert rebuilt.params() == {**request.params(), "seed": None}
