"""Compose's edit panel (issue 14): an image to edit from a result / StartEdit, references added by
path or gen:ID (ctrl+o) or pasted, a mask file, fidelity, the estimate, and the edit sent
through the services with its lineage. Offline (conftest's app), and through the real SDK
against the fake server for the cost from tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual import events
from textual.widgets import Button, Input, OptionList, Select, Static, TextArea

from dalletui.generation.types import EditRequest, GenerationRequest
from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.messages import StartEdit
from dalletui.tui.widgets.edit_panel import EditPanel, complete_path, unquote_path
from dalletui.tui.widgets.results import ImageSlot
from tests.fakes import FakeOpenAIServer
from tests.test_tui_compose import (
    SIZE,
    compose_screen,
    record_notifications,
    sdk_app,
    wait_until,
)


async def seed(services: Services, prompt: str = "a lighthouse at dusk") -> int:
    outcome = await services.generation.generate(GenerationRequest(prompt=prompt, quality="low"))
    return outcome.succeeded[0].id


def png(path: Path, size: tuple[int, int] = (1024, 1024), colour=(20, 160, 90)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def panel_of(app: DalleTuiApp) -> EditPanel:
    return compose_screen(app).query_one(EditPanel)


def input_labels(app: DalleTuiApp) -> list[str]:
    options = panel_of(app).query_one("#edit-inputs", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def start_editing(pilot: Any, app: DalleTuiApp, gid: int, prompt: str) -> EditPanel:
    app.post_message(StartEdit(gid, prompt, {"quality": "low"}))
    await wait_until(pilot, lambda: panel_of(app).editing)
    await pilot.pause()
    return panel_of(app)


async def test_start_edit_prefills_and_ctrl_g_makes_an_edit(
    app: DalleTuiApp, services: Services
) -> None:
    root = await seed(services)
    async with app.run_test(size=SIZE) as pilot:
        panel = await start_editing(pilot, app, root, "a lighthouse at dusk")
        screen = compose_screen(app)
        assert panel.display and panel.border_title == f"Edit #{root}"
        assert screen.query_one("#prompt", TextArea).text == "a lighthouse at dusk"
        assert str(screen.query_one("#generate", Button).label) == "Edit"
        await wait_until(
            pilot, lambda: "offline" in str(panel.query_one("#edit-estimate", Static).render())
        )
        assert isinstance(screen.build_request(), EditRequest)
        # The edits endpoint takes no moderation: the picker is off while editing.
        moderation = screen.query_one("#pick-moderation", Select)
        assert moderation.disabled and screen.build_request().moderation == "auto"

        screen.query_one("#prompt", TextArea).load_text("the lighthouse in a storm")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: not screen.generating)
        await app.workers.wait_for_complete()
        await pilot.pause()
        made = [g for g in services.db.children(root)]
        assert len(made) == 1 and made[0].kind == "edit"
        assert made[0].prompt.text == "the lighthouse in a storm"
        assert "✓ 1 image" in str(screen.query_one("#compose-outcome", Static).render())
        card = screen.query(ImageSlot).first()
        assert card.border_subtitle == f"edit of #{root} · #{made[0].id}"
        # The panel stays: the next edit starts from the same image unless changed.
        assert panel.editing


async def test_references_by_path_and_gen_id_mask_and_removal(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    root = await seed(services)
    other = await seed(services, "a red boat")
    outside = png(tmp_path / "refs" / "my photo.png")
    async with app.run_test(size=SIZE) as pilot:
        panel = await start_editing(pilot, app, root, "a lighthouse at dusk")
        screen = compose_screen(app)
        await pilot.press("ctrl+o")
        path_input = panel.query_one("#edit-path", Input)
        assert path_input.display and path_input.has_focus
        path_input.value = f"gen:{other}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(panel.images) == 2)
        assert not path_input.display  # closed once the image was added
        await pilot.press("ctrl+o")
        path_input.value = f"'{outside}'"  # as a terminal pastes a dropped file
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(panel.images) == 3)
        assert input_labels(app) == [f"edit #{root}", f"image #{other}", "image my photo.png"]
        assert panel.border_title == f"Edit #{root} + 2 references"

        size = Image.open(services.db.get_generation(root).file_path).size
        mask = tmp_path / "mask.png"
        Image.new("RGBA", size, (0, 0, 0, 0)).save(mask)
        await pilot.press("ctrl+o")
        path_input.value = f"mask:{mask}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.overlay is not None)
        request = screen.build_request()
        assert isinstance(request, EditRequest)
        assert len(request.images) == 3 and request.mask is not None

        # delete on the list removes the highlighted input
        options = panel.query_one("#edit-inputs", OptionList)
        options.focus()
        options.highlighted = 1
        await pilot.press("delete")
        await pilot.pause()
        assert input_labels(app) == [f"edit #{root}", "image my photo.png", "mask mask.png"]

        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: not screen.generating)
        await app.workers.wait_for_complete()
        [made] = services.db.children(root)
        inputs = services.db.inputs(made.id)
        assert [(i.role, i.parent_generation_id) for i in inputs] == [
            ("image", root),
            ("image", None),
            ("mask", None),
        ]

        panel.query_one("#edit-stop", Button).press()
        await pilot.pause()
        assert not panel.editing and not panel.display
        assert str(screen.query_one("#generate", Button).label) == "Generate"
        assert not isinstance(screen.build_request(), EditRequest)


async def test_bad_inputs_are_one_sentence_and_change_nothing(
    app: DalleTuiApp, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = await seed(services)
    seen = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        panel = await start_editing(pilot, app, root, "x")
        screen = compose_screen(app)
        for bad in ("gen:999", str(tmp_path), str(tmp_path / "none.png")):
            await pilot.press("ctrl+o")
            panel.query_one("#edit-path", Input).value = bad
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(seen) > 0)
            title, message, _ = seen.pop()
            assert title == "Cannot use that image" and message.endswith(".")
            assert "\n" not in message and "Traceback" not in message
        assert len(panel.images) == 1
        await pilot.press("escape")
        assert not panel.query_one("#edit-path", Input).display

        # A mask of the wrong size: the catalogue's sentence, and nothing is sent.
        mask = tmp_path / "small.png"
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(mask)
        await pilot.press("ctrl+o")
        panel.query_one("#edit-path", Input).value = f"mask:{mask}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.overlay is not None)
        screen._validate()
        await pilot.pause()
        problems = [str(s.render()) for s in screen.query("#compose-messages .problem")]
        assert any("must be the same size" in p for p in problems)
        before = len(services.db.children(root))
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not screen.generating and len(services.db.children(root)) == before


async def test_a_pasted_image_path_becomes_a_reference(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    root = await seed(services)
    dropped = png(tmp_path / "drop here.png")
    async with app.run_test(size=SIZE) as pilot:
        panel = await start_editing(pilot, app, root, "keep this text")
        prompt = compose_screen(app).query_one("#prompt", TextArea)
        prompt.focus()
        prompt.post_message(events.Paste(str(dropped).replace(" ", "\\ ")))
        await wait_until(pilot, lambda: len(panel.images) == 2)
        assert prompt.text == "keep this text"
        prompt.post_message(events.Paste(" and more words"))
        await pilot.pause()
        assert "and more words" in prompt.text and len(panel.images) == 2


async def test_hostile_file_names_are_shown_as_text(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    root = await seed(services)
    hostile = png(tmp_path / "evil\x1b]0;pwned\x07\x1b[31m.png")
    async with app.run_test(size=SIZE) as pilot:
        panel = await start_editing(pilot, app, root, "x")
        await pilot.press("ctrl+o")
        panel.query_one("#edit-path", Input).value = str(hostile)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(panel.images) == 2)
        for label in input_labels(app):
            assert "\x1b" not in label and "\x07" not in label


def test_path_helpers(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    png(tmp_path / "pics" / "sunset.png", (8, 8))
    (tmp_path / "pics" / "notes.txt").write_text("x")
    assert complete_path(f"{tmp_path}/pi") == f"{tmp_path}/pics/"
    assert complete_path(f"{tmp_path}/pics/s") == f"{tmp_path}/pics/sunset.png"
    assert complete_path(f"{tmp_path}/pics/n") is None  # not an image
    assert complete_path(f"{tmp_path}/nothing/x") is None
    assert unquote_path("'/a b/c.png'") == "/a b/c.png"
    assert unquote_path("/a\\ b/c.png") == "/a b/c.png"
    assert unquote_path("file:///a%20b/c.png") == "/a b/c.png"


async def test_edit_through_the_sdk_shows_the_cost_from_tokens(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    app, services = sdk_app(tmp_path / "sdk-home", fake_openai)
    try:
        root = await seed(services)
        async with app.run_test(size=SIZE) as pilot:
            panel = await start_editing(pilot, app, root, "a lighthouse at dusk")
            await wait_until(
                pilot, lambda: "unknown" in str(panel.query_one("#edit-estimate", Static).render())
            )
            screen = compose_screen(app)
            await pilot.press("ctrl+g")
            await wait_until(pilot, lambda: not screen.generating)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert fake_openai.edit_count == 1
            [made] = services.db.children(root)
            outcome = str(screen.query_one("#compose-outcome", Static).render())
            assert "✓ 1 image" in outcome and not outcome.endswith("$0.00")
            # The next estimate goes by this edit's real cost.
            screen._validate()
            await wait_until(
                pilot, lambda: "past" in str(panel.query_one("#edit-estimate", Static).render())
            )
            assert made.kind == "edit"
    finally:
        await services.aclose()
