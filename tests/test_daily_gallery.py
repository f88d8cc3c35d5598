"""The gallery as its own screen (issue 12): it keeps History's search and filters, opens with a
card focused, keeps the focus across a resize, and ``d`` trashes only the focused image.

Also: one keyset pager for the list and the gallery, the model filter's order, and the detail
pane's honest counts (a cancelled request is one line, not one per image it asked for).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, Static

from dalletui.services.context import Services
from dalletui.services.history import KeysetPager, Page
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.gallery import GalleryScreen
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.widgets.history_detail import GenerationCard
from tests.test_daily_image_view import add_image, open_history, settle, wait_until

SIZE = (120, 40)


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    """The real app, started in History."""
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


def seed_images(services: Services, folder: Path, texts: list[tuple[str, int, str]]) -> list[Any]:
    """(prompt, images, model) one minute apart, the last newest; returns every image made."""
    start = dt.datetime.now() - dt.timedelta(hours=2)
    made = []
    minute = 0
    for text, count, model in texts:
        for _ in range(count):
            when = start + dt.timedelta(minutes=minute)
            made.append(add_image(services, text, folder, model=model, when=when))
            minute += 1
    return made


async def open_gallery(pilot: Pilot[Any]) -> GalleryScreen:
    await pilot.press("g")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
    screen = pilot.app.screen
    assert isinstance(screen, GalleryScreen)
    await wait_until(pilot, lambda: screen.gallery.loaded and screen.pager.loading is None)
    await settle(pilot)
    return screen


def shown_prompts(screen: GalleryScreen) -> list[str]:
    return [card.prompt_text for card in screen.gallery.cards]


def shown_ids(screen: GalleryScreen) -> list[int]:
    return [card.generation_id for card in screen.gallery.cards]


async def search(pilot: Pilot[Any], history: HistoryScreen, text: str, rows: int) -> None:
    await pilot.press("slash", *text, "enter")
    await wait_until(pilot, lambda: len(history.prompt_list) == rows)


# -- filters -----------------------------------------------------------------------------------


async def test_the_gallery_shows_only_what_the_search_finds(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    seed_images(
        services,
        tmp_path,
        [
            ("a red fox", 2, "gpt-image-1.5"),
            ("a blue whale", 3, "gpt-image-1.5"),
            ("a fox cub", 1, "gpt-image-1.5"),
        ],
    )
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        await search(pilot, history, "fox", 2)
        gallery = await open_gallery(pilot)
        assert sorted(shown_prompts(gallery)) == ["a fox cub", "a red fox", "a red fox"]
        title = str(gallery.query_one("#gallery-title", Static).render())
        assert "“fox”" in title and "1–3 of 3" in title


async def test_the_gallery_keeps_the_star_and_model_filters(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    made = seed_images(
        services,
        tmp_path,
        [("a red fox", 2, "gpt-image-1-mini"), ("a blue whale", 2, "gpt-image-1.5")],
    )
    services.history.set_favorite(made[0].prompt_id, True)
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        await pilot.press("asterisk")
        await wait_until(pilot, lambda: len(history.prompt_list) == 1)
        gallery = await open_gallery(pilot)
        assert shown_prompts(gallery) == ["a red fox", "a red fox"]
        assert "★ only" in str(gallery.query_one("#gallery-title", Static).render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is history)

        await pilot.press("asterisk")
        await wait_until(pilot, lambda: len(history.prompt_list) == 2)
        history.query_one("#filter-model", Select).value = "gpt-image-1.5"
        await wait_until(pilot, lambda: len(history.prompt_list) == 1)
        gallery = await open_gallery(pilot)
        assert shown_prompts(gallery) == ["a blue whale", "a blue whale"]


# -- focus ---------------------------------------------------------------------------------------


async def test_a_card_has_the_focus_on_entry_so_enter_works_at_once(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    made = seed_images(
        services,
        tmp_path,
        [
            ("a red fox", 2, "gpt-image-1.5"),
            ("an owl", 1, "gpt-image-1.5"),
            ("a whale", 1, "gpt-image-1.5"),
        ],
    )
    fox_newest = made[1]
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        await pilot.press("down", "down")  # whale, owl, fox: the fox prompt
        assert history.prompt_list.highlighted.text == "a red fox"
        gallery = await open_gallery(pilot)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card.generation_id == fox_newest.id
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewScreen))
        assert app.screen.row.id == fox_newest.id  # type: ignore[attr-defined]

        await pilot.press("escape", "escape")  # the view, then the gallery
        await wait_until(pilot, lambda: app.screen is history)
        await pilot.press("home")  # the newest prompt: the first card
        gallery = await open_gallery(pilot)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card is gallery.gallery.cards[0]


async def test_the_focused_image_stays_focused_across_a_resize(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    made = seed_images(services, tmp_path, [(f"image {i}", 1, "gpt-image-1.5") for i in range(8)])
    ids = [g.id for g in reversed(made)]  # newest first
    async with app.run_test(size=(130, 40)) as pilot:  # 5 by 2 cards
        await open_history(pilot)
        gallery = await open_gallery(pilot)
        assert gallery.gallery.page_size() == 10 and shown_ids(gallery) == ids
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        await pilot.press("down", "right")  # the seventh image
        assert gallery.gallery.focused_card.generation_id == ids[6]

        await pilot.resize_terminal(80, 24)  # 3 cards a page: images 7-8 make the third page
        await wait_until(pilot, lambda: shown_ids(gallery) == ids[6:9])
        await settle(pilot)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card.generation_id == ids[6]

        await pilot.resize_terminal(130, 40)
        await wait_until(pilot, lambda: len(gallery.gallery.cards) > 3)
        await settle(pilot)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card.generation_id == ids[6]


# -- trash ----------------------------------------------------------------------------------------


async def test_d_trashes_only_the_focused_image_and_u_brings_it_back(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    older, newer = seed_images(services, tmp_path, [("two owls", 2, "gpt-image-1.5")])
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        gallery = await open_gallery(pilot)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card.generation_id == newer.id
        await pilot.press("d")  # at once: no move first
        await wait_until(pilot, lambda: shown_ids(gallery) == [older.id])
        assert services.history.get(newer.prompt_id).deleted_at is None, "the prompt stays"
        [entry] = services.trash.entries()
        assert entry.ref.kind == "generation" and entry.ref.id == newer.id

        await pilot.press("u")
        await wait_until(pilot, lambda: shown_ids(gallery) == [newer.id, older.id])
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        assert gallery.gallery.focused_card.generation_id == newer.id
        assert services.trash.entries() == []

        await pilot.press("d")
        await wait_until(pilot, lambda: shown_ids(gallery) == [older.id])
        await pilot.press("escape")  # the undo stack is shared with History
        await wait_until(pilot, lambda: app.screen is history)
        await pilot.press("u")
        await wait_until(pilot, lambda: services.trash.entries() == [])


# -- the pager, the model filter, the counts -------------------------------------------------------


def test_the_pager_takes_only_the_newest_answer() -> None:
    pager = KeysetPager()
    first = pager.first(2)
    again = pager.first(2)  # a new search before the first answered
    assert not pager.take(first, Page(["old"], next_cursor=1))
    assert pager.take(again, Page(["a", "b"], next_cursor="b"))
    more = pager.next(2, extend=True)
    assert more is not None and more.after == "b" and more.extend
    assert pager.next(2) is None, "one ask at a time"
    assert pager.same_query(more) and not pager.same_query(first)
    assert pager.take(more, Page(["c"], previous_cursor="c", start_cursor="d"))
    assert not pager.has_next and pager.has_previous
    back = pager.previous(2)
    assert back is not None and back.before == "c"
    pager.failed()
    assert pager.again(2).after == "d"


async def test_the_model_filter_lists_the_users_models_first(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    seed_images(
        services,
        tmp_path,
        [("a", 1, "gpt-image-1-mini"), ("b", 3, "gpt-image-2"), ("c", 1, "dall-e-3")],
    )
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        select = history.query_one("#filter-model", Select)
        await wait_until(pilot, lambda: len(select._options) > 1)  # noqa: SLF001
        values = [value for _, value in select._options]  # noqa: SLF001 - what the user can pick
        labels = [str(label) for label, _ in select._options]  # noqa: SLF001
        assert values[:4] == ["", "gpt-image-2", "dall-e-3", "gpt-image-1-mini"]
        assert labels[2] == "dall-e-3 (retired)"
        assert "gpt-image-1.5" in values, "the rest of the current catalogue follows"
        assert "gpt-image-2-2026-04-21" not in values, "no dated snapshots"
        assert "dall-e-2" not in values and "gpt-image-1" not in values, "no retired ones unused"


async def test_a_cancelled_request_is_one_line_in_the_detail(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    [image] = seed_images(services, tmp_path, [("a lighthouse", 1, "gpt-image-1.5")])
    prompt = services.db.get_prompt(image.prompt_id)
    rows = services.db.create_generations(
        prompt,
        10,
        provider="openai",
        model="gpt-image-1.5",
        size="1024x1024",
        quality="high",
        output_format="png",
    )
    services.db.fail_generations([r.id for r in rows], "cancelled", "cancelled", "Cancelled.")
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        detail = history.detail
        await wait_until(pilot, lambda: len(detail.rows) == 2)
        await settle(pilot)
        title = str(detail.query_one("#detail-generations-title", Static).render())
        assert title == "1 generation · 1 cancelled request"
        cards = list(detail.query(GenerationCard))
        assert len(cards) == 2
        facts = str(cards[0].query_one(".generation-facts", Static).render())
        assert "Cancelled · 10 images asked" in facts
        assert "Cancelled." not in facts, "the status is said once"


async def test_d_on_an_image_in_the_detail_pane_trashes_that_image_only(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    older, newer = seed_images(services, tmp_path, [("two owls", 2, "gpt-image-1.5")])
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        await wait_until(pilot, lambda: len(list(history.detail.query(GenerationCard))) == 2)
        list(history.detail.query(GenerationCard))[1].focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: len(services.trash.entries()) == 1)
        [entry] = services.trash.entries()
        assert (entry.ref.kind, entry.ref.id) == ("generation", older.id)
        assert services.history.get(older.prompt_id).deleted_at is None, "the prompt stays"
        await wait_until(pilot, lambda: [row.id for row in history.detail.rows] == [newer.id])
