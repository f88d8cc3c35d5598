"""Thumbnails on the wire: drawn once, never re-sent while the selection moves among them.

These tests see the bytes the app writes (``graphics_harness.wire``) and decode them: sixel
images come back with the right colours, the kitty stream carries the PNG it should, and its
placeholders name the image in 24-bit colour.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Label, ListItem, ListView

from dalletui.tui import graphics
from dalletui.tui.graphics import cache, kitty
from dalletui.tui.graphics.policy import Decision
from dalletui.tui.graphics.widgets import ImageView
from tests.graphics_harness import kitty_decoder, sixel_decoder
from tests.graphics_harness.wire import capture_wire

COLORS = [(220, 40, 40), (40, 180, 60), (40, 80, 220), (230, 200, 30), (160, 60, 200)]
SIXEL = re.compile(r"\x1bP[0-9;]*q.*?\x1b\\", re.DOTALL)
PLACED_SIXEL = re.compile(r"\x1b\[(\d+);\d+H(\x1bP[0-9;]*q.*?\x1b\\)", re.DOTALL)


@pytest.fixture(autouse=True)
def _restore_graphics():
    yield
    graphics.configure("halfcell")


def make_thumbs(folder: Path, count: int = 10) -> list[Path]:
    paths = []
    for index in range(count):
        image = Image.new("RGB", (256, 192), COLORS[index % len(COLORS)])
        ImageDraw.Draw(image).rectangle([0, 0, 127, 95], fill=(250, 250, 250))
        path = folder / f"thumb{index}.png"
        image.save(path)
        paths.append(path)
    return paths


class Gallery(App[None]):
    """A list of prompts, each with its thumbnail; the highlight moves with the cursor keys."""

    CSS = """
    ListItem { height: 5; }
    ListItem > Horizontal { height: 5; }
    Label { padding: 0 1; }
    """

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        with ListView():
            for index, path in enumerate(self.paths):
                with ListItem(), Horizontal():
                    yield graphics.preview(path, box=(10, 5), id=f"t{index}")
                    yield Label(f"prompt number {index}")


def use(mode: str) -> None:
    graphics.configure(mode, decision=Decision.forced(mode, (10, 20)))


def image_bytes(text: str) -> dict[str, int]:
    """How much image data a stretch of output holds, per kind."""
    return {
        "sixel": sum(len(m) for m in SIXEL.findall(text)),
        "kitty": text.count("\x1b_G"),
        "halfcell": text.count("▀"),
    }


@pytest.mark.parametrize("mode", ["sixel", "kitty", "halfcell"])
async def test_moving_the_selection_sends_no_image_data(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(mode)
    paths = make_thumbs(tmp_path)
    with capture_wire(monkeypatch) as wire:
        app = Gallery(paths)
        async with app.run_test(size=(60, 40)) as pilot:
            await pilot.pause()
            await pilot.pause()
            first = image_bytes(wire.text)
            assert first[mode] > 0, f"no {mode} data in the first frames"
            views = list(app.query(ImageView))
            visible = [v for v in views if v.region.bottom <= 40]
            draws = {v.id: v.draws for v in views}
            for key in ["down", "down", "down", "up"]:
                mark = wire.mark()
                await pilot.press(key)
                await pilot.pause()
                step = wire.since(mark)
                assert step, "the highlight move should have been drawn"
                assert image_bytes(step) == {"sixel": 0, "kitty": 0, "halfcell": 0}, key
            assert {v.id: v.draws for v in views} == draws
            assert len(visible) >= 7


async def test_sixel_thumbnails_decode_to_the_right_colours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use("sixel")
    paths = make_thumbs(tmp_path, 3)
    with capture_wire(monkeypatch) as wire:
        app = Gallery(paths)
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.pause()
            placed = PLACED_SIXEL.findall(wire.text)
    # Each image is prepared in a worker and sent when ready, in any order: sort by screen row.
    streams = [stream for _, stream in sorted((int(row), stream) for row, stream in placed)]
    assert len(streams) == 3
    for index, stream in enumerate(streams):
        decoded = sixel_decoder.decode(stream, define_selects=False).image
        # A 4:3 image in 10×5 cells of 10×20 px covers 10×4 cells: 100×80 px, edges cropped.
        assert decoded.size == (100, 80)
        want = COLORS[index]
        got = decoded.getpixel((80, 60))  # bottom-right quarter is the thumbnail colour
        assert all(abs(a - b) <= 6 for a, b in zip(got, want, strict=True)), (got, want)
        white = decoded.getpixel((10, 10))
        assert min(white) >= 240, white


@pytest.mark.parametrize("wrap", [False, True], ids=["direct", "tmux-passthrough"])
async def test_kitty_stream_carries_the_png_and_placeholders_name_it(
    wrap: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decision = Decision.forced("kitty", (10, 20))
    graphics.configure("kitty", decision=Decision(**{**decision.__dict__, "tmux_wrap": wrap}))
    monkeypatch.setattr("textual.constants.COLOR_SYSTEM", "truecolor")
    paths = make_thumbs(tmp_path, 3)
    with capture_wire(monkeypatch) as wire:
        app = Gallery(paths)
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.pause()
    stream = kitty_decoder.decode(wire.text)
    assert len(stream.images) == 3
    assert (stream.wrapped > 0) is wrap
    expected = []
    for path in paths:
        key = cache.SourceKey.of(path)
        assert key is not None
        expected.append(cache.fitted_image(key, (100, 80)).convert("RGB").tobytes())
    for image_id, image in stream.images.items():
        assert image_id < 2**24
        assert image.size == (100, 80)
        assert image.tobytes() in expected  # lossless: exactly the fitted pixels
        placement = stream.placements[image_id]
        assert (placement["U"], placement["c"], placement["r"]) == ("1", "10", "4")
    inner, _ = kitty_decoder.unwrap_tmux(wire.text)
    named = set(kitty_decoder.placeholder_ids(inner))
    assert named == set(stream.images)


async def test_image_is_drawn_again_after_another_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use("sixel")
    paths = make_thumbs(tmp_path, 2)
    with capture_wire(monkeypatch) as wire:
        app = Gallery(paths)
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.pause()
            assert len(SIXEL.findall(wire.text)) == 2
            await app.push_screen(Screen())
            await pilot.pause()
            mark = wire.mark()
            app.pop_screen()
            await pilot.pause()
            await pilot.pause()
            assert len(SIXEL.findall(wire.since(mark))) == 2


async def test_a_toast_over_a_sixel_blanks_it_then_it_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use("sixel")
    paths = make_thumbs(tmp_path, 1)

    class Corner(App[None]):
        CSS = "Screen { align: right bottom; } ImageView { margin: 0 1 1 0; }"

        def compose(self) -> ComposeResult:
            yield graphics.preview(paths[0], box=(30, 8))

    with capture_wire(monkeypatch) as wire:
        app = Corner()
        async with app.run_test(size=(60, 20), notifications=True) as pilot:
            await pilot.pause()
            assert len(SIXEL.findall(wire.text)) == 1
            mark = wire.mark()
            app.notify("hello", timeout=0.3)
            await pilot.pause()
            assert SIXEL.findall(wire.since(mark)) == [], "a sixel would paint over the toast"
            await pilot.pause(0.8)
            await pilot.pause()
            await pilot.pause()
            assert len(SIXEL.findall(wire.since(mark))) >= 1, "the image should be back"


async def test_headless_snapshots_always_draw_cells(tmp_path: Path) -> None:
    """In run_test without the wire, screenshots must show the image, not holes."""
    use("halfcell")
    paths = make_thumbs(tmp_path, 2)
    app = Gallery(paths)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        svg = app.export_screenshot()
    assert "▀" in svg or "&#9600;" in svg


def test_kitty_registry_sends_each_image_once() -> None:
    registry = kitty.Registry()
    sent: list[str] = []
    first = registry.ensure("a", 2, 1, lambda: b"png-a", sent.append)
    again = registry.ensure("a", 2, 1, lambda: b"png-a", sent.append)
    assert first == again and len(sent) == 1
    assert registry.free_all().count("a=d,d=I") == 1


def test_fit_keeps_the_shape() -> None:
    placed = cache.fit((256, 192), (10, 5), (10, 20))
    assert (placed.pixel_width, placed.pixel_height) == (100, 80)  # whole cells
    assert (placed.cols, placed.rows) == (10, 4)
    assert (placed.offset_x, placed.offset_y) == (0, 0)
    tall = cache.fit((100, 400), (10, 5), (10, 20))
    assert (tall.cols, tall.rows, tall.offset_x) == (2, 5, 4)


@pytest.mark.parametrize("mode", ["sixel", "halfcell"])
async def test_image_is_drawn_again_when_shown_again(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switching views (History's list ↔ gallery) draws over the image; coming back redraws it."""
    from textual.widgets import ContentSwitcher, Static

    use(mode)
    paths = make_thumbs(tmp_path, 1)

    class Switch(App[None]):
        def compose(self) -> ComposeResult:
            with ContentSwitcher(initial="one"):
                yield graphics.preview(paths[0], box=(20, 8), id="one")
                yield Static("x" * 400, id="two")

    with capture_wire(monkeypatch) as wire:
        app = Switch()
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.pause()
            switcher = app.query_one(ContentSwitcher)
            switcher.current = "two"
            await pilot.pause()
            mark = wire.mark()
            switcher.current = "one"
            await pilot.pause()
            await pilot.pause()
            assert image_bytes(wire.since(mark))[mode] > 0, "the image must come back"


async def test_unicode_mode_draws_blocks(tmp_path: Path) -> None:
    use("unicode")
    paths = make_thumbs(tmp_path, 2)
    app = Gallery(paths)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one("#t0", ImageView)
        lines = view.render_lines(view.region.reset_offset)
    assert any(segment.text.strip() for line in lines for segment in line)


@pytest.mark.parametrize("mode", ["halfcell", "sixel", "kitty"])
async def test_a_picture_whose_file_went_away_is_drawn_blank(mode: str, tmp_path: Path) -> None:
    """Moving an image to the trash while its preview was about to draw crashed the app."""
    use(mode)
    cache.clear()
    paths = make_thumbs(tmp_path, 2)
    app = Gallery(paths)
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one("#t1", ImageView)
        for path in paths:
            path.unlink()
        cache.clear()
        lines = view.render_lines(view.region.reset_offset)
        await pilot.pause()
        assert app.is_running
    assert lines and not any(segment.text.strip() for line in lines for segment in line)
