"""A small sixel decoder with a switch for the one rule terminals disagree on.

DEC's VT340 manual reads as if ``#Pc;Pu;Px;Py;Pz`` (define a colour register) also selects it;
textual-image 0.12 relies on that. xterm (measured: 379) and WezTerm do not: defining a register
leaves the current colour alone, and only ``#Pc`` selects. ``define_selects=False`` follows
xterm, ``True`` the lenient reading. A stream that is right must decode the same either way.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass, field

from PIL import Image

# xterm's VT340-like default palette for the first 16 registers (percent RGB).
_DEFAULT_PALETTE = [
    (0, 0, 0),
    (20, 20, 80),
    (80, 13, 13),
    (20, 80, 20),
    (80, 20, 80),
    (20, 80, 80),
    (80, 80, 20),
    (53, 53, 53),
    (26, 26, 26),
    (33, 33, 60),
    (60, 26, 26),
    (33, 60, 33),
    (60, 33, 60),
    (33, 60, 60),
    (60, 60, 33),
    (80, 80, 80),
]


def _pct(value: int) -> int:
    return round(min(100, max(0, value)) * 255 / 100)


@dataclass
class SixelImage:
    """A decoded image plus what the stream did (for assertions)."""

    image: Image.Image
    registers_defined: list[int] = field(default_factory=list)
    selects: int = 0
    raster: tuple[int, int] | None = None


_NUMBER = re.compile(r"\d+")


def decode(stream: str, *, define_selects: bool = False, background=(0, 0, 0)) -> SixelImage:
    """Decode the first sixel image (``ESC P … q … ESC \\``) in ``stream``."""
    start = stream.find("\x1bP")
    if start < 0:
        raise ValueError("no DCS in stream")
    q = stream.find("q", start)
    end = stream.find("\x1b\\", q)
    if q < 0 or end < 0:
        raise ValueError("unterminated sixel")
    body = stream[q + 1 : end]
    palette = {i: tuple(_pct(c) for c in rgb) for i, rgb in enumerate(_DEFAULT_PALETTE)}
    pixels: dict[tuple[int, int], tuple[int, int, int]] = {}
    x = y = 0
    current = 0
    width = height = 0
    raster = None
    defined: list[int] = []
    selects = 0
    i = 0
    n = len(body)

    def numbers(at: int) -> tuple[list[int], int]:
        values: list[int] = []
        text = ""
        while at < n and (body[at].isdigit() or body[at] == ";"):
            text += body[at]
            at += 1
        values = [int(v) if v else 0 for v in text.split(";")] if text else []
        return values, at

    while i < n:
        ch = body[i]
        if ch == '"':
            values, i = numbers(i + 1)
            if len(values) >= 4:
                raster = (values[2], values[3])
            continue
        if ch == "#":
            values, i = numbers(i + 1)
            if not values:
                continue
            register = values[0]
            if len(values) >= 5:
                kind, a, b, c = values[1:5]
                if kind == 2:
                    palette[register] = (_pct(a), _pct(b), _pct(c))
                elif kind == 1:  # HLS: hue in degrees, lightness and saturation in percent
                    r, g, bl = colorsys.hls_to_rgb(((a - 120) % 360) / 360, b / 100, c / 100)
                    palette[register] = (round(r * 255), round(g * 255), round(bl * 255))
                defined.append(register)
                if define_selects:
                    current = register
            else:
                current = register
                selects += 1
            continue
        if ch == "!":
            values, i = numbers(i + 1)
            count = values[0] if values else 1
            if i < n:
                _paint(pixels, x, y, body[i], count, current)
                x += count
                width = max(width, x)
                i += 1
            continue
        if ch == "$":
            x = 0
            i += 1
            continue
        if ch == "-":
            x = 0
            y += 6
            i += 1
            continue
        if "?" <= ch <= "~":
            _paint(pixels, x, y, ch, 1, current)
            x += 1
            width = max(width, x)
            i += 1
            continue
        i += 1  # ignore anything else (newlines, unknown)
    for (_, py), _ in pixels.items():
        height = max(height, py + 1)
    if raster:
        width, height = max(width, raster[0]), max(height, raster[1])
        if raster[1]:
            height = raster[1]
    image = Image.new("RGB", (max(1, width), max(1, height)), background)
    put = image.putpixel
    for (px, py), register in pixels.items():
        if py < image.height and px < image.width:
            put((px, py), palette.get(register, (0, 0, 0)))
    return SixelImage(image=image, registers_defined=defined, selects=selects, raster=raster)


def _paint(pixels, x: int, y: int, ch: str, count: int, register: int) -> None:  # noqa: ANN001
    bits = ord(ch) - 0x3F
    if not bits:
        return
    for bit in range(6):
        if bits & (1 << bit):
            for dx in range(count):
                pixels[(x + dx, y + bit)] = register
