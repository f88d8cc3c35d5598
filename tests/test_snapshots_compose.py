"""SVG snapshots of the Compose screen: empty, and after one offline generation.

The offline provider draws the same image for the same prompt; the service's clock is replaced by
one that ticks 0.4 s per reading, so durations are the same on every machine.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.retry import WaitCallback
from dalletui.generation.types import GenerationRequest, PartialCallback, ProviderResult
from dalletui.services import generation as generation_module
from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.widgets.results import PossiblyBilledSlot

PROMPT = "a red fox sitting in fresh snow at dawn, watercolor"


class SteppingClock:
    """Stands in for the ``time`` module in the generation service."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 0.4
        return self.now


class TimedOutProvider:
    """Every request times out after it may have reached the API."""

    name = "offline"
    offline = True

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        raise GenerationError(
            ErrorKind.TIMEOUT,
            "No answer within 300 s; the request may have been billed.",
            possibly_billed=True,
            request_id="req_7f3a9c",
        )

    async def aclose(self) -> None:
        """Nothing to release."""


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation_module, "time", SteppingClock())


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    for editor in app.screen.query(TextArea):
        editor.cursor_blink = False
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def generate_once(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    editor = pilot.app.screen.query_one("#prompt", TextArea)
    editor.load_text(PROMPT)
    await pilot.press("ctrl+g")
    await settle(pilot)


def test_compose_empty(snap_compare: Any, app: DalleTuiApp) -> None:
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_compose_after_one_generation(
    snap_compare: Any, app: DalleTuiApp, fixed_clock: None
) -> None:
    assert snap_compare(app, terminal_size=(120, 40), run_before=generate_once)


def test_compose_after_one_generation_small_terminal(
    snap_compare: Any, app: DalleTuiApp, fixed_clock: None
) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=generate_once)


def test_compose_possibly_billed_card(
    snap_compare: Any, app: DalleTuiApp, services: Services, fixed_clock: None
) -> None:
    services.generation._providers["offline"] = TimedOutProvider()

    async def run_before(pilot: Pilot[Any]) -> None:
        await generate_once(pilot)
        pilot.app.screen.query_one(PossiblyBilledSlot).focus()  # its keys show in the footer
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_compose_editing_with_a_mask(
    snap_compare: Any, app: DalleTuiApp, fixed_clock: None, size: tuple[int, int]
) -> None:
    """After one image, `e` on its card: the edit panel (its thumbnail, the mask), the Edit
    button, and everything still on screen at 80x24."""

    async def run_before(pilot: Pilot[Any]) -> None:
        from PIL import Image

        from dalletui.tui.widgets.edit_panel import EditPanel
        from dalletui.tui.widgets.results import ImageSlot

        await generate_once(pilot)
        screen = pilot.app.screen
        card = screen.query_one(ImageSlot)
        card.focus()
        await pilot.press("e")
        panel = screen.query_one(EditPanel)
        while not panel.editing:
            await pilot.pause(0.02)
        path = card.generation.file_path
        mask = pilot.app.services.settings.home / "door-mask.png"
        with Image.open(path) as image:
            Image.new("RGBA", image.size, (0, 0, 0, 0)).save(mask)
        screen.query_one("#prompt", TextArea).focus()
        await pilot.press("ctrl+o")
        screen.query_one("#edit-path").value = f"mask:{mask}"
        await pilot.press("enter")
        while panel.overlay is None:
            await pilot.pause(0.02)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
