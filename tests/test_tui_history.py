"""The History screen, driven through Pilot against real services on a temporary home."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, TextArea

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens import history as history_module
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.widgets.history_detail import GenerationCard, PromptDetail, cost_text
from dalletui.tui.widgets.history_gallery import Gallery, GalleryCard
from dalletui.tui.widgets.history_list import PromptList

SIZE = (120, 40)


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    """The real app, started in History (Compose is built only when a test goes there)."""
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


# -- helpers ---------------------------------------------------------------------------------


def seed(services: Services, texts: list[str]) -> None:
    """Record ``texts`` as used one minute apart, the last one newest."""
    start = dt.datetime.now() - dt.timedelta(hours=1)
    for offset, text in enumerate(texts):
        services.db.record_prompt_use(text, when=start + dt.timedelta(minutes=offset))


async def generate(services: Services, prompt: str, **params: Any) -> Any:
    outcome = await services.generation.generate(GenerationRequest(prompt=prompt, **params))
    assert outcome.ok, outcome.error
    return outcome


def add_failure(services: Services, prompt: str) -> None:
    """A generation that failed the way a 429 is recorded."""
    row = services.db.record_prompt_use(prompt)
    [generation] = services.db.create_generations(
        row,
        1,
        provider="openai",
        model="gpt-image-1",
        size="1024x1024",
        quality="high",
        output_format="png",
    )
    services.db.fail_generations(
        [generation.id], "failed", "rate_limit", "Rate limit reached; try again in 20 seconds."
    )


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any], delay: float = 0.0) -> None:
    """Let timers fire, then every worker finish, then the UI catch up."""
    if delay:
        await pilot.pause(delay)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_history(pilot: Pilot[Any]) -> HistoryScreen:
    if pilot.app.current_mode != "history":
        await pilot.press("f3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    return screen


def shown_texts(screen: HistoryScreen) -> list[str]:
    return [prompt.text for prompt in screen.prompt_list.rows]


def row_text(prompt_list: PromptList, index: int) -> str:
    """The characters drawn for a loaded row (line 0 is the header)."""
    return prompt_list.render_line(index + 1 - round(prompt_list.scroll_y)).text


# -- the list --------------------------------------------------------------------------------


async def test_prompts_show_newest_first_with_count(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox", "a blue whale", "a green frog"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert shown_texts(screen) == ["a green frog", "a blue whale", "a red fox"]
        assert screen.prompt_list.border_title == "3 prompts"
        assert app.focused is screen.prompt_list
        header = screen.prompt_list.render_line(0).text
        for column in ("Prompt", "Uses", "Last used", "Gens"):
            assert column in header
        assert "a green frog" in row_text(screen.prompt_list, 0)
        assert "min ago" in row_text(screen.prompt_list, 0)  # humanised last use
        assert screen.detail.prompt_id == screen.prompt_list.rows[0].id


async def test_typing_a_search_filters_the_list_and_updates_the_count(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a red fox in the snow", "a fox cub asleep", "a blue whale", "foggy harbour"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input) and app.focused.id == "search"
        await pilot.press(*"fo")  # the last word is a prefix while typing
        await settle(pilot, history_module.SEARCH_DELAY + 0.1)
        assert set(shown_texts(screen)) == {
            "a red fox in the snow",
            "a fox cub asleep",
            "foggy harbour",
        }
        assert screen.prompt_list.border_title == "3 prompts"

        await pilot.press("x")
        await settle(pilot, history_module.SEARCH_DELAY + 0.1)
        assert shown_texts(screen) == ["a fox cub asleep", "a red fox in the snow"]
        assert screen.prompt_list.border_title == "2 prompts"

        await pilot.press(*" whale")
        await settle(pilot, history_module.SEARCH_DELAY + 0.1)
        assert shown_texts(screen) == []
        assert "No prompt matches" in screen.prompt_list.render_line(1).text

        await pilot.press("escape")
        assert app.focused is screen.prompt_list


async def test_f_stars_the_prompt_in_the_row_and_the_database(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a red fox", "a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        prompt = screen.prompt_list.highlighted
        assert prompt is not None and prompt.text == "a blue whale"
        assert "★" not in row_text(screen.prompt_list, 0)

        await pilot.press("f")
        assert "★" in row_text(screen.prompt_list, 0)  # shown before the database answers
        await settle(pilot)
        assert services.history.get(prompt.id).is_favorite is True
        assert "★ Favourite" in str(screen.detail.query_one("#detail-meta").render())

        await pilot.press("f")
        await settle(pilot)
        assert services.history.get(prompt.id).is_favorite is False
        assert "★" not in row_text(screen.prompt_list, 0)


async def test_favourites_filter(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox", "a blue whale", "a green frog"])
    whale = next(p for p in services.history.search(history_module.HistoryFilters().query()).items)
    services.history.set_favorite(whale.id, True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("asterisk")
        await settle(pilot)
        assert screen.query_one("#filter-favorites", Checkbox).value is True
        assert shown_texts(screen) == [whale.text]
        assert screen.prompt_list.border_title == "1 prompt · ★ only"

        await pilot.press("asterisk")
        await settle(pilot)
        assert len(shown_texts(screen)) == 3


async def test_model_filter_lists_known_models(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a red fox"])
    await generate(services, "a blue whale", model="gpt-image-1-mini")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        select = screen.query_one("#filter-model", Select)
        values = [value for _, value in select._options]  # noqa: SLF001 - what the user can pick
        assert "gpt-image-1-mini" in values
        select.value = "gpt-image-1-mini"
        await settle(pilot)
        assert shown_texts(screen) == ["a blue whale"]


# -- reuse, delete (to the trash) ------------------------------------------------------------------


async def test_enter_reuses_the_prompt_with_its_last_parameters(
    app: DalleTuiApp, services: Services
) -> None:
    await generate(services, "a lighthouse in a storm", size="1536x1024", quality="low", n=2)
    seed(services, ["an older prompt"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert shown_texts(screen) == ["a lighthouse in a storm", "an older prompt"]
        await pilot.press("enter")
        await settle(pilot)
        await wait_until(pilot, lambda: app.current_mode == "compose")
        compose = app.screen
        assert hasattr(compose, "load_prompt")
        editor = compose.query(TextArea).first()
        await wait_until(pilot, lambda: editor.text == "a lighthouse in a storm")
        assert compose.query_one("#pick-size", Select).value == "1536x1024"
        assert compose.query_one("#pick-quality", Select).value == "low"


async def test_delete_moves_the_prompt_to_the_trash_without_asking(
    app: DalleTuiApp, services: Services
) -> None:
    """No dialog any more: d trashes at once (tests/test_tui_trash.py covers undo and files)."""
    outcome = await generate(services, "a doomed prompt")
    [generation] = outcome.generations
    seed(services, ["a survivor"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        doomed = screen.prompt_list.highlighted
        assert doomed is not None and doomed.text == "a doomed prompt"

        await pilot.press("d")
        assert shown_texts(screen) == ["a survivor"]  # at once, before the worker lands
        await settle(pilot)
        assert app.screen is screen
        assert services.history.get(doomed.id).deleted_at is not None
        assert shown_texts(screen) == ["a survivor"]
        assert screen.prompt_list.border_title == "1 prompt"
        assert not Path(generation.file_path).exists()
        [entry] = services.trash.entries()
        assert entry.prompt_id == doomed.id and entry.image_count == 1


# -- details and gallery -----------------------------------------------------------------------


async def test_detail_shows_generations_with_thumbnails_and_failures(
    app: DalleTuiApp, services: Services
) -> None:
    await generate(services, "a red fox", n=2)
    add_failure(services, "a purple cat")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        detail = screen.query_one(PromptDetail)
        assert screen.prompt_list.highlighted.text == "a purple cat"
        await settle(pilot, history_module.DETAIL_DELAY + 0.1)
        [failed] = detail.query(GenerationCard)
        facts = str(failed.query_one(".generation-facts").render())
        assert "Rate limit" in facts
        assert "try again in 20 seconds" in facts
        assert not failed.query(".preview")

        await pilot.press("down")
        assert "a red fox" in str(detail.query_one("#detail-text").render())  # at once
        await settle(pilot, history_module.DETAIL_DELAY + 0.1)
        cards = list(detail.query(GenerationCard))
        assert len(cards) == 2
        for card in cards:
            assert card.query(".preview"), "a succeeded generation shows its thumbnail"
            facts = str(card.query_one(".generation-facts").render())
            assert "gpt-image-1-mini" in facts and "offline" in facts
        assert "2 generations" in str(detail.query_one("#detail-generations-title").render())


async def test_gallery_shows_images_and_acts_on_the_focused_card(
    app: DalleTuiApp, services: Services
) -> None:
    await generate(services, "a red fox")
    await generate(services, "a blue whale", size="1024x1536")
    add_failure(services, "a purple cat")  # no image: not in the gallery
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.pause()
        gallery = app.screen.query_one(Gallery)  # the gallery is a screen of its own now
        cards = list(gallery.query(GalleryCard))
        assert [card.prompt_text for card in cards] == ["a blue whale", "a red fox"]
        assert all(card.query(".preview") for card in cards)
        assert app.focused is cards[0]

        await pilot.press("right")
        assert app.focused is cards[1]
        await pilot.press("f")
        await settle(pilot)
        fox = services.history.get(cards[1].prompt_id)
        assert fox.is_favorite is True
        assert cards[1].border_title == "★"

        await pilot.press("left", "c")  # enter opens the image view (test_daily_image_view.py)
        await settle(pilot)
        await wait_until(pilot, lambda: app.current_mode == "compose")
        editor = app.screen.query(TextArea).first()
        await wait_until(pilot, lambda: editor.text == "a blue whale")
        assert app.screen.query_one("#pick-size", Select).value == "1024x1536"


async def test_gallery_pages_by_keyset(app: DalleTuiApp, services: Services) -> None:
    outcome = await generate(services, "five of a kind", n=5)
    ids = sorted((g.id for g in outcome.generations), reverse=True)

    def shown(gallery: Gallery) -> list[int]:
        return [card.generation.id for card in gallery.cards]

    async with app.run_test(size=(52, 24)) as pilot:  # two cards a page
        await open_history(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.pause()
        gallery = app.screen.query_one(Gallery)
        assert gallery.page_size() == 2
        assert shown(gallery) == ids[0:2]
        await pilot.press("pagedown")
        await settle(pilot)
        await pilot.pause()
        assert shown(gallery) == ids[2:4]
        await pilot.press("right", "right")  # past the last card: the next page
        await settle(pilot)
        await pilot.pause()
        assert shown(gallery) == ids[4:5]
        assert not gallery.has_more
        await pilot.press("pageup")
        await settle(pilot)
        await pilot.pause()
        assert shown(gallery) == ids[2:4]


# -- scale and freshness -----------------------------------------------------------------------


async def test_many_prompts_load_by_keyset_pages(app: DalleTuiApp, services: Services) -> None:
    total = 20_500
    services.db.import_prompts(f"prompt {i:05d} of a large history" for i in range(total))
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        screen = await open_history(pilot)
        await wait_until(pilot, lambda: len(screen.prompt_list) > 0)
        assert time.perf_counter() - started < 10, "generous sanity bound, not a benchmark"
        prompt_list = screen.prompt_list
        assert len(prompt_list) == history_module.FIRST_PAGE
        assert prompt_list.border_title == f"{total:,} prompts"

        await pilot.press("end")  # to the last loaded row: the next page comes
        await settle(pilot)
        assert len(prompt_list) == history_module.FIRST_PAGE + history_module.NEXT_PAGE
        ids = [prompt.id for prompt in prompt_list.rows]
        assert len(set(ids)) == len(ids), "keyset pages neither repeat nor skip"
        assert ids == sorted(ids, reverse=True)  # same last use: newest id first
        assert prompt_list.border_subtitle == f"{len(ids):,} loaded"

        prompt_list.scroll_end(animate=False, immediate=True)  # the wheel does it too
        await pilot.pause()
        await settle(pilot)
        assert len(prompt_list) == history_module.FIRST_PAGE + 2 * history_module.NEXT_PAGE


async def test_the_list_refreshes_when_shown_again(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["an old prompt"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert shown_texts(screen) == ["an old prompt"]
        await pilot.press("f2")
        await pilot.pause()
        await generate(services, "made in compose")
        await pilot.press("f3")
        await settle(pilot)
        assert shown_texts(screen) == ["made in compose", "an old prompt"]
        # The cursor stayed on the prompt it was on.
        assert screen.prompt_list.highlighted.text == "an old prompt"


def test_costs_show_known_amounts_and_say_unknown(services: Services) -> None:
    """Pure display: a known cost is money, a missing one is 'unknown', never $0."""
    prompt = services.db.record_prompt_use("priced")
    known, unknown = services.db.create_generations(
        prompt,
        2,
        provider="openai",
        model="gpt-image-1",
        size="1024x1024",
        quality="high",
        output_format="png",
    )
    services.db.finish_generation(known.id, usage={"cost": Decimal("0.042")}, status="succeeded")
    services.db.finish_generation(unknown.id, usage={"cost": None}, status="succeeded")
    by_id = {row.id: row for row in services.history.entries(prompt.id)}
    assert cost_text(by_id[known.id].generation, by_id[known.id].usage).plain == "$0.0420"
    assert cost_text(by_id[unknown.id].generation, by_id[unknown.id].usage).plain == "cost unknown"
