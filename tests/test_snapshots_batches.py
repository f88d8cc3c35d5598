"""SVG snapshots of the Batches screen and of the dialog that runs a template as a batch.

The batches are real runs through a fake provider that draws a flat 16 px image per prompt
(the same colours every run), refuses some prompts and times out on one (possibly billed); one
batch is then left as a cancel part-way leaves it. Times are set relative to now, far from any
boundary ("3 h ago", "took 12 s"), so the picture is the same on every machine and every day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from textual.pilot import Pilot

from dalletui.config import Settings
from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.types import GenerationRequest, ProviderImage, ProviderResult
from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.widgets.batch_dialog import BatchDialog
from tests.test_tui_batches import tiny_png


class ScriptedProvider:
    """Refuses prompts containing a phrase of ``refuse``, times out on ``time_out``."""

    name = "offline"
    offline = True

    def __init__(self) -> None:
        self.refuse: tuple[str, ...] = ()
        self.time_out: tuple[str, ...] = ()

    async def generate(
        self, request: GenerationRequest, on_partial: Any = None, on_wait: Any = None
    ) -> ProviderResult:
        prompt = request.prompt
        if any(word in prompt for word in self.refuse):
            raise GenerationError(
                ErrorKind.CONTENT_POLICY, "Refused by the safety system.", status_code=400
            )
        if any(word in prompt for word in self.time_out):
            raise GenerationError(
                ErrorKind.TIMEOUT,
                "No answer within 300 s; the request may have been billed.",
                possibly_billed=True,
            )
        return ProviderResult(images=[ProviderImage(data=tiny_png(prompt))], extra={})

    async def aclose(self) -> None:
        """Nothing to release."""


async def seed(services: Services) -> None:
    provider = ScriptedProvider()
    services.generation._providers["offline"] = provider  # type: ignore[assignment]
    templates = services.templates
    templates.create_variable("animal", ["fox", "owl", "cat"])
    templates.create_template("critters", "a {animal} in the snow, {ink|oil}", "six prompts")
    templates.create_template("towers", "a {stone|glass} tower at {dawn|noon|dusk}")
    batches = services.batches
    now = dt.datetime.now()

    provider.refuse = ("owl in the snow, oil",)
    first = batches.create(batches.planner().plan("critters"), concurrency=1)
    await batches.run(first.id)
    started = now - dt.timedelta(hours=3, minutes=10)
    services.db.update_batch(
        first.id,
        created_at=started,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=12),
    )

    # A cancel part-way, made exact: when a stop lands depends on timing, so the two prompts
    # "never sent" are refused first and then put back to planned, as a cancel leaves them.
    provider.refuse = ("glass tower at noon", "glass tower at dusk")
    provider.time_out = ("stone tower at dusk",)
    second = batches.create(batches.planner().plan("towers"), concurrency=1)
    await batches.run(second.id)
    for item in batches.items(second.id, ["failed"]):
        services.db.finish_batch_item(item.id, "planned", undo_attempt=True)
    services.db.update_batch(second.id, status="cancelled", stop_reason="Cancelled by the user.")
    started = now - dt.timedelta(minutes=26)
    services.db.update_batch(
        second.id,
        created_at=started,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=7),
    )


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    app = pilot.app
    for _ in range(50):
        if all(worker.is_finished for worker in app.workers):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def test_batches_screen(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await seed(services)
        pilot.app.refresh_status()
        await pilot.press("f7")
        await settle(pilot)
        await pilot.press("down")  # the older batch: one refused, its thumbnails
        await settle(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_batches_cancelled_with_a_possibly_billed_prompt(
    snap_compare: Any, app: DalleTuiApp, services: Services
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await seed(services)
        pilot.app.refresh_status()
        await pilot.press("f7")
        await settle(pilot)
        await pilot.press("enter")  # the detail, full height
        await settle(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


@pytest.fixture
def settings(home: Any) -> Settings:
    return Settings(home=home, batch_confirm_images=4)


def test_batch_dialog_asks_above_the_threshold(
    snap_compare: Any, app: DalleTuiApp, services: Services
) -> None:
    services.templates.create_variable("animal", ["fox", "owl", "cat"])
    services.templates.create_template("critters", "a {animal} in the snow, {ink|oil}")

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("b")
        dialog = pilot.app.screen
        assert isinstance(dialog, BatchDialog)
        for _ in range(100):
            if dialog.settled:
                break
            await pilot.pause(0.02)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
