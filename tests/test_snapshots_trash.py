"""SVG snapshot of the Trash screen: a prompt with its images, a lone image, when and how big.

Times are relative to now ("3 days ago"), far from any boundary; image bytes come from Pillow
with fixed colours, so sizes are the same on every run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from textual.pilot import Pilot

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from tests.trash_helpers import make_images


def seed(services: Services) -> None:
    now = dt.datetime.now()
    lighthouse = make_images(services, "a lighthouse on a cliff during a storm, oil painting", 2)
    owls = make_images(services, "two owls on a branch at dusk", 2)
    services.db.record_prompt_use("a prompt that never made an image")
    services.trash.trash_generation(owls[0].id)
    services.trash.trash_prompt(lighthouse[0].prompt_id)
    services.trash.trash_prompt(
        services.db.record_prompt_use("a prompt that never made an image").id
    )
    for table, column, value, when in (
        ("generations", "id", owls[0].id, now - dt.timedelta(days=3, hours=6)),
        ("prompts", "id", lighthouse[0].prompt_id, now - dt.timedelta(hours=5, minutes=10)),
        (
            "generations",
            "prompt_id",
            lighthouse[0].prompt_id,
            now - dt.timedelta(hours=5, minutes=10),
        ),
    ):
        services.db.db.execute_sql(
            f"UPDATE {table} SET deleted_at = ? WHERE {column} = ?", (when, value)
        )


def test_trash_screen(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        seed(services)
        pilot.app.refresh_status()
        await pilot.press("f6")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "space")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
