"""The whole edit flow by keyboard (issue 14), offline: generate → `e` on the result → a mask
drawn with the keyboard (ctrl+t) → the edit → History `v` opens it in the image view → `p` steps
back to the parent → `e` branches from it. The first edit stays, beside the branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from textual.widgets import TextArea

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.widgets.edit_panel import EditPanel
from dalletui.tui.widgets.mask_picker import MaskPicker
from dalletui.tui.widgets.results import ImageSlot
from tests.test_tui_compose import SIZE, compose_screen, wait_until
from tests.test_tui_lineage import open_view, wait_for_lineage


async def generate_here(pilot: Any, app: DalleTuiApp, text: str) -> None:
    screen = compose_screen(app)
    prompt = screen.query_one("#prompt", TextArea)
    prompt.focus()
    prompt.load_text(text)
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: not screen.generating)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_generate_edit_with_a_drawn_mask_step_back_and_branch(
    app: DalleTuiApp, services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.current_mode == "compose")
        await generate_here(pilot, app, "a lighthouse at dusk")
        screen = compose_screen(app)
        [card] = screen.query(ImageSlot)
        root = card.generation.id
        assert app.focused is card

        # e on the result: an edit of it, its prompt prefilled.
        await pilot.press("e")
        panel = screen.query_one(EditPanel)
        await wait_until(pilot, lambda: panel.editing)
        assert panel.images[0].source.generation_id == root

        # ctrl+t: the area to edit, moved and sized with the keyboard.
        screen.query_one("#prompt", TextArea).focus()
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, MaskPicker))
        picker = app.screen
        assert isinstance(picker, MaskPicker)
        start = picker.rect
        await pilot.press("right", "right", "shift+down")
        chosen = picker.rect
        assert chosen.x > start.x and chosen.height > start.height
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.overlay is not None)
        mask_path = panel.overlay.source.path
        assert panel.overlay.label == (
            f"drawn, {chosen.width}×{chosen.height} px at x {chosen.x}, y {chosen.y}"
        )
        size = Image.open(services.db.get_generation(root).file_path).size
        with Image.open(mask_path) as mask:
            assert mask.size == size and mask.mode == "RGBA"
            inside = (chosen.x + chosen.width // 2, chosen.y + chosen.height // 2)
            assert mask.getpixel(inside)[3] == 0 and mask.getpixel((0, 0))[3] == 255

        await generate_here(pilot, app, "the lighthouse with a red door")
        [first_edit] = services.db.children(root)
        inputs = services.db.inputs(first_edit.id)
        assert [(i.role, i.parent_generation_id) for i in inputs] == [
            ("image", root),
            ("mask", None),
        ]
        assert Path(inputs[1].file_path) == mask_path

        # History: the edit is the newest prompt; v opens it with its lineage.
        await pilot.press("f3")
        view = await open_view(pilot)
        assert view.row.id == first_edit.id
        assert view.lineage is not None and [r.id for r in view.lineage.chain] == [
            root,
            first_edit.id,
        ]
        # p: back to the version before the edit ...
        await pilot.press("p")
        await wait_for_lineage(pilot, view, at=root)
        # ... and e there branches from it.
        await pilot.press("e")
        await wait_until(pilot, lambda: app.current_mode == "compose")
        screen = compose_screen(app)
        panel = screen.query_one(EditPanel)
        await wait_until(
            pilot, lambda: panel.editing and panel.images[0].source.generation_id == root
        )
        assert panel.overlay is None  # a new edit: the earlier mask is not carried over
        assert screen.query_one("#prompt", TextArea).text == "a lighthouse at dusk"
        await generate_here(pilot, app, "the lighthouse in snow")

        children = services.db.children(root)
        assert [c.id for c in children][0] == first_edit.id and len(children) == 2
        branch = children[1]
        assert branch.kind == "edit" and branch.prompt.text == "the lighthouse in snow"
        # The undone edit is still there, and still walks back to the same parent.
        assert [g.id for g in services.db.chain(first_edit.id)] == [root, first_edit.id]
        assert not isinstance(app.screen, ImageViewScreen)
