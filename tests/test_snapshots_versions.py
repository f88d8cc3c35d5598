"""SVG snapshot of History's detail pane showing a prompt's family and its word diff (issue 15).

Times are relative to now and set far from any boundary, so the picture is the same every day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from textual.pilot import Pilot

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.screens import history as history_module


def seed(services: Services) -> None:
    """A first version, the version shown (its parent: the first) and two made from it."""
    now = dt.datetime.now()
    db = services.db

    def use(text: str, hours: float, parent: int | None = None) -> int:
        when = now - dt.timedelta(hours=hours)
        return db.record_prompt_use(text, when=when, parent_id=parent).id

    first = use("a lighthouse on a cliff during a storm, oil painting", 24 * 9 + 6)
    shown = use("a lighthouse on a cliff at dawn, soft watercolour, gulls", 24 * 6 + 6, first)
    use("a lighthouse on a cliff at dawn, soft watercolour, gulls, mist", 24 * 3 + 6, shown)
    use("a lighthouse on a rock at dawn, soft watercolour", 24 * 2 + 6, shown)
    when = now - dt.timedelta(hours=2, minutes=10)
    db.update_prompt(shown, last_used_at=when)  # the newest: highlighted when History opens


async def open_history(pilot: Pilot[Any], services: Services) -> None:
    seed(services)
    await pilot.press("f3")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(history_module.DETAIL_DELAY + 0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_history_detail_family(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_history(pilot, services)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
