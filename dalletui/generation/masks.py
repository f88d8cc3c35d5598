"""Masks for image edits: a rectangle in image pixels, and the PNG the Images API wants.

The API edits where the mask is transparent: ``mask_png`` writes a PNG of exactly the image's
size, RGBA, opaque everywhere except alpha 0 inside the rectangle. The rest serves a keyboard
picker (``dalletui.tui.widgets.mask_picker``): a default rectangle, moving and resizing it by a
step with clamping, and ``outline_preview``, which draws the rectangle on a small copy of the
image. Pure (Pillow and the standard library): no Textual, importable from the CLI.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

__all__ = [
    "MIN_SIDE",
    "STEP_DIVISORS",
    "DEFAULT_DIVISOR",
    "MaskRect",
    "default_rect",
    "mask_png",
    "move",
    "outline_preview",
    "resize",
    "scaled_copy",
    "step_for",
    "write_mask",
]

#: The smallest side a rectangle may have, in image pixels (less for a smaller image).
MIN_SIDE = 16
#: Steps as fractions of the image's side, finest to coarsest: 1/128 … 1/8.
STEP_DIVISORS = (128, 64, 32, 16, 8)
#: The step a picker starts with: 1/32 of the side (32 px of a 1024 px image).
DEFAULT_DIVISOR = 32

#: Outline colours: a light ring between two dark ones shows on any picture.
_DARK = (0, 0, 0)
_LIGHT = (255, 214, 0)
#: How much of the picture outside the rectangle is kept (the rest is black).
_DIM_KEEP = 0.6


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True)
class MaskRect:
    """A rectangle in image pixels: left, top, width, height (``clamped`` keeps it inside)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, right and bottom exclusive (Pillow's box)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    def clamped(self, size: tuple[int, int], min_side: int = MIN_SIDE) -> MaskRect:
        """This rectangle inside an image of ``size``: sides between ``min_side`` (or the
        image's side, if smaller) and the image's, then moved in from the edges."""
        image_w, image_h = max(1, size[0]), max(1, size[1])
        width = _clamp(self.width, min(min_side, image_w), image_w)
        height = _clamp(self.height, min(min_side, image_h), image_h)
        x = _clamp(self.x, 0, image_w - width)
        y = _clamp(self.y, 0, image_h - height)
        return MaskRect(x, y, width, height)

    def describe(self, size: tuple[int, int]) -> str:
        """``x 256, y 256, 512×512 px of 1024×1024``."""
        return f"x {self.x}, y {self.y}, {self.width}×{self.height} px of {size[0]}×{size[1]}"

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def default_rect(size: tuple[int, int]) -> MaskRect:
    """The centre half of the image (half its width and height, centred)."""
    image_w, image_h = max(1, size[0]), max(1, size[1])
    width, height = max(1, image_w // 2), max(1, image_h // 2)
    return MaskRect((image_w - width) // 2, (image_h - height) // 2, width, height).clamped(size)


def step_for(size: tuple[int, int], divisor: int = DEFAULT_DIVISOR) -> tuple[int, int]:
    """One step across and down: ``1/divisor`` of the image's width and height (at least 1)."""
    divisor = max(1, divisor)
    return (max(1, size[0] // divisor), max(1, size[1] // divisor))


def _steps(size: tuple[int, int], step: int | tuple[int, int] | None) -> tuple[int, int]:
    if step is None:
        return step_for(size)
    if isinstance(step, int):
        return (max(1, step), max(1, step))
    return (max(1, step[0]), max(1, step[1]))


def move(
    rect: MaskRect,
    dx: int,
    dy: int,
    size: tuple[int, int],
    step: int | tuple[int, int] | None = None,
) -> MaskRect:
    """``rect`` moved ``dx`` steps right and ``dy`` down (negative: left, up), kept inside.

    ``step`` is in pixels (one number, or across and down); by default 1/32 of the side.
    """
    step_x, step_y = _steps(size, step)
    moved = MaskRect(rect.x + dx * step_x, rect.y + dy * step_y, rect.width, rect.height)
    return moved.clamped(size)


def resize(
    rect: MaskRect,
    dw: int,
    dh: int,
    size: tuple[int, int],
    step: int | tuple[int, int] | None = None,
    min_side: int = MIN_SIDE,
) -> MaskRect:
    """``rect`` grown ``dw`` steps wider and ``dh`` taller (negative: shrunk), top-left kept.

    A rectangle that grows past the right or bottom edge is moved in, so it grows leftwards or
    upwards there; no side gets smaller than ``min_side`` or larger than the image.
    """
    step_x, step_y = _steps(size, step)
    grown = MaskRect(rect.x, rect.y, rect.width + dw * step_x, rect.height + dh * step_y)
    return grown.clamped(size, min_side)


def mask_png(size: tuple[int, int], rect: MaskRect) -> bytes:
    """A PNG of exactly ``size``, RGBA, opaque black except alpha 0 inside ``rect``."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"an image of {width}×{height} px cannot have a mask")
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), rect.clamped(size).box)
    out = io.BytesIO()
    mask.save(out, format="PNG", optimize=False)
    return out.getvalue()


def write_mask(dest_dir: str | Path, size: tuple[int, int], rect: MaskRect) -> Path:
    """Write ``mask_png(size, rect)`` into ``dest_dir`` under a new name, atomically.

    The file appears complete or not at all (temp file, fsync, rename); the name holds the
    image size and a random part, so two masks never share a file.
    """
    folder = Path(dest_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = mask_png(size, rect)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        path = folder / f"mask-{size[0]}x{size[1]}-{stamp}-{secrets.token_hex(4)}.png"
        if not path.exists():
            break
    temp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    # os.open with 0o666 honours the umask, unlike mkstemp's fixed 0o600.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # link, not replace: never overwrite a file that appeared meanwhile under that name.
        try:
            os.link(temp, path)
        except FileExistsError:
            return write_mask(folder, size, rect)
        except OSError:  # a file system without hard links: the random name is enough
            os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return path


def scaled_copy(source: str | Path | Image.Image, max_side: int) -> Image.Image:
    """An RGB copy of ``source`` (a file or an image) at most ``max_side`` px on either side;
    pass it to ``outline_preview`` with the full ``image_size`` to outline many rects fast."""
    if isinstance(source, Image.Image):
        image = source.copy()
    else:
        with Image.open(source) as opened:
            opened.draft("RGB", (max_side, max_side))  # JPEG decodes small at once
            image = ImageOps.exif_transpose(opened)
            image.load()
    if image.mode != "RGB":
        flat = Image.new("RGB", image.size, (0, 0, 0))
        rgba = image.convert("RGBA")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def outline_preview(
    source: str | Path | Image.Image,
    rect: MaskRect,
    max_side: int,
    *,
    image_size: tuple[int, int] | None = None,
    line: int | None = None,
) -> Image.Image:
    """A copy of the image at most ``max_side`` px, dimmed outside ``rect``, with ``rect``
    outlined inside its edge: dark, light, dark rings (``line`` px; 3, or 2 below 240 px).

    ``rect`` is in pixels of the full image; ``image_size`` says how large that is when
    ``source`` is already a smaller copy (by default, the size of ``source``).
    """
    max_side = max(1, max_side)
    if image_size is None:
        if isinstance(source, Image.Image):
            image_size = source.size
        else:
            with Image.open(source) as opened:
                image_size = ImageOps.exif_transpose(opened).size
    small = scaled_copy(source, max_side)
    full_w, full_h = max(1, image_size[0]), max(1, image_size[1])
    scale_x, scale_y = small.width / full_w, small.height / full_h
    x0, y0, x1, y1 = rect.clamped(image_size).box
    left = _clamp(round(x0 * scale_x), 0, small.width - 1)
    top = _clamp(round(y0 * scale_y), 0, small.height - 1)
    right = _clamp(round(x1 * scale_x), left + 1, small.width)
    bottom = _clamp(round(y1 * scale_y), top + 1, small.height)
    inside = small.crop((left, top, right, bottom))
    preview = Image.blend(small, Image.new("RGB", small.size, (0, 0, 0)), 1 - _DIM_KEEP)
    preview.paste(inside, (left, top))
    thickness = line if line is not None else (3 if max(small.size) >= 240 else 2)
    draw = ImageDraw.Draw(preview)
    # Rings from the edge inwards, inside the rectangle so that all of them show at the
    # image's edges too: dark, light, dark shows on light pictures and on dark ones.
    colours = [_DARK, _LIGHT, _DARK] if thickness >= 3 else [_LIGHT, _DARK]
    for ring in range(max(1, thickness)):
        box = (left + ring, top + ring, right - 1 - ring, bottom - 1 - ring)
        if box[2] < box[0] or box[3] < box[1]:
            break
        draw.rectangle(box, outline=colours[ring % len(colours)], width=1)
    return preview
