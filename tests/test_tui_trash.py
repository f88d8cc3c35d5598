"""Trash through the pilot: d trashes at once with a toast, u undoes, the Trash screen restores
and purges; the ledger and the Usage screen's all-time total never move."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TextArea

from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.screens.trash import TrashScreen
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.history_gallery import Gallery
from tests.trash_helpers import files_of, ledger_sum, make_images, snapshot

SIZE = (120, 40)


@pytest.fixture
def notes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every toast's text, in order."""
    seen: list[str] = []
    original = DalleTuiApp.notify

    def notify(self: DalleTuiApp, message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(message)
        original(self, message, *args, **kwargs)

    monkeypatch.setattr(DalleTuiApp, "notify", notify)
    return seen


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch, notes: list[str]) -> DalleTuiApp:
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


async def settle(pilot: Pilot[Any], delay: float = 0.0) -> None:
    if delay:
        await pilot.pause(delay)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def footer_keys(app: DalleTuiApp) -> list[str]:
    return [key.description for key in app.screen.query("FooterKey")]  # type: ignore[attr-defined]


def shown(screen: HistoryScreen) -> list[str]:
    return [prompt.text for prompt in screen.prompt_list.rows]


async def open_history(pilot: Pilot[Any]) -> HistoryScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    return screen


async def open_trash(pilot: Pilot[Any]) -> TrashScreen:
    await pilot.press("f6")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TrashScreen)
    return screen


def trash_rows(screen: TrashScreen) -> list[str]:
    table = screen.query_one("#trash-table", DataTable)
    return [str(row.value) for row in table.rows]


async def test_d_trashes_at_once_with_a_toast_and_u_undoes(
    app: DalleTuiApp, services: Services, notes: list[str]
) -> None:
    fox = make_images(services, "a red fox", 2)
    make_images(services, "a blue whale", 1)
    paths = [path for g in fox for path in files_of(g)]
    before = snapshot(paths)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("down")
        assert screen.prompt_list.highlighted.text == "a red fox"
        assert "Undo" not in footer_keys(app)

        await pilot.press("d")
        await settle(pilot)
        prompt_id = fox[0].prompt_id
        assert f"Moved prompt #{prompt_id} to the trash · u undo" in notes
        assert app.screen is screen, "no dialog"
        assert shown(screen) == ["a blue whale"]
        assert not any(path.exists() for path in paths)
        await wait_until(pilot, lambda: "Undo" in footer_keys(app))

        await pilot.press("u")
        await settle(pilot)
        await wait_until(pilot, lambda: shown(screen) == ["a blue whale", "a red fox"])
        assert screen.prompt_list.highlighted.text == "a red fox", "back, and selected"
        assert snapshot(paths) == before, "files byte-identical at their original paths"
        assert f"Restored prompt #{prompt_id}." in notes
        await wait_until(pilot, lambda: "Undo" not in footer_keys(app))
        assert services.trash.entries() == []


async def test_u_undoes_several_deletes_newest_first(app: DalleTuiApp, services: Services) -> None:
    for text in ("one", "two", "three"):
        services.db.record_prompt_use(text)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("d", "d")
        await settle(pilot)
        assert shown(screen) == ["one"]
        await pilot.press("u")
        await settle(pilot)
        await wait_until(pilot, lambda: shown(screen) == ["two", "one"])
        await pilot.press("u")
        await settle(pilot)
        await wait_until(pilot, lambda: shown(screen) == ["three", "two", "one"])
        assert services.trash.entries() == []


async def test_d_on_a_gallery_card_trashes_that_image_only(
    app: DalleTuiApp, services: Services, notes: list[str]
) -> None:
    older, newer = make_images(services, "two owls", 2)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.pause()
        gallery = app.screen.query_one(Gallery)  # the gallery is a screen of its own
        assert [card.generation.id for card in gallery.cards] == [newer.id, older.id]
        await pilot.press("right", "d")
        await settle(pilot)
        await wait_until(
            pilot, lambda: [card.generation.id for card in gallery.cards] == [newer.id]
        )
        assert f"Moved image #{older.id} to the trash · u undo" in notes
        assert services.history.get(older.prompt_id).deleted_at is None, "the prompt stays"
        assert not Path(older.file_path).exists() and Path(newer.file_path).exists()

        await pilot.press("u")
        await settle(pilot)
        await wait_until(
            pilot, lambda: [card.generation.id for card in gallery.cards] == [newer.id, older.id]
        )
        await pilot.pause()
        assert app.focused is gallery.cards[1], "focus is back on the restored card"
        assert Path(older.file_path).exists()


async def test_trash_screen_restores_and_purges(
    app: DalleTuiApp, services: Services, notes: list[str]
) -> None:
    fox = make_images(services, "a red fox", 2)
    whale = make_images(services, "a blue whale", 1)
    fox_paths = [path for g in fox for path in files_of(g)]
    before = snapshot(fox_paths)
    services.trash.trash_prompt(fox[0].prompt_id)
    services.trash.trash_prompt(whale[0].prompt_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trash(pilot)
        assert trash_rows(screen) == [f"prompt:{whale[0].prompt_id}", f"prompt:{fox[0].prompt_id}"]
        summary = str(screen.query_one("#trash-summary", Static).render())
        assert "2 entries · 3 images" in summary and "purged after 30 days" in summary
        mark, entry, when, images, size, text = screen.query_one(DataTable).get_row_at(0)
        assert (str(entry), str(when), str(images)) == (
            f"prompt #{whale[0].prompt_id}",
            "just now",
            "1",
        )
        assert str(size).endswith(" B") and str(text) == "a blue whale"

        await pilot.press("down", "r")  # the fox
        await settle(pilot)
        assert trash_rows(screen) == [f"prompt:{whale[0].prompt_id}"]
        assert snapshot(fox_paths) == before
        assert services.history.get(fox[0].prompt_id).deleted_at is None

        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # cancelled: nothing changes
        await settle(pilot)
        assert trash_rows(screen) == [f"prompt:{whale[0].prompt_id}"]

        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert trash_rows(screen) == []
        assert not Path(whale[0].file_path).exists()
        assert not any(p.is_file() for p in services.trash.root.rglob("*"))
        assert any(note.startswith("Purged 1 entry") for note in notes)
        assert screen.query_one("#trash-empty", Static).display


async def test_marked_entries_and_empty_the_trash(app: DalleTuiApp, services: Services) -> None:
    items = [make_images(services, f"prompt {n}", 1)[0] for n in range(3)]
    for generation in items:
        services.trash.trash_prompt(generation.prompt_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trash(pilot)
        assert len(trash_rows(screen)) == 3
        await pilot.press("space", "space", "r")  # the two newest
        await settle(pilot)
        assert trash_rows(screen) == [f"prompt:{items[0].prompt_id}"]

        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert trash_rows(screen) == []
        assert not Path(items[0].file_path).exists()
        assert not any(p.is_file() for p in services.trash.root.rglob("*"))


async def test_trash_then_purge_leaves_spend_and_the_usage_screen_unchanged(
    app: DalleTuiApp, services: Services
) -> None:
    make_images(services, "expensive", 3, cost="0.25")
    make_images(services, "cheap", 1, cost="0.01")
    spent = ledger_sum(services)

    async def all_time_card() -> str:
        await pilot.press("f5")
        await settle(pilot)
        return str(app.screen.query_one("#usage-all", Static).render())

    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        total_before = await all_time_card()
        assert "$0.7600" in total_before and "4 images" in total_before

        await pilot.press("f3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen) and shown(screen)[0] == "cheap"
        await pilot.press("down", "d")  # the expensive prompt and its three images
        await settle(pilot)
        assert ledger_sum(services) == spent
        assert await all_time_card() == total_before

        trash = await open_trash(pilot)
        assert len(trash_rows(trash)) == 1
        await pilot.press("E", "y")
        await settle(pilot)
        assert trash_rows(trash) == []
        assert ledger_sum(services) == spent
        assert await all_time_card() == total_before


async def test_the_palette_offers_the_trash(app: DalleTuiApp, services: Services) -> None:
    services.db.record_prompt_use("a prompt")
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        from dalletui.tui.commands import DalleTuiCommands

        provider = DalleTuiCommands(app.screen)
        names = [command.name for command in provider.commands()]
        assert "Mode: Trash" in names and "Trash: empty" in names
        assert "History: Undo" not in names
        await pilot.press("d")
        await settle(pilot)
        assert "History: Undo" in [command.name for command in provider.commands()]


async def test_f6_opens_the_trash_even_from_the_prompt_editor(services: Services) -> None:
    graphics.configure("halfcell")
    app = make_app(services)  # starts in Compose, the prompt editor focused
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, TextArea) and app.focused.id == "prompt"
        await open_trash(pilot)
        assert "Nothing in the trash" in str(app.screen.query_one("#trash-summary").render())
