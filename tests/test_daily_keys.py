"""Issue 12, keys and settings: Help and the palette from the live bindings, ``?``, the theme and
``[keys]`` that stick, the footer at 80x24, and a status line that follows Compose's model and
other dalletui processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Select, TextArea
from textual.widgets._footer import FooterKey

from dalletui.config import Settings, load_settings, state_path
from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services, open_services
from dalletui.services.history import PromptQuery
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.commands import DalleTuiCommands
from dalletui.tui.keys import build_keymap, known_bindings, readable_key, readable_keys
from dalletui.tui.screens.help import QUESTION_MARK_NOTE, HelpScreen, help_lines
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.results import ImageSlot

SMALL = (80, 24)
SIZE = (120, 40)
README = Path(__file__).resolve().parents[1] / "README.md"


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def seed(services: Services, *texts: str) -> None:
    start = dt.datetime.now() - dt.timedelta(hours=1)
    for offset, text in enumerate(texts):
        services.db.record_prompt_use(text, when=start + dt.timedelta(minutes=offset))


def app_for(settings: Settings) -> tuple[DalleTuiApp, Services]:
    graphics.configure("halfcell")
    services = open_services(settings)
    return make_app(services), services


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("DALLETUI_CONFIG", str(config))
    return load_settings()


def record_notifications(app: DalleTuiApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = app.notify

    def notify(message: str, **kw: Any) -> None:
        seen.append(message)
        original(message, **kw)

    monkeypatch.setattr(app, "notify", notify)
    return seen


def help_table(app: DalleTuiApp) -> dict[str, list[tuple[str, str, str]]]:
    """The rows Help shows, by group title."""
    return dict(help_lines(app.screen))


async def first_result(pilot: Pilot[Any], prompt: str) -> ImageSlot:
    app = pilot.app
    editor = app.screen.query_one("#prompt", TextArea)
    editor.focus()
    editor.load_text(prompt)
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: bool(app.screen.query(ImageSlot)))
    await settle(pilot)
    card = app.screen.query(ImageSlot).first()
    card.focus()
    await pilot.pause()
    return card


# -- key names -------------------------------------------------------------------------------


def test_keys_read_as_people_read_them() -> None:
    assert readable_keys("f1,question_mark") == "F1 / ?"
    assert readable_keys("d,delete") == "d / Delete"
    assert readable_keys("ctrl+g,ctrl+enter") == "Ctrl+G / Ctrl+Enter"
    assert readable_key("ctrl+r") == "Ctrl+R"
    assert readable_key("R") == "Shift+R"
    assert readable_key("slash") == "/"
    assert readable_key("escape") == "Esc"
    assert readable_key("ctrl+g", short=True) == "^g"
    assert readable_key("f5", short=True) == "F5"


# -- Help --------------------------------------------------------------------------------------


async def test_help_shows_readable_keys_one_line_each_grouped_with_the_focused_widget(
    app: DalleTuiApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await first_result(pilot, "a red fox")
        groups = help_table(app)
        assert list(groups)[:2] == ["On the result card", "Compose"]
        card = {what: keys for keys, what, _id in groups["On the result card"]}
        assert card["Open the full image in the system viewer"] == "o"
        assert card["Star or unstar this prompt"] == "f"
        everywhere = {binding_id: keys for keys, _what, binding_id in groups["Everywhere"]}
        assert everywhere["app.help, app.help-question"] == "F1 / ?"  # a card takes no text
        assert everywhere["mode.usage"] == "F5"
        compose = {binding_id: keys for keys, _what, binding_id in groups["Compose"]}
        assert compose["compose.generate"] == "Ctrl+G / Ctrl+Enter"
        shown = " ".join(keys for rows in groups.values() for keys, _w, _i in rows)
        for raw in ("question_mark", "f1,", "ctrl+", "^"):
            assert raw not in shown

        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table")
        texts = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        assert "On the result card" in texts and "F1 / ?" in texts


async def test_help_lists_the_list_navigation_of_history(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, "a red fox", "a blue whale")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        groups = help_table(app)
        lists = [rows for title, rows in groups.items() if title == "On the prompt list"]
        assert lists, list(groups)
        keys = {what: keys for keys, what, _id in lists[0]}
        assert keys["Up"] == "↑ / k"
        history = {binding_id: keys for keys, _what, binding_id in groups["History"]}
        assert history["history.delete"] == "d / Delete"


# -- ? and F1 ------------------------------------------------------------------------------------


async def test_question_mark_types_in_the_prompt_and_opens_help_elsewhere(
    app: DalleTuiApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one("#prompt", TextArea)
        assert app.focused is editor
        await pilot.press("w", "h", "y", "question_mark")
        await pilot.pause()
        assert editor.text == "why?" and not isinstance(app.screen, HelpScreen)
        # Help says so, where ? is not offered: F1 only, and the note about text fields.
        groups = help_table(app)
        everywhere = {binding_id: keys for keys, _what, binding_id in groups["Everywhere"]}
        assert everywhere["app.help"] == "F1"
        assert "except in a text field" in QUESTION_MARK_NOTE

        await pilot.press("f1")  # F1 always, from inside the editor too
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        hint = str(app.screen.query_one("#help-hint").render())
        assert "? does too, except in a text field" in hint
        await pilot.press("escape")
        await pilot.pause()

        app.screen.query_one("#pick-model", Select).focus()  # not a text field
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert editor.text == "why?"


async def test_f1_opens_help_in_a_dialog_too_and_closes_it_again(app: DalleTuiApp) -> None:
    async with app.run_test(size=SMALL) as pilot:
        dialog = ConfirmModal("Empty the trash?", "Everything in it goes for good.")
        await app.push_screen(dialog)
        await pilot.pause()
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = [keys for _title, group in help_lines(dialog) for keys, _w, _i in group]
        assert "Esc" in rows  # the dialog's own keys
        await pilot.press("f1")
        await wait_until(pilot, lambda: app.screen is dialog)


def test_the_readme_tells_what_question_mark_does() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "| everywhere | `F1` | help (in a dialog too; `F1` again closes it): every key" in readme
    assert "`?` opens help too, except in a text field" in readme


# -- the palette -------------------------------------------------------------------------------


async def test_the_palette_lists_the_keyed_actions_of_the_screen_it_was_opened_from(
    app: DalleTuiApp, services: Services
) -> None:
    seed(services, "a red fox", "a blue whale")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        history = app.screen
        names = {c.name: c.help for c in DalleTuiCommands(history).commands()}
        for name in ("History: Star", "History: Delete", "History: Search"):
            assert name in names, sorted(names)
        assert names["History: Star"].endswith("(f)")
        assert names["History: Delete"].endswith("(d / Delete)")

        # Through the real palette: it runs on History (the screen under the palette).
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"history: star")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is history)
        await settle(pilot)
        starred = [p for p in services.history.search(PromptQuery(limit=10)).items if p.is_favorite]
        assert [p.text for p in starred] == ["a blue whale"]


async def test_the_palette_offers_templates_and_result_card_actions(
    app: DalleTuiApp, services: Services
) -> None:
    services.templates.create_template("portrait", "a portrait of a {subject|fox}", "faces")
    async with app.run_test(size=SIZE) as pilot:
        await first_result(pilot, "a red fox")
        names = {c.name: c.help for c in DalleTuiCommands(app.screen).commands()}
        assert names["Result card: Open"] == "Open the full image in the system viewer (o)"
        assert "Generate images" in names and "Compose: Generate" not in names  # no twin

        await pilot.press("f4")
        await settle(pilot)
        await wait_until(
            pilot,
            lambda: "Templates: Batch" in [c.name for c in DalleTuiCommands(app.screen).commands()],
        )
        names = {c.name: c.help for c in DalleTuiCommands(app.screen).commands()}
        for name in ("Templates: New", "Templates: Edit", "Templates: Delete"):
            assert name in names, sorted(names)
        assert names["Templates: New"].endswith("(n)")


# -- theme ---------------------------------------------------------------------------------------


async def test_the_theme_from_the_config_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_config(tmp_path, 'theme = "nord"\n', monkeypatch)
    assert settings.theme == "nord" and not settings.warnings
    app, services = app_for(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.theme == "nord"
    finally:
        services.close()


async def test_an_unknown_theme_is_one_sentence_and_the_default_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_config(tmp_path, '[defaults]\ntheme = "nrod"\n', monkeypatch)
    app, services = app_for(settings)
    notes = record_notifications(app, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.theme == "textual-dark"
            [note] = [n for n in notes if "nrod" in n]
            assert note.startswith("The theme 'nrod' in ")
            assert "is not one of Textual's themes" in note and "nord" in note
    finally:
        services.close()


async def test_a_theme_picked_at_run_time_is_there_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_config(tmp_path, "# my settings\nmodel = 'gpt-image-1.5'\n", monkeypatch)
    app, services = app_for(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.theme = "dracula"  # what the palette's Theme command does
            await wait_until(pilot, lambda: state_path(settings).is_file())
            await settle(pilot)
    finally:
        services.close()
    # The user's config is left as written; the pick lives in the data folder.
    assert (tmp_path / "config.toml").read_text() == "# my settings\nmodel = 'gpt-image-1.5'\n"
    assert [p.name for p in settings.home.iterdir() if p.name.startswith(".state-")] == []

    again, services = app_for(load_settings())
    try:
        async with again.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert again.theme == "dracula"
    finally:
        services.close()

    # A theme written into the config afterwards is the newer choice: it wins.
    changed = write_config(tmp_path, 'theme = "nord"\n', monkeypatch)
    third, services = app_for(changed)
    try:
        async with third.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert third.theme == "nord"
    finally:
        services.close()


# -- [keys] ------------------------------------------------------------------------------------


async def test_keys_remapped_in_the_config_work_and_show_in_help_and_palette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_config(
        tmp_path,
        '[keys]\n"history.favorite" = "s"\ncompose.cancel = "ctrl+k"\n',
        monkeypatch,
    )
    assert settings.keys == {"history.favorite": "s", "compose.cancel": "ctrl+k"}
    app, services = app_for(settings)
    seed(services, "a red fox")
    notes = record_notifications(app, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            # escape still goes back to the prompt though "compose.cancel" (also escape) moved.
            await first_result(pilot, "an owl")
            await pilot.press("escape")
            await pilot.pause()
            assert app.focused is app.screen.query_one("#prompt")

            await pilot.press("f3")
            await settle(pilot)
            prompt = app.screen.prompt_list.highlighted  # type: ignore[attr-defined]
            assert prompt is not None
            await pilot.press("s")
            await settle(pilot)
            assert services.history.get(prompt.id).is_favorite is True
            history = {i: keys for keys, _w, i in help_table(app)["History"]}
            assert history["history.favorite"] == "s"
            names = {c.name: c.help for c in DalleTuiCommands(app.screen).commands()}
            assert names["History: Star"].endswith("(s)")
        assert not notes
    finally:
        services.close()


async def test_unknown_ids_and_bad_keys_are_one_sentence_each_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_config(
        tmp_path,
        "[keys]\n"
        '"history.favorit" = "s"\n'
        '"history.delete" = "ctrl+shfit+x"\n'
        '"history.reuse" = 5\n'
        '"history.undo" = "f"\n',
        monkeypatch,
    )
    app, services = app_for(settings)
    notes = record_notifications(app, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert len(notes) == 4, notes
            unknown, bad, clash = (
                next(n for n in notes if "favorit'" in n),
                next(n for n in notes if "shfit" in n),
                next(n for n in notes if "history.undo" in n),
            )
            assert "is not a dalletui key binding" in unknown
            assert "did you mean 'history.favorite'?" in unknown
            assert "'shfit' is not a modifier" in bad and "keeps d / Delete" in bad
            assert "is already Star (history.favorite)" in clash
            assert any("'history.reuse' must be a key in quotes" in n for n in notes)
            assert all("\n" not in n and "Traceback" not in n for n in notes)
            # The bad entries changed nothing: d still deletes, f still stars.
            assert app.keymap_in_use == {}
    finally:
        services.close()


def test_a_key_of_the_app_or_of_the_same_screen_is_not_taken_silently() -> None:
    known = known_bindings(DalleTuiApp)
    result = build_keymap(
        {"history.favorite": "f1", "history.undo": "f", "compose.cancel": "ctrl+k"},
        known,
        "config.toml",
    )
    assert result.warnings == [
        "[keys] in config.toml: 'history.favorite' = 'F1' is already Help (app.help) "
        "everywhere, so it is ignored; pick another key, or remap 'app.help' too.",
        "[keys] in config.toml: 'history.undo' = 'f' is already Star (history.favorite) "
        "on History, so it is ignored; pick another key, or remap 'history.favorite' too.",
    ]
    # escape, shared by cancel and edit-prompt, keeps editing the prompt (Textual would drop it).
    assert result.keymap == {"compose.cancel": "ctrl+k", "compose.edit": "escape"}


# -- the footer at 80x24 -------------------------------------------------------------------------

MODE_KEYS = {
    "compose": "F2",
    "history": "F3",
    "templates": "F4",
    "usage": "F5",
    "trash": "F6",
    "batches": "F7",
}


def footer_text(app: DalleTuiApp) -> tuple[str, int]:
    """What the footer draws, left to right, and the right edge of its last key."""
    keys = sorted(app.screen.query(FooterKey), key=lambda key: key.region.x)
    text = " ".join(str(key.render()).strip() for key in keys if key.region.width)
    right = max((key.region.right for key in keys), default=0)
    return text, right


@pytest.mark.parametrize("mode", list(MODE_KEYS))
async def test_the_footer_fits_80_columns_with_help_and_every_other_mode(
    app: DalleTuiApp, mode: str
) -> None:
    def fits() -> bool:
        # A footer recomposes when the screen's bindings change (a load finishing), and is
        # briefly empty while it does: the check is that it settles on all of this.
        text, right = footer_text(app)
        others = [key for other, key in MODE_KEYS.items() if other != mode]
        return (
            right <= SMALL[0]
            and "F1 Help" in text
            and all(f"{key} " in text for key in others)
            and (mode != "compose" or text.startswith("^g Generate"))
        )

    async with app.run_test(size=SMALL) as pilot:
        await app.switch_mode(mode)
        await wait_until(pilot, fits)
        await settle(pilot)  # and once every load is in, when nothing changes any more
        await wait_until(pilot, fits)


async def test_the_footer_shows_everything_when_wide(app: DalleTuiApp) -> None:
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "F1 Help" in footer_text(app)[0])
        text, _right = footer_text(app)
        for key in MODE_KEYS.values():
            assert f"{key} " in text, text
        assert "^q Quit" in text and "^p palette" in text


class HeldProvider:
    """Generates nothing until cancelled: Compose stays in its running state."""

    name = "offline"
    offline = True

    async def generate(self, request: object, on_partial: object = None, on_wait: object = None):  # noqa: ANN201
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        """Nothing to release."""


async def test_the_footer_shows_cancel_at_80_columns_while_generating(
    app: DalleTuiApp, services: Services
) -> None:
    services.generation._providers["offline"] = HeldProvider()  # type: ignore[assignment]
    async with app.run_test(size=SMALL) as pilot:
        app.screen.query_one("#prompt", TextArea).load_text("a slow fox")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "esc Cancel" in footer_text(app)[0])
        text, right = footer_text(app)
        assert right <= SMALL[0] and "F1 Help" in text and "F7 Batches" in text, text
        await pilot.press("escape")
        await wait_until(pilot, lambda: footer_text(app)[0].startswith("^g Generate"))


# -- the status line -----------------------------------------------------------------------------


async def test_the_status_line_names_the_model_picked_in_compose(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "gpt-image-1-mini" in app.status)
        app.screen.query_one("#pick-model", Select).value = "gpt-image-1.5"
        await wait_until(pilot, lambda: " · gpt-image-1.5 · " in app.status)
        await app.switch_mode("usage")  # it stays so on other screens
        await wait_until(pilot, lambda: app.current_mode == "usage")
        await pilot.pause(0.1)
        assert " · gpt-image-1.5 · " in app.status
        shown = str(app.screen.query_one("#status").render())
        assert " · gpt-image-1.5 · " in shown


async def test_today_follows_images_made_by_another_dalletui(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DalleTuiApp, "STATUS_REFRESH_SECONDS", 0.2)
    app, services = app_for(settings)
    other = open_services(settings)  # a second dalletui process on the same data folder
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "today 0 images" in app.status)
            outcome = await other.generation.generate(GenerationRequest(prompt="a far fox"))
            assert outcome.ok
            await wait_until(pilot, lambda: "today 1 image," in app.status)
    finally:
        other.close()
        services.close()


async def test_today_is_refreshed_when_the_terminal_regains_focus(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DalleTuiApp, "STATUS_REFRESH_SECONDS", 3600.0)  # not the timer
    app, services = app_for(settings)
    other = open_services(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "today 0 images" in app.status)
            await other.generation.generate(GenerationRequest(prompt="a far fox"))
            app.post_message(events.AppFocus())
            await wait_until(pilot, lambda: "today 1 image," in app.status)
    finally:
        other.close()
        services.close()


async def test_ctrl_l_redraws_the_screen_and_its_images_everywhere(
    app: DalleTuiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+l is the terminal user's "draw it all again"; in the prompt editor too."""
    asked: list[object] = []
    monkeypatch.setattr(graphics.Graphics, "redraw", lambda _layer, app: asked.append(app))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, TextArea)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: asked == [app])
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: asked == [app, app])
