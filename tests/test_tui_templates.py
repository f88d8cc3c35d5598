"""Templates screen through the pilot: create, live preview, unknown names, delete, use."""

from __future__ import annotations

from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.messages import ReusePrompt
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.screens.templates import TemplatesScreen
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.template_editor import TemplateEditor, VariableEditor
from dalletui.tui.widgets.template_preview import TemplatePreview


@pytest.fixture
def seeded(services: Services) -> Services:
    services.templates.create_variable("style", ["ink", "oil", "pixel"])
    services.templates.create_variable("subject", ["fox", "owl"])
    services.templates.create_template("portrait", "a {style} portrait of a {subject}", "faces")
    return services


async def open_templates(app: DalleTuiApp, pilot: Pilot) -> TemplatesScreen:
    await pilot.press("f4")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, TemplatesScreen)
    return screen


async def settle(app: DalleTuiApp, pilot: Pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def text_of(widget: Static) -> str:
    return str(widget.content)


async def test_create_a_template_with_a_live_count(app: DalleTuiApp, seeded: Services) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_templates(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, TemplateEditor)
        await pilot.press(*"scene")  # the name field has focus
        editor.query_one("#template-description", Input).value = "a test"
        await pilot.press("tab", "tab", *"{style} {subject}")
        shown = text_of(editor.query_one(TemplatePreview))
        assert "Expands to 6 prompts" in shown
        assert "style 3 × subject 2" in shown
        assert "1. ink fox" in shown and "3. pixel owl" in shown
        editor.query_one("#template-body", TextArea).insert(" {{at}} dusk")
        await pilot.pause()
        assert "3. pixel owl {at} dusk" in text_of(editor.query_one(TemplatePreview))
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        saved = seeded.templates.get_template_by_name("scene")
        assert (saved.body, saved.description) == ("{style} {subject} {{at}} dusk", "a test")
        table = screen.query_one("#template-table", DataTable)
        assert table.row_count == 2
        assert screen.selected_template().name == "scene"  # type: ignore[union-attr]


async def test_unknown_and_malformed_placeholders_show_errors(
    app: DalleTuiApp, seeded: Services
) -> None:
    seeded.templates.create_template("moody", "{mood} sky")
    posted: list[Message] = []
    async with app.run_test(size=(120, 40), message_hook=posted.append) as pilot:
        screen = await open_templates(app, pilot)
        # The list flags the template whose variable is missing, and "use" refuses it.
        table = screen.query_one("#template-table", DataTable)
        counts = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(2)}
        assert counts == {"moody": "? mood", "portrait": "6"}
        assert "Unknown variable {mood}" in text_of(
            screen.query_one("#template-detail-preview", TemplatePreview)
        )
        await pilot.press("u")
        await settle(app, pilot)
        assert not [m for m in posted if isinstance(m, ReusePrompt)]
        assert app.current_mode == "templates"

        await pilot.press("n")
        await pilot.pause()
        editor = app.screen
        body = editor.query_one("#template-body", TextArea)
        body.text = "a {style} in a {mood} mood"
        await pilot.pause()
        shown = text_of(editor.query_one(TemplatePreview))
        assert "Unknown variable {mood}" in shown
        assert "Expands to" not in shown
        body.text = "a {1x} and {"
        await pilot.pause()
        shown = text_of(editor.query_one(TemplatePreview))
        assert "Malformed placeholder '{1x}'" in shown and "Unclosed '{'" in shown
        # Saving a malformed body is refused with the same sentence, and the editor stays.
        editor.query_one("#template-name", Input).value = "broken"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is editor
        assert "Malformed placeholder" in text_of(editor.query_one("#editor-problems", Static))
        assert [t.name for t in seeded.templates.list_templates()] == ["moody", "portrait"]


async def test_delete_asks_first(app: DalleTuiApp, seeded: Services) -> None:
    seeded.templates.create_template("[b]odd[/b", "brackets are not markup")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_templates(app, pilot)
        assert screen.selected_template().name == "[b]odd[/b"  # type: ignore[union-attr]
        await pilot.press("e")  # the name in the editor's title is text, not markup
        await pilot.pause()
        assert isinstance(app.screen, TemplateEditor)
        await pilot.press("escape", "d")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert [t.name for t in seeded.templates.list_templates()] == ["portrait"]
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(app, pilot)
        assert len(seeded.templates.list_templates()) == 1
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert seeded.templates.list_templates() == []

        # The delete's worker then the list's reload, each ending on the UI thread: under load
        # one settle can return between the two (a CI run on 2 busy cores).
        def heading() -> str:
            return text_of(app.screen.query_one("#template-heading", Static))

        for _ in range(100):
            if "No templates yet" in heading():
                break
            await settle(app, pilot)
        assert "No templates yet" in heading()


async def test_use_posts_reuse_prompt_and_compose_opens(
    app: DalleTuiApp, seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        ComposeScreen, "load_prompt", lambda self, text, params, **_: loaded.append((text, params))
    )
    posted: list[Message] = []
    async with app.run_test(size=(120, 40), message_hook=posted.append) as pilot:
        await open_templates(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        # The hook sees a message at each node it bubbles through: count distinct messages.
        reuse = list({id(m): m for m in posted if isinstance(m, ReusePrompt)}.values())
        assert [(m.text, m.params) for m in reuse] == [("a ink portrait of a fox", {})]
        assert app.current_mode == "compose"
        assert loaded == [("a ink portrait of a fox", {})]


async def test_define_and_edit_variables(app: DalleTuiApp, seeded: Services) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_templates(app, pilot)
        await pilot.press("v")
        await pilot.pause()
        assert screen.on_variables
        await pilot.press("n")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, VariableEditor)
        await pilot.press(*"2nd")
        await pilot.pause()
        check = editor.query_one("#variable-check", Static)
        assert "'2nd' is not valid" in text_of(check)
        assert "value" not in text_of(check)  # values are not asked for before any are typed
        await pilot.press("ctrl+s")  # refused: still open, nothing saved, every problem said
        await settle(app, pilot)
        assert app.screen is editor and len(seeded.templates.list_variables()) == 2
        assert "needs at least one value" in text_of(check)
        editor.query_one("#variable-name", Input).value = "colour"
        editor.query_one("#variable-values", TextArea).text = "red\n\n blue \nred\n"
        await pilot.pause()
        assert "'red' more than once" in text_of(check)
        editor.query_one("#variable-values", TextArea).text = "red\n\n blue \n"
        await pilot.pause()
        assert "2 values for {colour}" in text_of(check)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert seeded.templates.variable_values()["colour"] == ["red", "blue"]
        table = screen.query_one("#variable-table", DataTable)
        assert table.row_count == 3
        assert screen.selected_variable().name == "colour"  # type: ignore[union-attr]

        # Edit subject (enter edits on the Variables tab); the template's count follows.
        table.move_cursor(row=2)
        await pilot.press("enter")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, VariableEditor)
        assert editor.query_one("#variable-name", Input).value == "subject"
        editor.query_one("#variable-values", TextArea).text = "fox\nowl\ncat"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert seeded.templates.variable_values()["subject"] == ["fox", "owl", "cat"]
        await pilot.press("t")
        await pilot.pause()
        preview = screen.query_one("#template-detail-preview", TemplatePreview)
        assert "Expands to 9 prompts" in text_of(preview)
