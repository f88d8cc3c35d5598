"""SVG snapshots of every screen but History, the gallery and the image view (see
test_snapshots_history.py and test_snapshots_image_view.py) at 80×24 and at 160×45.

The data is the other snapshot files' (the same seeding, the same fixed clocks), so a picture
differs between sizes only by the layout: 80×24 is the smallest terminal dalletui is made for,
160×45 a large one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from dalletui.services import generation as generation_module
from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.widgets.template_editor import TemplateEditor
from tests import test_snapshots_batches as batches_snapshots
from tests import test_snapshots_trash as trash_snapshots
from tests.test_snapshots_compose import SteppingClock, generate_once
from tests.test_tui_usage import seed_usage

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 45), id="160x45")]

#: The Usage screen's "now" (its dates are drawn: "Mon 09 Mar").
FIXED_NOW = dt.datetime(2026, 3, 15, 15, 30)


async def settle(pilot: Pilot[Any]) -> None:
    """Every worker done and the screen drawn, the text cursors still."""
    app = pilot.app
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    for editor in app.screen.query(TextArea):
        editor.cursor_blink = False
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def generation_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation_module, "time", SteppingClock())


@pytest.fixture
def usage_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    monkeypatch.setattr("dalletui.services.usage.now", lambda: FIXED_NOW)
    monkeypatch.setattr("dalletui.storage.usage.now", lambda: FIXED_NOW)
    return FIXED_NOW


def seed_templates(services: Services) -> None:
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


def seed_spend(services: Services, now: dt.datetime) -> None:
    """Four models over two weeks, with the amounts that used to be cut ("$0.0125")."""
    seed_usage(
        services,
        [
            (0, "gpt-image-1.5", Decimal("0.0125"), 40, 4160),
            (0, "gpt-image-1-mini", Decimal("0.0125"), 30, 1056),
            (0, "gpt-image-1-mini", None, 30, 1056),
            (1, "gpt-image-1-mini", Decimal("0.011"), 30, 1056),
            (2, "gpt-image-1", Decimal("0.0125"), 20, 272),
            (3, "gpt-image-1.5", Decimal("0.1675"), 55, 6240),
            (6, "dall-e-3", Decimal("0.04"), 0, 0),
            (12, "gpt-image-1-mini", Decimal("0.005"), 20, 272),
            (20, "gpt-image-1.5", None, 35, 4160),
            (45, "dall-e-3", Decimal("0.08"), 0, 0),
        ],
        noon=now.replace(hour=12, minute=0),
    )


# -- Compose ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_compose_empty(snap_compare: Any, app: DalleTuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_compose_with_a_result(
    snap_compare: Any, app: DalleTuiApp, generation_clock: None, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await generate_once(pilot)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- Templates -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_templates(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    seed_templates(services)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f4")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_template_editor_after_a_failed_save(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    seed_templates(services)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        editor = pilot.app.screen
        assert isinstance(editor, TemplateEditor)
        editor.query_one("#template-name", Input).value = "broken"
        editor.query_one("#template-body", TextArea).load_text(
            "a {style portrait of {subject|} in {} light, {{ and } {9x}"
        )
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- Batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_batches(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await batches_snapshots.seed(services)
        pilot.app.refresh_status()
        await pilot.press("f7")
        await batches_snapshots.settle(pilot)
        await pilot.press("down")  # the older batch: one refused, its thumbnails
        await batches_snapshots.settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- Usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_usage(
    snap_compare: Any,
    app: DalleTuiApp,
    services: Services,
    usage_clock: dt.datetime,
    size: tuple[int, int],
) -> None:
    seed_spend(services, usage_clock)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f5")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_usage_tables(
    snap_compare: Any,
    app: DalleTuiApp,
    services: Services,
    usage_clock: dt.datetime,
    size: tuple[int, int],
) -> None:
    """Scrolled to the day × model table: every amount whole, however many columns."""
    seed_spend(services, usage_clock)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f5")
        await settle(pilot)
        screen = pilot.app.screen
        body = screen.query_one("#usage-body")
        body.scroll_to_widget(screen.query_one("#usage-day-model"), animate=False, top=True)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- Trash -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_trash(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        trash_snapshots.seed(services)
        pilot.app.refresh_status()
        await pilot.press("f6")
        await settle(pilot)
        await pilot.press("down", "space")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- Help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, app: DalleTuiApp, size: tuple[int, int]) -> None:
    """Help opened from Compose (F1): the keys of the prompt, the screen and the app."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
