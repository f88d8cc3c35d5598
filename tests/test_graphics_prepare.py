"""Previews are decoded, fitted and encoded in a worker thread, never on the UI thread.

Each test records the thread of every decode/fit (``cache.fitted_image``, ``ImageOps.fit``) and
every encode (``sixel_fix.encode``, the half-cell/unicode block renderer, ``kitty.png_bytes``),
mounts a 1024 px PNG in a Pilot app and checks that none of them ran on the main thread and
that the picture is then drawn. The conftest's ``Pilot.pause`` (which waits for preparation) is
undone here, so these tests see the worker path as it runs; they wait with explicit, bounded
loops and assert no timings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageOps
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from dalletui.tui import graphics
from dalletui.tui.graphics import cache, kitty, sixel_fix, widgets
from dalletui.tui.graphics.policy import Decision
from dalletui.tui.graphics.widgets import ImageView
from tests.graphics_harness import sixel_decoder

RED, BLUE = (220, 40, 40), (40, 80, 220)
RAW_PAUSE = Pilot.pause  # before conftest's autouse fixture wraps it
MODES = ["sixel", "halfcell", "unicode", "kitty"]


@pytest.fixture(autouse=True)
def raw_pause(pilot_waits_for_images: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(Pilot, "pause", RAW_PAUSE)
    widgets.clear_caches()
    yield
    graphics.configure("halfcell")
    widgets.clear_caches()


class Calls:
    """Which thread ran each decode/fit/encode."""

    def __init__(self) -> None:
        self.threads: list[tuple[str, threading.Thread]] = []
        self.sizes: list[tuple[int, int]] = []
        self.gate: threading.Event | None = None  # set: let the next decode go on
        self.entered = threading.Event()
        self.finished: list[tuple[int, int]] = []  # decodes that returned (or raised)

    def on_main(self) -> list[str]:
        main = threading.main_thread()
        return [name for name, thread in self.threads if thread is main]

    def names(self) -> set[str]:
        return {name for name, _ in self.threads}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    record = Calls()

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            record.threads.append((name, threading.current_thread()))
            if name == "fitted_image":
                record.sizes.append(args[1])
                record.entered.set()
                gate = record.gate
                try:
                    if gate is not None:
                        assert gate.wait(30), "the test never opened the gate"
                    return original(*args, **kwargs)
                finally:
                    record.finished.append(args[1])
            return original(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(cache, "fitted_image", wrap("fitted_image", cache.fitted_image))
    monkeypatch.setattr(ImageOps, "fit", wrap("ImageOps.fit", ImageOps.fit))
    monkeypatch.setattr(sixel_fix, "encode", wrap("sixel", sixel_fix.encode))
    monkeypatch.setattr(kitty, "png_bytes", wrap("png", kitty.png_bytes))
    monkeypatch.setattr(widgets, "_block_cells", wrap("blocks", widgets._block_cells))
    return record


def big_png(path: Path, top: tuple[int, int, int] = RED) -> Path:
    """1024 px square: ``top`` in the top half, blue in the bottom half."""
    image = Image.new("RGB", (1024, 1024), BLUE)
    ImageDraw.Draw(image).rectangle([0, 0, 1023, 511], fill=top)
    image.save(path)
    return path


class Preview(App[None]):
    CSS = "ImageView { width: 100%; height: 100%; }"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield graphics.preview(self.path, id="view")


def use(mode: str) -> None:
    graphics.configure(mode, decision=Decision.forced(mode, (10, 20)))


async def until(pilot: Pilot[Any], check: Callable[[], bool], rounds: int = 2000) -> None:
    """Pause until ``check()`` holds (bounded; no timing is asserted)."""
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.005)
    raise AssertionError("condition never held")


async def prepared(pilot: Pilot[Any]) -> None:
    await until(pilot, lambda: not widgets.preparing(pilot.app))
    await pilot.pause()
    await pilot.pause()


def lines_of(view: ImageView) -> list[Strip]:
    return view.render_lines(view.region.reset_offset)


def colours(lines: list[Strip]) -> set[tuple[int, int, int]]:
    found = set()
    for line in lines:
        for segment in line:
            style = segment.style
            for colour in (style and style.color, style and style.bgcolor):
                if colour is not None and colour.triplet is not None:
                    found.add(tuple(colour.triplet))
    return found


def near(found: set[tuple[int, int, int]], want: tuple[int, int, int]) -> bool:
    return any(all(abs(a - b) <= 8 for a, b in zip(got, want, strict=True)) for got in found)


def assert_shows(view: ImageView, mode: str, top: tuple[int, int, int] = RED) -> None:
    """The strips hold the picture itself, not just the background."""
    lines = lines_of(view)
    text = "".join(segment.text for line in lines for segment in line)
    if mode == "sixel":
        decoded = sixel_decoder.decode(text).image
        width, height = decoded.size
        got_top = decoded.getpixel((width // 2, height // 4))
        got_bottom = decoded.getpixel((width // 2, height * 3 // 4))
        assert near({got_top}, top) and near({got_bottom}, BLUE), (got_top, got_bottom)
    elif mode == "kitty":
        assert kitty.PLACEHOLDER in text
        assert len(kitty.registry) > 0
    elif mode == "halfcell":
        found = colours(lines)
        assert near(found, top) and near(found, BLUE), found
    else:
        assert text.strip(), "unicode mode drew only spaces"


def assert_off_main(calls: Calls, mode: str) -> None:
    encoder = {"sixel": "sixel", "kitty": "png"}.get(mode, "blocks")
    assert {"fitted_image", "ImageOps.fit", encoder} <= calls.names(), calls.names()
    assert calls.on_main() == [], f"ran on the UI thread: {calls.on_main()}"


@pytest.mark.parametrize("mode", MODES)
async def test_preview_is_prepared_off_the_ui_thread_and_drawn(
    mode: str, calls: Calls, tmp_path: Path
) -> None:
    use(mode)
    path = big_png(tmp_path / "big.png")
    app = Preview(path)
    async with app.run_test(size=(60, 30)) as pilot:
        await prepared(pilot)
        view = app.query_one(ImageView)
        assert_off_main(calls, mode)
        assert view.draws > 0
        assert_shows(view, mode)


@pytest.mark.parametrize("mode", MODES)
async def test_the_background_is_drawn_until_the_worker_is_done(
    mode: str, calls: Calls, tmp_path: Path
) -> None:
    use(mode)
    calls.gate = threading.Event()
    app = Preview(big_png(tmp_path / "big.png"))
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(ImageView)
        await until(pilot, calls.entered.is_set)  # the worker is decoding, held at the gate
        await pilot.pause()
        lines = lines_of(view)
        assert widgets.preparing(app)
        assert view.draws == 0 and view._painted is None  # not drawn: no hole next time
        assert not "".join(s.text for line in lines for s in line).strip()
        calls.gate.set()
        await prepared(pilot)
        assert view.draws > 0
        assert_shows(view, mode)
    assert_off_main(calls, mode)


@pytest.mark.parametrize("mode", ["sixel", "halfcell"])
async def test_a_resize_prepares_again(mode: str, calls: Calls, tmp_path: Path) -> None:
    use(mode)
    app = Preview(big_png(tmp_path / "big.png"))
    async with app.run_test(size=(60, 30)) as pilot:
        await prepared(pilot)
        first = set(calls.sizes)
        await pilot.resize_terminal(40, 20)
        await prepared(pilot)
        view = app.query_one(ImageView)
        assert set(calls.sizes) - first, "the new fit was not prepared"
        assert view.draws > 0
        assert_shows(view, mode)
    assert_off_main(calls, mode)


async def test_a_superseded_fit_is_not_used(calls: Calls, tmp_path: Path) -> None:
    """The first worker ends after the resize's worker: its end changes nothing."""
    use("halfcell")
    first_gate = calls.gate = threading.Event()
    app = Preview(big_png(tmp_path / "big.png"))
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(ImageView)
        await until(pilot, calls.entered.is_set)
        stale = view._worker
        calls.gate = None  # the resize's worker goes through
        await pilot.resize_terminal(40, 20)
        await until(pilot, lambda: view._worker is not stale and view._job is None)
        await pilot.pause()
        newest = view._fit()
        drawn = view.draws
        assert drawn > 0
        first_gate.set()  # now the first worker finishes, for the old fit
        await until(pilot, lambda: len(calls.finished) == len(calls.sizes))
        await pilot.pause()
        await pilot.pause()
        assert view._fit() == newest and view._job is None
        assert not widgets.preparing(app)
        assert_shows(view, "halfcell")
    assert_off_main(calls, "halfcell")


async def test_a_replaced_file_is_read_again(calls: Calls, tmp_path: Path) -> None:
    use("halfcell")
    path = big_png(tmp_path / "big.png")
    app = Preview(path)
    async with app.run_test(size=(60, 30)) as pilot:
        await prepared(pilot)
        view = app.query_one(ImageView)
        assert_shows(view, "halfcell", RED)
        green = (40, 180, 60)
        big_png(path, top=green)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        reads = len(calls.sizes)
        view.reload()
        await prepared(pilot)
        assert len(calls.sizes) > reads, "the file was not read again"
        assert_shows(view, "halfcell", green)
    assert_off_main(calls, "halfcell")


@pytest.mark.parametrize("mode", MODES)
async def test_an_unmounted_views_late_result_is_dropped(
    mode: str, calls: Calls, tmp_path: Path
) -> None:
    use(mode)
    calls.gate = threading.Event()
    app = Preview(big_png(tmp_path / "big.png"))
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(ImageView)
        await until(pilot, calls.entered.is_set)
        worker = view._worker
        assert worker is not None
        await view.remove()
        assert not widgets.preparing(app)
        calls.gate.set()  # the decode goes on after the view is gone
        await until(pilot, lambda: len(calls.finished) == len(calls.sizes))
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        assert view.draws == 0 and view._job is None
    assert_off_main(calls, mode)


async def test_a_partly_shown_sixel_prepares_the_part_shown(calls: Calls, tmp_path: Path) -> None:
    """Only the top half of the view is on screen: that part is encoded, off the UI thread."""
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    use("sixel")
    path = big_png(tmp_path / "big.png")

    class Half(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Static("words\n" * 15, id="above")
                yield graphics.preview(path, box=(20, 10), id="view")

    app = Half()
    async with app.run_test(size=(60, 20)) as pilot:
        await prepared(pilot)
        view = app.query_one(ImageView)
        assert view.region.bottom > 20 > view.region.y  # partly shown
        await until(pilot, lambda: view.draws > 0)
        shown = Region(0, 0, view.size.width, 20 - view.region.y)  # the crop Textual asks for
        text = "".join(segment.text for line in view.render_lines(shown) for segment in line)
        decoded = sixel_decoder.decode(text).image  # the sixel drawn: the part shown
        assert any(key[2].height < 10 for key in widgets._sixels._items)  # type: ignore[index]
        assert decoded.size == (200, (20 - view.region.y) * 20)
        assert near({decoded.getpixel((100, 10))}, RED)
    assert_off_main(calls, "sixel")
