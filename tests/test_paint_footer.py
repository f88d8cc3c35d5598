"""History painting: the footer is not rebuilt on every highlight move, a search answers on the
keystroke (no 0.2 s debounce) with only the newest answer shown, and the list draws lines, not
row widgets."""

from __future__ import annotations

import pytest
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.screens import history as history_module
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.widgets.history_filters import HistoryFilters
from dalletui.tui.widgets.history_list import PromptList
from tests.test_tui_history import open_history, seed, settle

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def opens_on_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest's ``app`` (half-cell previews), started in History."""
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")


def footer_key_ids(screen: HistoryScreen) -> set[int]:
    return {id(widget) for widget in screen.query(FooterKey)}


async def test_moving_the_highlight_does_not_rebuild_the_footer(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, [f"prompt number {n}" for n in range(60)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        before = footer_key_ids(screen)
        assert before, "the footer shows keys"
        for _ in range(30):
            await pilot.press("down")
        await settle(pilot)
        assert screen.prompt_list.cursor == 30
        # The very same FooterKey widgets: none was unmounted and composed again.
        assert footer_key_ids(screen) == before


async def test_a_disabled_key_is_enabled_in_place(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox", "a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("d")  # trash a prompt: undo becomes enabled
        await settle(pilot)
        await pilot.press("u")  # and brought back: disabled again
        await settle(pilot)
        before = footer_key_ids(screen)
        await pilot.press("down", "up", "down")
        await settle(pilot)
        assert footer_key_ids(screen) == before
        undo = [key for key in screen.query(FooterKey) if key.action == "undo"]
        if undo:  # shown at this width: its state follows the binding's check
            assert undo[0].has_class("-disabled") == (not screen.undo)


async def test_the_search_answers_without_a_debounce(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox", "a blue whale", "foggy harbour"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("slash", *"whale")
        # No timer to wait for: a few event-loop turns and the workers are enough.
        for _ in range(5):
            await settle(pilot)
            if [p.text for p in screen.prompt_list.rows] == ["a blue whale"]:
                break
        assert [p.text for p in screen.prompt_list.rows] == ["a blue whale"]
        assert screen.prompt_list.border_title == "1 prompt"
    assert history_module.SEARCH_DELAY <= 0.03


async def test_a_stale_search_answer_never_overwrites_the_newest(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a red fox", "a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        history = services.history
        old_ask = screen.pager.first(history_module.FIRST_PAGE)
        new_ask = screen.pager.first(history_module.FIRST_PAGE)
        whale = HistoryFilters(text="whale")
        fox = HistoryFilters(text="fox")
        new_page = history.prompt_page(whale.query(), new_ask)
        old_page = history.prompt_page(fox.query(), old_ask)
        screen._show_first_page(new_ask, whale, new_page, None)
        screen._show_first_page(old_ask, fox, old_page, None)  # arrives late
        await pilot.pause()
        assert [p.text for p in screen.prompt_list.rows] == ["a blue whale"]


async def test_the_list_draws_lines_not_row_widgets(app: DalleTuiApp, services: Services) -> None:
    seed(services, [f"prompt number {n}" for n in range(300)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        prompt_list = screen.prompt_list
        assert isinstance(prompt_list, PromptList)
        assert len(prompt_list) == history_module.FIRST_PAGE
        assert list(prompt_list.query(Widget)) == []  # no child widget per row
        # Only the rows on screen are flattened for drawing, not the whole page.
        assert len(prompt_list._flat) <= SIZE[1]
