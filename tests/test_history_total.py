"""History's title: the whole history counted exactly, a search counted up to a cap ("N+")."""

from __future__ import annotations

import datetime as dt

import pytest
from textual import events
from textual.pilot import Pilot

from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens import history as history_module
from dalletui.tui.screens.history import HistoryScreen


def history_of(
    services: Services, monkeypatch: pytest.MonkeyPatch, castles: int, other: str
) -> DalleTuiApp:
    """The app opening on History, over ``castles`` "castle number N" prompts and ``other``."""
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    start = dt.datetime.now() - dt.timedelta(hours=1)
    for n in range(castles):
        services.db.record_prompt_use(f"castle number {n}", when=start + dt.timedelta(seconds=n))
    services.db.record_prompt_use(other, when=start)
    return make_app(services)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


async def test_title_counts_the_history_exactly_and_a_search_up_to_the_cap(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "TOTAL_CAP", 5)
    app = history_of(services, monkeypatch, 12, "a lonely whale")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert str(screen.prompt_list.border_title).startswith("13 prompts")
        await pilot.press("slash", *"castle")
        await settle(pilot)
        assert str(screen.prompt_list.border_title).startswith("5+ prompts")
        for _ in range(6):
            await pilot.press("backspace")
        await pilot.press(*"whale")
        await settle(pilot)
        assert str(screen.prompt_list.border_title) == "1 prompt"


async def test_a_burst_of_keys_still_ends_with_the_count_of_the_last_text(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys typed while a search runs are coalesced; the last search must still count (a key
    whose text was already searched used to leave a pending flag that skipped the count)."""
    import time

    app = history_of(services, monkeypatch, 7, "a cat")
    slow = services.history.prompt_page

    def slow_page(*args: object, **kwargs: object) -> object:
        time.sleep(0.03)
        return slow(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.history, "prompt_page", slow_page)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await pilot.press("slash")
        for key in "castle":
            app.post_message(events.Key(key, key))
        for _ in range(40):
            await pilot.pause(0.02)
            await app.workers.wait_for_complete()
        assert screen.filters.text == "castle"
        assert str(screen.prompt_list.border_title) == "7 prompts"


async def test_a_delete_counts_down_an_exact_title_but_not_a_capped_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting from "13 prompts" shows 12; from "5+ prompts" it stays "5+" (more still match),
    where subtracting from the cap once showed "4+"."""
    monkeypatch.setattr(history_module, "TOTAL_CAP", 5)
    app = history_of(services, monkeypatch, 12, "a lonely whale")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        screen.prompt_list.focus()
        await pilot.press("d")
        assert str(screen.prompt_list.border_title).startswith("12 prompts")
        await settle(pilot)
        await pilot.press("slash", *"castle")
        await settle(pilot)
        assert str(screen.prompt_list.border_title).startswith("5+ prompts")
        screen.prompt_list.focus()
        await pilot.press("d")
        assert str(screen.prompt_list.border_title).startswith("5+ prompts")
        await settle(pilot)
        assert str(screen.prompt_list.border_title).startswith("5+ prompts")


async def test_a_search_brings_its_rows_and_its_count_in_one_callback(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows and count used to arrive in two trips to the UI thread, the second waiting for the
    rows to be painted: the title lagged the list by a frame (~30 ms a key)."""
    app = history_of(services, monkeypatch, 5, "a cat")
    seen: list[tuple[str, str]] = []
    original = HistoryScreen._show_results

    def show_results(self: HistoryScreen, ask, filters, page, keep_id, total) -> None:  # type: ignore[no-untyped-def]
        original(self, ask, filters, page, keep_id, total)
        seen.append((filters.text, str(self.prompt_list.border_title)))

    monkeypatch.setattr(HistoryScreen, "_show_results", show_results)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"castle")
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
    assert seen and seen[-1] == ("castle", "5 prompts")
