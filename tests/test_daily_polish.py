"""Issue 12's 80×24 polish: search hits in History's list, Usage's money columns, the template
editor's buttons after a failed save, and the partial-previews checkbox.

Screens are read as a user sees them: the composited screen at 80×24, cell by cell.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Select, Static, TextArea

from dalletui.formatting import format_money
from dalletui.services.context import Services
from dalletui.services.history import PromptQuery, PromptRow
from dalletui.services.search_hits import SearchMatcher
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.widgets.history_list import PromptList, prompt_cell
from dalletui.tui.widgets.template_editor import TemplateEditor
from dalletui.tui.widgets.usage_chart import DayModelPanel, two_lines
from tests.test_tui_usage import seed_possibly_billed, seed_usage

SMALL = (80, 24)


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_lines(app: App[Any]) -> list[str]:
    """The characters on the terminal, one string a line, as composited."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


# -- search hits -----------------------------------------------------------------------------

LONG = (
    "a watercolour painting of an old lighthouse on a rocky coast at dusk, with seagulls "
    "and a small red boat in the harbour, and far away beyond the hills a blue teapot"
)


def test_the_matcher_highlights_what_the_index_matched() -> None:
    text = "A Café by the sea, blue-teapot; TEAPOTS and a red fox! 🔥 hot"
    cases = {
        "cafe": ["Café"],  # case and diacritics ignored, as unicode61 does
        "tea": ["tea", "TEA"],  # the last word typed is a prefix: only its letters light up
        "teapot ": ["teapot"],  # a finished word is a whole word
        '"red fox"': ["red fox"],  # a phrase is one hit
        "sea blue": ["sea", "blue"],
        "🔥": ["🔥"],  # nothing indexable: a substring, as the LIKE fallback
        "fo": ["fo"],
        "z": [],
    }
    for query, expected in cases.items():
        spans = SearchMatcher.for_search(query).spans(text)
        assert [text[a:b] for a, b in spans] == expected, query


def test_the_matcher_agrees_with_the_full_text_search(services: Services) -> None:
    texts = [
        "a red fox in the snow",
        "a fox cub asleep",
        "foggy harbour at dawn",
        "Café de Flore, naïve style",
        "the blue-teapot society",
        "teapots stacked in a window",
        "red, fox and hound",
        "🔥 hot soup",
    ]
    for text in texts:
        services.db.record_prompt_use(text)
    queries = ["fo", "fox ", "red fox", '"red fox"', "cafe", "naive", "tea", "teapot ", "🔥"]
    queries += ["blue teapot", "hound red", "z", '"fox and"']
    for query in queries:
        found = {p.text for p in services.history.search(PromptQuery(text=query, limit=50)).items}
        matcher = SearchMatcher.for_search(query)
        assert found == {t for t in texts if matcher.matches(t)}, query


def test_a_hit_past_the_cell_shows_the_part_around_it() -> None:
    hits = SearchMatcher.for_search("teapot").spans(LONG)
    cell = prompt_cell(LONG, hits, 34)
    assert cell.cell_length == 34
    assert cell.plain.startswith("…")
    assert "teapot" in cell.plain
    # The prompt ends soon after the hit: the row fills with what comes before it.
    assert cell.plain == "…beyond the hills a blue teapot".ljust(34)
    middle = prompt_cell(LONG, SearchMatcher.for_search("seagulls").spans(LONG), 34)
    assert middle.plain.startswith("…") and middle.plain.endswith("…")
    assert "seagulls" in middle.plain
    # The hit is styled; nothing else is.
    styled = [cell.plain[span.start : span.end] for span in cell.spans]
    assert styled == ["teapot"]


def test_a_hit_that_fits_leaves_the_row_as_it_was() -> None:
    hits = SearchMatcher.for_search("lighthouse").spans(LONG)
    cell = prompt_cell(LONG, hits, 50)
    assert cell.plain == LONG[:49] + "…"
    assert [cell.plain[s.start : s.end] for s in cell.spans] == ["lighthouse"]
    # No search: the start, cut with an ellipsis.
    assert prompt_cell(LONG, [], 20).plain == LONG[:19] + "…"


def make_row(prompt_id: int, text: str) -> PromptRow:
    """A prompt row as the history service hands it to the list."""
    now = dt.datetime.now()
    return PromptRow(prompt_id, text, False, 1, now, now)


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PromptList(id="list")


async def test_the_list_draws_hits_highlighted_and_around_the_match() -> None:
    app = ListApp()
    rows = [
        make_row(1, LONG),
        make_row(2, "a teapot on a shelf"),
    ]
    async with app.run_test(size=SMALL) as pilot:
        prompt_list = app.query_one(PromptList)
        prompt_list.replace(rows, has_more=False, search="teapot")
        await pilot.pause()
        first = prompt_list.render_line(1)
        assert "…" in first.text and "blue teapot" in first.text
        hit = [seg for seg in first if seg.text == "teapot"]
        assert hit and hit[0].style is not None
        assert hit[0].style.underline and hit[0].style.bold
        second = prompt_list.render_line(2)
        assert "a teapot on a shelf" in second.text and "…" not in second.text
        lit = [seg for seg in second if seg.text == "teapot"]
        plain = [seg for seg in second if "on a shelf" in seg.text]
        assert lit and plain and lit[0].style != plain[0].style
        # Prompts are text, never markup; control characters never reach the terminal.
        prompt_list.replace(
            [make_row(3, "[b]teapot[/b] \x1b[31mred")],
            has_more=False,
            search="teapot",
        )
        await pilot.pause()
        line = prompt_list.render_line(1).text
        assert "[b]teapot[/b]" in line and "\x1b" not in line


async def test_history_highlights_a_search_at_80_columns(
    app: DalleTuiApp, services: Services
) -> None:
    services.db.record_prompt_use(LONG)
    services.db.record_prompt_use("a cup of tea")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        prompt_list = app.screen.query_one(PromptList)
        await wait_until(pilot, lambda: len(prompt_list.rows) == 2)
        await pilot.press("slash", *"teapot", "space")
        await wait_until(pilot, lambda: len(prompt_list.rows) == 1)
        await wait_until(pilot, lambda: "teapot" in prompt_list.render_line(1).text)
        rows = [line for line in screen_lines(app) if "blue teapot" in line]
        assert rows and "…" in rows[0], screen_lines(app)


# -- usage: money is never cut ---------------------------------------------------------------

#: Every amount the screen may show: "$0.0125", "≥$0.0420", "$12.35", "$1,234.56".
MONEY = re.compile(r"\$[\d,]*\.?\d*")
WHOLE = re.compile(r"\$(\d{1,3}(,\d{3})*\.\d\d|0\.\d{4}|0\.00)")


def amounts(lines: list[str]) -> list[str]:
    return [m.group() for line in lines for m in MONEY.finditer(line)]


async def scroll_to(pilot: Pilot[Any], selector: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    pilot.app.screen.query_one("#usage-body").scroll_to_widget(widget, animate=False, top=True)
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("models", [4, 7])
async def test_usage_money_is_whole_at_80_columns(
    app: DalleTuiApp, services: Services, models: int
) -> None:
    names = ["gpt-image-1.5", "gpt-image-1-mini", "gpt-image-1", "dall-e-3"]
    names += ["dall-e-2", "chatgpt-image-latest", "gpt-image-0721-mini-alpha"][: models - 4]
    rows = [(day % 3, name, Decimal("0.0125"), 20, 272) for day, name in enumerate(names)]
    rows.append((1, names[0], Decimal("12.3456"), 20, 272))
    seed_usage(services, rows)
    seed_possibly_billed(services, 0, model=names[-1])
    grid = services.usage.day_model_table(14)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f5")
        await settle(pilot)
        panel = app.screen.query_one(DayModelPanel)
        await scroll_to(pilot, "#usage-day-model")
        lines = screen_lines(app)
        shown = amounts(lines)
        assert shown, lines
        assert all(WHOLE.fullmatch(amount) for amount in shown), (shown, lines)
        assert format_money(grid.total.cost) in " ".join(lines)  # the grand total, whole
        table = panel.query_one(DataTable)
        assert table.virtual_size.width <= table.size.width  # nothing to scroll sideways
        layout = panel.layout_used
        assert layout is not None
        if models == 7:
            assert layout.folded and "other" in " ".join(lines)
        else:
            assert not layout.folded
        days = app.screen.query_one("#usage-day-table", DataTable)
        assert days.virtual_size.width <= days.size.width  # the bars too stop at the edge
        # The by-model table: cost, unknown and possibly billed columns all whole.
        await scroll_to(pilot, "#usage-models")
        lines = screen_lines(app)
        assert all(WHOLE.fullmatch(amount) for amount in amounts(lines)), lines
        models_table = app.screen.query_one("#usage-model-table", DataTable)
        assert models_table.virtual_size.width <= models_table.size.width
        assert any("Possibly" in line for line in lines) and any("billed" in line for line in lines)


def test_headings_break_after_the_family_name() -> None:
    assert two_lines("gpt-image-1.5", 7) == "gpt-image-\n1.5"
    assert two_lines("gpt-image-1-mini", 7) == "gpt-image-\n1-mini"
    assert two_lines("Possibly billed", 1) == "Possibly\nbilled"
    assert two_lines("Images", 3) == "Images"  # nowhere to break
    assert two_lines("Cost", 7) == "Cost"  # narrower than its numbers


# -- template editor: the buttons stay on screen ---------------------------------------------


@pytest.mark.parametrize("size", [SMALL, (80, 20)])
async def test_editor_buttons_stay_on_screen_after_a_failed_save(
    app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async with app.run_test(size=size) as pilot:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, TemplateEditor)
        editor.query_one("#template-name", Input).value = "broken"
        editor.query_one("#template-body", TextArea).load_text(
            "a {style portrait {a|} {} {{ x } {9x} {b c} " * 3
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is editor  # refused: the problems are shown
        problems = str(editor.query_one("#editor-problems").content)  # type: ignore[attr-defined]
        assert problems.count("✗") >= 4
        screen_region = editor.region
        for button_id in ("#editor-save", "#editor-cancel"):
            button = editor.query_one(button_id, Button)
            assert screen_region.contains_region(button.region), (button_id, button.region)
            x, y = button.region.center
            assert editor.get_widget_at(x, y)[0] is button  # drawn, not covered
        assert any("Save" in line and "Cancel" in line for line in screen_lines(app))
        if size == SMALL:
            # The problems scroll in their own bounded area, on screen.
            area = editor.query_one("#editor-problems-scroll")
            assert 0 < area.region.height <= 6
            assert screen_region.contains_region(area.region)
        # And Save still works from there once the body is fixed.
        editor.query_one("#template-body", TextArea).load_text("a {style} portrait")
        await pilot.click("#editor-save")
        await settle(pilot)
        assert app.screen is not editor
        assert services.templates.get_template_by_name("broken").body == "a {style} portrait"


# -- compose: the partial-images picker ------------------------------------------------------


async def test_partial_images_picker_shows_its_state(app: DalleTuiApp) -> None:
    """The picker (0-3, which replaced the on/off box) says off, or how many drafts stream."""
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        box = app.screen.query_one("#pick-partials", Select)

        def shown() -> str:
            return str(box.query_one("#label", Static).render()).strip()

        assert shown() == "off"
        box.value = 3
        await pilot.pause()
        assert shown() == "3"
        box.value = 0
        await pilot.pause()
        assert shown() == "off"


async def test_the_favourites_only_checkbox_shows_its_state(app: DalleTuiApp) -> None:
    """History's ★-only box looked ticked when off (Textual draws X in both states)."""
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        box = app.screen.query_one("#filter-favorites", Checkbox)
        off = box.render().plain
        assert "X" not in off[:3]
        await pilot.press("asterisk")
        await pilot.pause()
        assert box.value and "X" in box.render().plain[:3]


async def test_trash_fits_80_columns_with_the_prompt_shortened(
    app: DalleTuiApp, services: Services
) -> None:
    """At 80 columns the Prompt column ran past the edge (cut, no ellipsis, sideways scroll)."""
    from tests.trash_helpers import make_images

    long = "a lighthouse on a cliff during a storm at night, oil painting, dramatic, detailed"
    services.trash.trash_prompt(make_images(services, long, 1)[0].prompt_id)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f6")
        table = app.screen.query_one("#trash-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        await settle(pilot)
        assert table.virtual_size.width <= table.content_size.width
        cell = str(table.get_cell_at((0, 5)))
        assert cell.endswith("…") and cell.startswith("a lighthouse on a cliff")
        await pilot.resize_terminal(160, 45)
        await wait_until(pilot, lambda: str(table.get_cell_at((0, 5))) == long)


async def test_the_status_line_sits_above_the_footer_on_an_empty_batches_screen(
    app: DalleTuiApp,
) -> None:
    """With no batch the status line floated mid-screen under the explanation."""
    from dalletui.tui.widgets.status import StatusLine

    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f7")
        await settle(pilot)
        await wait_until(pilot, lambda: app.screen.has_class("-empty"))
        await pilot.pause()
        status = app.screen.query_one(StatusLine)
        assert status.region.y == SMALL[1] - 2
