"""History's search box takes the operators (is:fav, tag:, in:), and says what it cannot use."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from dalletui.services.context import Services
from dalletui.storage.models import Prompt, PromptTag, Tag
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens import history as history_module
from tests.test_tui_history import SIZE, open_history, row_text, seed, settle, shown_texts


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


def star(services: Services, text: str) -> None:
    services.db.set_favorite(Prompt.get(Prompt.text == text).id)


def tag(text: str, name: str) -> None:
    row, _ = Tag.get_or_create(name_key=name.casefold(), defaults={"name": name})
    PromptTag.create(prompt=Prompt.get(Prompt.text == text), tag=row)


async def type_search(pilot, screen, text: str) -> None:  # type: ignore[no-untyped-def]
    search = screen.query_one("#search", Input)
    search.value = ""
    await pilot.press("slash")
    await pilot.press(*text)
    await settle(pilot, history_module.SEARCH_DELAY + 0.1)


async def test_is_fav_fox_in_the_search_box(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox in the snow", "a fox cub asleep", "a blue whale", "foxglove"])
    star(services, "a red fox in the snow")
    star(services, "a blue whale")
    star(services, "foxglove")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await type_search(pilot, screen, "is:fav fox")
        # "fox" is being typed: a prefix, so foxglove too; only the starred ones
        assert shown_texts(screen) == ["foxglove", "a red fox in the snow"]
        assert screen.prompt_list.border_title == "2 prompts"
        await pilot.press("space")
        await settle(pilot, history_module.SEARCH_DELAY + 0.1)
        assert shown_texts(screen) == ["a red fox in the snow"]
        assert "fox" in row_text(screen.prompt_list, 0)


async def test_tag_and_a_bad_date_in_the_search_box(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox in the snow", "a fox cub asleep", "a blue whale"])
    tag("a fox cub asleep", "cute")
    tag("a blue whale", "cute")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await type_search(pilot, screen, "tag:cu")  # the tag being typed is a prefix
        assert shown_texts(screen) == ["a blue whale", "a fox cub asleep"]
        await type_search(pilot, screen, "fox tag:cute before:2026-02-30")
        # the date is no date: searched without it, and the list says why
        assert shown_texts(screen) == ["a fox cub asleep"]
        assert "not a date on the calendar" in str(screen.prompt_list.border_subtitle)
        await type_search(pilot, screen, "whale -tag:cute")
        assert shown_texts(screen) == []
        assert "No prompt matches" in screen.prompt_list.render_line(1).text
