"""verify_phase3 checks that the TUI shows what storage holds, and that UI actions persist."""

from __future__ import annotations

import asyncio
from pathlib import Path

from verification.registry import check


async def _settle(pilot) -> None:  # noqa: ANN001
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _history_scenario(home: Path) -> None:
    from dalletui.config import Settings
    from dalletui.services.context import open_services
    from dalletui.tui import graphics
    from dalletui.tui.app import make_app
    from dalletui.tui.screens.history import HistoryScreen

    services = open_services(Settings(home=home))
    try:
        for text in ("verify: a red fox", "verify: a blue whale", "verify: a green frog"):
            services.db.record_prompt_use(text)
        graphics.configure("halfcell")
        app = make_app(services)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await _settle(pilot)
            screen = app.screen
            assert isinstance(screen, HistoryScreen), type(screen).__name__
            shown = [p.text for p in screen.prompt_list.rows]
            assert shown == ["verify: a green frog", "verify: a blue whale", "verify: a red fox"], (
                shown
            )
            target = screen.prompt_list.rows[0].id
            assert services.history.get(target).is_favorite is False
            await pilot.press("f")
            await _settle(pilot)
            assert services.history.get(target).is_favorite is True, "star did not persist"
            assert screen.prompt_list.rows[0].is_favorite is True, "star not shown in the list"
    finally:
        services.close()


@check("UI: the History screen shows recorded prompts; 'f' stars one in the database")
def check_history_screen(home: Path) -> None:
    asyncio.run(_history_scenario(home))
