"""Sixel colours and placement on the installed textual-image (0.12.0 on 3.11, 0.14.x on 3.12+).

The decoder follows xterm's register rule (defining a colour does not select it), which is what
exposed textual-image 0.12's wrong colours in a real xterm. A stream that is right decodes the
same under both rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from textual.app import App, ComposeResult
from textual.containers import Container
from textual.geometry import Region

from dalletui.tui import graphics
from dalletui.tui.graphics import backend, sixel_fix
from dalletui.tui.graphics.policy import Decision
from tests.graphics_harness import sixel_decoder

BANDS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 220, 0)]


def band_image(width: int = 60, band: int = 12) -> Image.Image:
    image = Image.new("RGB", (width, band * len(BANDS)))
    draw = ImageDraw.Draw(image)
    for index, color in enumerate(BANDS):
        draw.rectangle([0, index * band, width - 1, (index + 1) * band - 1], fill=color)
    return image


def band_colors(image: Image.Image, bands: int = len(BANDS)) -> list[tuple[int, int, int]]:
    height = image.height // bands
    return [image.getpixel((image.width // 2, i * height + height // 2)) for i in range(bands)]


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 4) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def assert_bands(image: Image.Image) -> None:
    found = band_colors(image)
    assert all(close(f, want) for f, want in zip(found, BANDS, strict=True)), found


@pytest.fixture(autouse=True)
def _restore_graphics():
    yield
    graphics.configure("halfcell")


def test_decoder_catches_the_lazy_palette_bug() -> None:
    """Under xterm's rule, a lazily defined palette draws later bands in the wrong register."""
    codec = backend.load_codec()
    stream = codec.image_to_sixels(band_image(), codec.SixelOptions())
    if sixel_fix.needs_fixes():  # 0.12: the bug is real, and our decoder sees it
        assert_bands(sixel_decoder.decode(stream, define_selects=True).image)
        with pytest.raises(AssertionError):
            assert_bands(sixel_decoder.decode(stream, define_selects=False).image)
    else:  # 0.13+: fixed upstream
        assert_bands(sixel_decoder.decode(stream, define_selects=False).image)


@pytest.mark.parametrize("define_selects", [False, True], ids=["xterm-rule", "lenient"])
def test_our_encoder_is_right_under_both_rules(define_selects: bool) -> None:
    stream = sixel_fix.encode(band_image(), colors=256)
    assert_bands(sixel_decoder.decode(stream, define_selects=define_selects).image)


def test_fewer_colours_for_thumbnails_are_still_right() -> None:
    stream = sixel_fix.encode(band_image(), colors=64)
    assert_bands(sixel_decoder.decode(stream, define_selects=False).image)


def test_palette_up_front_moves_every_definition() -> None:
    lazy = '\x1bP0;0;0q"1;1;4;6#0;2;100;0;0~~-#1;2;0;100;0~~$#0~~-\x1b\\'
    fixed = sixel_fix.palette_up_front(lazy)
    assert fixed.startswith('\x1bP0;0;0q"1;1;4;6#0;2;100;0;0#1;2;0;100;0')
    body = fixed[len('\x1bP0;0;0q"1;1;4;6#0;2;100;0;0#1;2;0;100;0') :]
    assert ";2;" not in body and body.startswith("#0~~-#1~~$#0")


class SixelApp(App[None]):
    CSS = "Container { width: 20; height: 6; margin: 2 3; } .preview { width: 12; height: 4; }"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Container():
            yield graphics.preview(self.path, id="image", cache=False)


async def test_full_preview_widget_colours_and_cursor(tmp_path: Path) -> None:
    """textual-image's sixel widget (with our 0.12 fixes): right colours, cursor on the last row."""
    path = tmp_path / "bands.png"
    band_image(120, 20).save(path)  # exactly 12×4 cells of 10×20: no resampling blends
    graphics.configure("sixel", decision=Decision.forced("sixel", (10, 20)))
    app = SixelApp(path)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        widget = app.query_one("#image")
        impl = widget.children[0]
        region = impl.region
        lines = impl.render_lines(Region(0, 0, region.width, region.height))
        text = "".join(segment.text for segment in lines[-1])
        start = text.index("\x1bP")
        stream = text[start : text.index("\x1b\\", start) + 2]
        assert_bands(sixel_decoder.decode(stream, define_selects=False).image)
        # The cursor goes right of the image on its *last* row (y is 1-based in CUP).
        after = text[text.index("\x1b\\", start) + 2 :]
        assert f"\x1b[{region.bottom};{region.right + 1}H" in after, repr(after)
        assert f"\x1b[{region.bottom + 1};" not in after


async def test_full_preview_is_sent_once_and_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default (cached) full preview: fills its CSS box, 256 colours, drawn once."""
    from tests.graphics_harness.wire import capture_wire

    path = tmp_path / "bands.png"
    band_image(120, 20).save(path)
    graphics.configure("sixel", decision=Decision.forced("sixel", (10, 20)))

    class Preview(SixelApp):
        def compose(self) -> ComposeResult:
            with Container():
                yield graphics.preview(self.path, id="image")

    with capture_wire(monkeypatch) as wire:
        app = Preview(path)
        async with app.run_test(size=(40, 12)) as pilot:
            await pilot.pause()
            app.query_one(Container).styles.background = "red"  # a repaint around it
            await pilot.pause()
            await pilot.pause()
    streams = re.findall(r"\x1bP[0-9;]*q.*?\x1b\\", wire.text, re.DOTALL)
    assert len(streams) == 1
    decoded = sixel_decoder.decode(streams[0], define_selects=False)
    assert decoded.image.size == (120, 80)
    assert_bands(decoded.image)
