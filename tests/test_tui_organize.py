"""History organises: t tags (with completion), c adds to a collection, N writes a note, the
tag and collection pickers filter, z folds near-duplicates and x shows a family's variants."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea

from dalletui.services.context import Services
from dalletui.services.organize import ItemRef
from dalletui.storage.models import Prompt
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.widgets.organize_dialogs import AskTextModal, complete_name, split_tags
from tests.test_tui_history import SIZE, open_history, row_text, seed, settle, shown_texts


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


def pid(text: str) -> int:
    return int(Prompt.get(Prompt.text == text).id)


async def select_row(pilot: Pilot[Any], screen: HistoryScreen, text: str) -> None:
    index = screen.prompt_list.index_of(pid(text))
    assert index is not None, text
    screen.prompt_list.move_to(index)
    await settle(pilot, 0.2)


async def answer(pilot: Pilot[Any], text: str) -> None:
    """Type into the open dialog and press enter."""
    assert isinstance(pilot.app.screen, AskTextModal)
    await pilot.press(*text)
    await pilot.press("enter")
    await settle(pilot, 0.1)


# -- pure helpers ------------------------------------------------------------------------------


def test_complete_name_takes_the_last_item_only() -> None:
    names = ["Portrait", "portfolio", "fox"]
    assert complete_name("po", names, ",") == "portrait"  # completed as typed
    assert complete_name("fox, por", names, ",") == "fox, portrait"
    assert complete_name("fox, -Po", names, ",") == "fox, -Portrait"
    assert complete_name("portrait, po", names, ",") == "portrait, portfolio"  # taken: the next
    assert complete_name("fox, ", names, ",") is None
    assert complete_name("zebra", names, ",") is None
    assert complete_name("Client w", ["Client work, 2026"]) == "Client work, 2026"


def test_split_tags() -> None:
    assert split_tags(" fox,  Portrait , -old, -, ,") == (["fox", "Portrait"], ["old"])


# -- tags ----------------------------------------------------------------------------------------


async def test_t_tags_the_prompt_and_the_tag_picker_filters(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a red fox in the snow", "a blue whale", "a fox cub asleep"])
    services.organize.tag([pid("a blue whale")], ["Portrait"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await select_row(pilot, screen, "a fox cub asleep")
        await pilot.press("t")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AskTextModal)
        field = dialog.query_one("#ask-input", Input)
        await pilot.press("p", "o")
        await settle(pilot, 0.1)
        assert field._suggestion == "portrait"  # completed from the existing tag, as typed
        await pilot.press("right")  # takes the completion
        await answer(pilot, ", cute")
        assert isinstance(app.screen, HistoryScreen)
        assert services.organize.tags_of(pid("a fox cub asleep")) == ["cute", "Portrait"]
        # the detail pane says so, and the picker offers both tags with their counts
        labels = str(screen.detail.query_one("#detail-labels").render())
        assert "Tags" in labels and "Portrait" in labels and "cute" in labels
        picker = screen.query_one("#filter-tag", Select)
        offered = [str(label) for label, _ in picker._options]
        assert offered[:3] == ["Any tag", "Portrait (2)", "cute (1)"]
        picker.value = "Portrait"
        await settle(pilot, 0.1)
        assert shown_texts(screen) == ["a fox cub asleep", "a blue whale"]
        assert "tag Portrait" in str(screen.prompt_list.border_title)
        # -name takes a tag off; the last prompt with it gone, the picker falls back to any
        await select_row(pilot, screen, "a blue whale")
        await pilot.press("t")
        await settle(pilot)
        await answer(pilot, "-portrait")
        await select_row(pilot, screen, "a fox cub asleep")
        await pilot.press("t")
        await settle(pilot)
        await answer(pilot, "-Portrait")
        await settle(pilot, 0.1)
        assert picker.value == ""
        assert len(shown_texts(screen)) == 3


async def test_a_bad_tag_is_one_sentence_and_changes_nothing(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("t")
        await settle(pilot)
        await answer(pilot, "fine, " + "x" * 80)
        assert services.organize.tags_of(pid("a blue whale")) == []  # not even "fine"
        notices = [n.message for n in app._notifications]
        assert any("the limit is 64" in str(n) for n in notices), notices
        assert isinstance(app.screen, HistoryScreen) and screen.is_current


async def test_escape_cancels_the_dialog(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("f", "o", "x", "escape")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert services.organize.tags() == []


# -- collections and notes ---------------------------------------------------------------------


async def test_c_adds_to_a_collection_making_it_and_the_picker_filters(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, ["a red fox in the snow", "a blue whale", "a fox cub asleep"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await select_row(pilot, screen, "a blue whale")
        await pilot.press("c")
        await settle(pilot)
        await answer(pilot, "Sea things")
        notices = [str(n.message) for n in app._notifications]
        assert any("new collection “Sea things”" in n for n in notices), notices
        await select_row(pilot, screen, "a red fox in the snow")
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("s", "e")
        await settle(pilot, 0.1)
        await pilot.press("right")  # completed to the existing collection, any case
        await answer(pilot, "")
        view = services.organize.collection("sea things")
        assert [item.prompt_id for item in view.items] == [
            pid("a blue whale"),
            pid("a red fox in the snow"),
        ]
        picker = screen.query_one("#filter-collection", Select)
        picker.value = "Sea things"
        await settle(pilot, 0.3)
        assert shown_texts(screen) == ["a blue whale", "a red fox in the snow"]
        assert "In" in str(screen.detail.query_one("#detail-labels").render())


async def test_n_writes_a_note_on_the_prompt(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["a blue whale"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("N")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AskTextModal)
        dialog.query_one("#ask-note", TextArea).text = "sold as a print\n\x1b[31mred"
        await pilot.press("ctrl+s")
        await settle(pilot, 0.2)
        stored = services.organize.note(ItemRef.of_prompt(pid("a blue whale")))
        assert stored.startswith("sold as a print") and "\x1b" not in stored
        shown = str(screen.detail.query_one("#detail-labels").render())
        assert "Note" in shown and "sold as a print" in shown and "\x1b" not in shown


# -- folding -------------------------------------------------------------------------------------


FAMILY = [
    "a red fox in the snow at dawn",
    "A red fox, in the snow at dawn!",
    "at dawn: the snow, a red fox in",
    "a blue whale",
    "a red fox in the deep snow at dawn",
]


async def test_z_folds_variants_and_x_shows_them(app: DalleTuiApp, services: Services) -> None:
    seed(services, ["an owl", *FAMILY])
    for _ in range(2):  # the most used member heads the family (and is now the newest)
        services.db.record_prompt_use("a red fox in the snow at dawn")
    services.families.fold()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert len(shown_texts(screen)) == 6
        await pilot.press("z")
        await settle(pilot, 0.1)
        folded = ["a red fox in the snow at dawn", "a blue whale", "an owl"]
        assert shown_texts(screen) == folded
        assert str(screen.prompt_list.border_title).startswith("3 prompts")
        assert "+3" in row_text(screen.prompt_list, 0)
        assert "+" not in row_text(screen.prompt_list, 1)
        await select_row(pilot, screen, "a red fox in the snow at dawn")
        await pilot.press("x")
        await settle(pilot)
        shown = shown_texts(screen)
        assert shown[0] == "a red fox in the snow at dawn"
        assert sorted(shown[1:4]) == sorted(FAMILY[1:3] + [FAMILY[4]])
        assert shown[4:] == ["a blue whale", "an owl"]
        assert "↳" in row_text(screen.prompt_list, 1)
        assert "▾ +3" in row_text(screen.prompt_list, 0)
        # x on a variant folds the family back and the cursor goes to its head
        screen.prompt_list.move_to(2)
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert shown_texts(screen) == folded
        assert screen.prompt_list.highlighted.text == "a red fox in the snow at dawn"
        # a search while folded: the family shows once, as its most-used match
        screen.query_one("#search", Input).value = "deep"
        await settle(pilot, 0.1)
        assert shown_texts(screen) == ["a red fox in the deep snow at dawn"]
        await pilot.press("escape")
        screen.query_one("#search", Input).value = ""
        await settle(pilot, 0.1)
        await pilot.press("z")
        await settle(pilot, 0.1)
        assert len(shown_texts(screen)) == 6
        assert "+" not in row_text(screen.prompt_list, 0)


async def test_a_note_on_an_image_shows_in_the_image_view(
    app: DalleTuiApp, services: Services
) -> None:
    from dalletui.generation.types import GenerationRequest
    from dalletui.tui.screens.image_view import more_facts

    outcome = await services.generation.generate(GenerationRequest(prompt="a blue whale"))
    image = outcome.generations[0]
    services.organize.set_note(ItemRef("generation", image.id), "the \x1b[2Jbest\none")
    [row] = [r for r in services.history.entries(outcome.prompt.id) if r.id == image.id]
    shown = more_facts(row).plain
    assert "Note       the" in shown and "best one" in shown and "\x1b" not in shown
