"""SVG snapshots of the Templates and Usage screens, the same on every machine and every day.

Usage shows real dates ("Mon 09 Mar"), so these tests fix the clock: the service's ``now`` and
the storage layer's are patched to one afternoon, and the seeded usage rows sit around it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from tests.test_tui_usage import seed_usage

FIXED_NOW = dt.datetime(2026, 3, 15, 15, 30)


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    monkeypatch.setattr("dalletui.services.usage.now", lambda: FIXED_NOW)
    monkeypatch.setattr("dalletui.storage.usage.now", lambda: FIXED_NOW)
    return FIXED_NOW


@pytest.fixture
def with_templates(services: Services) -> Services:
    templates = services.templates
    templates.create_variable("style", ["watercolour", "oil painting", "pixel art"], "media")
    templates.create_variable(
        "subject", ["a red fox", "an old lighthouse", "a sleeping cat", "a tram in the rain"]
    )
    templates.create_variable("light", ["dawn", "noon", "golden hour", "moonlit"])
    templates.create_template(
        "portrait",
        "A {style} portrait of {subject}, {light} light, soft focus",
        "three media, four subjects, four lights",
    )
    templates.create_template(
        "poster", "A travel poster of {subject} in {{retro}} style, {mood} palette", "needs mood"
    )
    templates.create_template("still life", "A still life of lemons on a blue plate")
    return services


@pytest.fixture
def with_usage(services: Services, fixed_clock: dt.datetime) -> Services:
    noon = fixed_clock.replace(hour=12, minute=0)
    seed_usage(
        services,
        [
            (0, "gpt-image-1.5", Decimal("0.042"), 40, 4160),
            (0, "gpt-image-1.5", Decimal("0.042"), 40, 4160),
            (0, "gpt-image-1-mini", None, 30, 1056),
            (1, "gpt-image-1-mini", Decimal("0.011"), 30, 1056),
            (3, "gpt-image-1.5", Decimal("0.167"), 55, 6240),
            (3, "gpt-image-1.5", Decimal("0.167"), 55, 6240),
            (6, "dall-e-3", Decimal("0.04"), 0, 0),
            (12, "gpt-image-1-mini", Decimal("0.005"), 20, 272),
            (20, "gpt-image-1.5", None, 35, 4160),
            (45, "dall-e-3", Decimal("0.08"), 0, 0),
        ],
        noon=noon,
    )
    return services


async def settle(pilot: Pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_templates_screen(snap_compare, app: DalleTuiApp, with_templates: Services) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("f4")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_template_editor_flags_unknown_variables(
    snap_compare, app: DalleTuiApp, with_templates: Services
) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("down", "e")  # poster: {mood} is not defined
        await settle(pilot)
        pilot.app.screen.query_one(TextArea).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_variables_tab(snap_compare, app: DalleTuiApp, with_templates: Services) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("v", "down")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_usage_screen(snap_compare, app: DalleTuiApp, with_usage: Services) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("f5")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_usage_screen_small(snap_compare, app: DalleTuiApp, with_usage: Services) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("f5")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
