"""The mask picker: keys move and size the rectangle, enter gives it, escape gives None."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widgets import Static

from dalletui.generation.masks import MaskRect
from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.graphics.widgets import ImageView
from dalletui.tui.widgets.mask_picker import MaskPicker

SIZE = (1024, 1024)


def quadrants(path: Path, size: tuple[int, int] = SIZE) -> Path:
    """Four colours, one a quarter, so the outline has light and dark to show on."""
    image = Image.new("RGB", size, (240, 240, 240))
    half_w, half_h = size[0] // 2, size[1] // 2
    image.paste((200, 40, 30), (half_w, 0, size[0], half_h))
    image.paste((30, 60, 160), (0, half_h, half_w, size[1]))
    image.paste((20, 20, 20), (half_w, half_h, size[0], size[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


async def settle(pilot: Pilot[Any], times: int = 3) -> None:
    for _ in range(times):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.02)


async def open_picker(
    pilot: Pilot[Any], path: Path, results: list[MaskRect | None], size: tuple[int, int] = SIZE
) -> MaskPicker:
    picker = MaskPicker(path, size)
    await pilot.app.push_screen(picker, results.append)
    await settle(pilot)
    return picker


def hint(picker: MaskPicker) -> str:
    return str(picker.query_one("#mask-hint", Static).render())


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    return quadrants(tmp_path / "pictures" / "fox.png")


async def test_enter_gives_the_moved_and_sized_rect(app: DalleTuiApp, picture: Path) -> None:
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, picture, results)
        assert hint(picker) == (
            "Edit area: x 256, y 256, 512×512 px of 1024×1024 · arrows move · "
            "shift+arrows size · enter use · esc cancel"
        )
        await pilot.press("right", "right", "down")
        await pilot.press("shift+right", "shift+up", "shift+up")
        await settle(pilot)
        assert picker.rect == MaskRect(320, 288, 544, 448)
        assert "x 320, y 288, 544×448 px" in hint(picker)
        await pilot.press("enter")
        await settle(pilot)
    assert results == [MaskRect(320, 288, 544, 448)]


async def test_escape_gives_none_and_removes_the_previews(app: DalleTuiApp, picture: Path) -> None:
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, picture, results)
        folder = picker.folder
        assert folder is not None and any(folder.glob("preview-*.png"))
        await pilot.press("left", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, MaskPicker)
        assert not folder.exists()
    assert results == [None]


async def test_the_preview_follows_the_keys(app: DalleTuiApp, picture: Path) -> None:
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, picture, results)
        view = picker.query_one("#mask-preview", ImageView)
        first = picker.preview_path
        assert first is not None and view.path == first
        before = Image.open(first).convert("RGB")
        # The outline sits on the rect's edge, at a quarter of the preview.
        x, y = before.width // 4, before.height // 2
        assert before.getpixel((x, y)) != (240, 240, 240)
        shown = picker.previews_shown
        await pilot.press("right")
        await settle(pilot)
        assert picker.previews_shown > shown
        second = picker.preview_path
        assert second is not None and second != first and view.path == second
        assert not first.exists()  # replaced files do not pile up
        after = Image.open(second).convert("RGB")
        assert after.tobytes() != before.tobytes()
        assert len(list(picker.folder.glob("*.png"))) == 1  # type: ignore[union-attr]
        await pilot.press("escape")


async def test_many_keys_at_once_show_the_last_rect(app: DalleTuiApp, picture: Path) -> None:
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, picture, results)
        await pilot.press(*["right"] * 30, *["shift+down"] * 8)
        await settle(pilot)
        assert picker.rect == MaskRect(512, 256, 512, 768)
        assert picker.preview_path is not None
        assert picker.preview_path.name == f"preview-{picker._tickets._newest}.png"
        await pilot.press("enter")
        await settle(pilot)
    assert results == [MaskRect(512, 256, 512, 768)]


async def test_plus_and_minus_change_the_step(app: DalleTuiApp, picture: Path) -> None:
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, picture, results)
        assert picker.step == (32, 32)
        await pilot.press("minus", "minus")
        assert picker.step == (8, 8)
        await pilot.press("minus")  # already the finest: a bell, no change
        assert picker.step == (8, 8)
        assert "step 8 px" in str(picker.query_one("#mask-dialog").border_subtitle)
        await pilot.press("left")
        assert picker.rect.x == 248
        await pilot.press("plus", "plus", "plus", "plus", "plus")
        assert picker.step == (128, 128)
        await pilot.press("right")
        assert picker.rect.x == 376
        await pilot.press("enter")
        await settle(pilot)
    assert results == [MaskRect(376, 256, 512, 512)]


async def test_a_tall_image_and_a_starting_rect(app: DalleTuiApp, tmp_path: Path) -> None:
    path = quadrants(tmp_path / "tall.png", (1024, 1536))
    results: list[MaskRect | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        picker = MaskPicker(path, (1024, 1536), MaskRect(900, 1500, 400, 400))
        await pilot.app.push_screen(picker, results.append)
        await settle(pilot)
        assert picker.rect == MaskRect(624, 1136, 400, 400)  # moved inside
        await pilot.press("down", "shift+left")
        assert picker.rect == MaskRect(624, 1136, 368, 400)
        await pilot.press("enter")
        await settle(pilot)
    assert results == [MaskRect(624, 1136, 368, 400)]


@pytest.mark.parametrize("mode", ["unicode", "sixel", "kitty"])
async def test_every_mode_shows_the_preview(services: Services, picture: Path, mode: str) -> None:
    app = make_app(services, graphics=graphics.Graphics.forced(mode))
    results: list[MaskRect | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        picker = await open_picker(pilot, picture, results)
        view = picker.query_one("#mask-preview", ImageView)
        assert view.image_mode == mode
        preview = Image.open(view.path)
        # Drawn at the resolution shown: a pixel a cell in unicode, the cells' pixels else.
        if mode == "unicode":
            assert max(preview.size) == view.size.width
        else:
            assert max(preview.size) == view.size.width * 10
        await pilot.press("escape")
    assert results == [None]


async def test_a_hostile_file_name_is_shown_as_text(app: DalleTuiApp, tmp_path: Path) -> None:
    path = quadrants(tmp_path / "fox\x1b[2J[bold]x.png")
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, path, results)
        title = str(picker.query_one("#mask-dialog").border_title)
        assert (
            "\x1b" not in title and "fox␛[2J" in title and "[bold]x.png" in title.replace("\\", "")
        )
        await pilot.press("escape")


async def test_an_unreadable_image_says_so_and_keys_still_work(
    app: DalleTuiApp, tmp_path: Path
) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    results: list[MaskRect | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, path, results)
        error = str(picker.query_one("#mask-error", Static).render())
        assert error.startswith("cannot show broken.png")
        await pilot.press("up", "enter")
        await settle(pilot)
    assert results == [MaskRect(256, 224, 512, 512)]


def test_snapshot_of_the_picker(snap_compare: Any, app: DalleTuiApp, tmp_path: Path) -> None:
    path = quadrants(tmp_path / "fox.png")

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.app.push_screen(MaskPicker(path, SIZE))
        await settle(pilot)
        await pilot.press("left", "shift+down")
        await settle(pilot, 4)

    assert snap_compare(app, terminal_size=(100, 32), run_before=run_before)
