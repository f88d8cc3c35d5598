"""A provider that draws a deterministic abstract picture from the prompt, with no network.

The palette comes from a SHA-256 of the prompt (plus a few colour words it may contain); the
composition comes from the seed and the image index. Same prompt, parameters and seed give the
same bytes on the same Pillow version. Every image carries an "OFFLINE" label in its lower-left
corner (and, for PNG, a ``Comment`` text chunk) so it can never pass for a real generation.

The picture is drawn at a reduced working resolution, scaled up, and labelled at full size; the
CPU work runs in a thread so the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import inspect
import io
import math
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps
from PIL.PngImagePlugin import PngInfo

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.catalog import ModelCatalog, catalog
from dalletui.generation.catalog import parse_size as catalog_parse_size
from dalletui.generation.request import validate_edit_request
from dalletui.generation.retry import WaitCallback
from dalletui.generation.types import (
    EditImage,
    EditRequest,
    GenerationRequest,
    PartialCallback,
    ProviderImage,
    ProviderResult,
)

LABEL_TEXT = "OFFLINE"
PNG_COMMENT = "OFFLINE placeholder drawn by dalletui; not a real generation."
DEFAULT_SIZE = (1024, 1024)
MAX_EDGE = 8192
#: Long edge of the working canvas, by quality: more pixels means crisper shapes.
WORK_EDGE = {"low": 256, "medium": 384, "high": 512, "auto": 384}
#: The quality an ``auto`` (or unknown) request is drawn at: the canvas of ``WORK_EDGE["auto"]``.
AUTO_QUALITY = "medium"
_ALPHA_FORMATS = {"png", "webp"}
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}

# Colour words nudge the palette towards what the prompt names (hue in degrees).
_COLOUR_HUES = {
    "red": 0,
    "crimson": 350,
    "rose": 340,
    "pink": 330,
    "magenta": 300,
    "purple": 275,
    "violet": 270,
    "indigo": 245,
    "blue": 220,
    "ocean": 205,
    "sea": 200,
    "sky": 200,
    "teal": 175,
    "cyan": 185,
    "green": 125,
    "forest": 130,
    "lime": 90,
    "yellow": 55,
    "gold": 45,
    "golden": 45,
    "sun": 40,
    "orange": 28,
    "sunset": 20,
    "autumn": 25,
    "fire": 12,
}


def parse_size(size: str) -> tuple[int, int]:
    """``"auto"`` -> 1024x1024; ``"WxH"`` -> (W, H); anything else is a validation error."""
    if size == "auto":
        return DEFAULT_SIZE
    parsed = catalog_parse_size(size)
    if parsed is not None:
        width, height = parsed
        if 0 < width <= MAX_EDGE and 0 < height <= MAX_EDGE:
            return width, height
    raise GenerationError(
        ErrorKind.VALIDATION,
        f"The size {size!r} is not valid offline: use 'auto' or WIDTHxHEIGHT, "
        f"each side 1 to {MAX_EDGE} pixels.",
    )


def default_seed(prompt: str) -> int:
    """A stable seed from the prompt (``hash()`` is salted per process, so SHA-256 instead)."""
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big")


def _digest_int(*parts: object) -> int:
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class _Rng:
    """Only ``random.random()`` is promised stable across Python versions; build on it alone."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def unit(self) -> float:
        return self._random.random()

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self._random.random()

    def count(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        return min(high, low + int(self._random.random() * (high - low + 1)))

    def pick(self, items: list[tuple[int, int, int]]) -> tuple[int, int, int]:
        return items[min(len(items) - 1, int(self._random.random() * len(items)))]


@dataclass(frozen=True)
class Palette:
    """Two background colours and a few accents."""

    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    accents: list[tuple[int, int, int]]


def _hls(hue_degrees: float, lightness: float, saturation: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb((hue_degrees % 360) / 360, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def palette_for(prompt: str) -> Palette:
    """A harmonious palette derived from the prompt's hash and any colour words in it."""
    rng = _Rng(_digest_int("palette", prompt))
    words = re.findall(r"[a-z]+", prompt.lower())
    named = [_COLOUR_HUES[word] for word in words if word in _COLOUR_HUES]
    base = named[0] + rng.between(-8, 8) if named else rng.between(0, 360)
    # Analogous, split-complementary or triadic: each looks chosen rather than random.
    scheme = [(0, 30, -30), (0, 150, 210), (0, 120, 240)][rng.count(0, 2)]
    dark = rng.unit() < 0.5
    if dark:
        top = _hls(base + scheme[1], rng.between(0.10, 0.18), rng.between(0.35, 0.6))
        bottom = _hls(base, rng.between(0.22, 0.32), rng.between(0.45, 0.7))
    else:
        top = _hls(base + scheme[1], rng.between(0.78, 0.88), rng.between(0.45, 0.7))
        bottom = _hls(base, rng.between(0.58, 0.7), rng.between(0.5, 0.75))
    accents = [
        _hls(base + offset + rng.between(-10, 10), rng.between(0.45, 0.72), rng.between(0.6, 0.9))
        for offset in (*scheme, scheme[1] + 15, 0)
    ]
    if len(named) > 1:
        accents.append(_hls(named[1], 0.6, 0.8))
    return Palette(top=top, bottom=bottom, accents=accents)


def _gradient(size: tuple[int, int], palette: Palette, angle: float) -> Image.Image:
    width, height = size
    side = math.ceil(math.hypot(width, height)) + 2
    mask = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    mask = mask.rotate(angle, resample=Image.Resampling.BILINEAR)
    left, top = (side - width) // 2, (side - height) // 2
    mask = mask.crop((left, top, left + width, top + height))
    return Image.composite(
        Image.new("RGBA", size, (*palette.bottom, 255)),
        Image.new("RGBA", size, (*palette.top, 255)),
        mask,
    )


def _rgba(colour: tuple[int, int, int], alpha: float) -> tuple[int, int, int, int]:
    return (*colour, max(0, min(255, round(alpha))))


def applied_values(request: GenerationRequest) -> dict[str, str]:
    """What the drawer really applies, stated as the API states it (``auto`` resolved)."""
    width, height = parse_size(request.size)
    fmt = check_format(request.output_format)
    fmt = "jpeg" if fmt == "jpg" else fmt
    transparent = request.background == "transparent" and fmt in _ALPHA_FORMATS
    return {
        "quality": request.quality
        if request.quality in ("low", "medium", "high")
        else AUTO_QUALITY,
        "size": f"{width}x{height}",
        "background": "transparent" if transparent else "opaque",
        "output_format": fmt,
    }


def draw_artwork(request: GenerationRequest, index: int = 0) -> Image.Image:
    """The unlabelled picture for image ``index`` of ``request``, at the requested size."""
    width, height = parse_size(request.size)
    seed = request.seed if request.seed is not None else default_seed(request.prompt)
    rng = _Rng(_digest_int("composition", request.prompt, seed, index))
    palette = palette_for(request.prompt)
    transparent = (
        request.background == "transparent" and request.output_format.lower() in _ALPHA_FORMATS
    )

    scale = min(1.0, WORK_EDGE.get(request.quality, WORK_EDGE["auto"]) / max(width, height))
    work = (max(1, round(width * scale)), max(1, round(height * scale)))
    w, h = work
    unit = min(w, h)

    if transparent:
        canvas = Image.new("RGBA", work, (0, 0, 0, 0))
    else:
        canvas = _gradient(work, palette, rng.between(-35, 35))
        glow_size = round(max(w, h) * rng.between(0.9, 1.4))
        glow = Image.radial_gradient("L").resize((glow_size, glow_size))
        # The gradient reaches 181 at the edge midpoints: fade to zero there, not at the corners.
        glow = glow.point(lambda v: round(max(0.0, 1 - v / 181) * 150))
        centre = (rng.between(0.2, 0.8) * w, rng.between(0.15, 0.55) * h)
        light = Image.new("RGBA", (glow_size, glow_size), (*palette.accents[0], 255))
        light.putalpha(glow)
        _paste_clipped(canvas, light, centre)

    # Soft orbs: big, blurred, translucent.
    orbs = Image.new("RGBA", work, (0, 0, 0, 0))
    draw = ImageDraw.Draw(orbs)
    for _ in range(rng.count(4, 7)):
        radius = unit * rng.between(0.08, 0.3)
        x, y = rng.between(0, w), rng.between(0, h)
        draw.ellipse(
            (x - radius, y - radius, x + radius, y + radius),
            fill=_rgba(rng.pick(palette.accents), rng.between(110, 200)),
        )
    # Blur premultiplied ("RGBa") so transparent black does not darken the edges.
    blurred = orbs.convert("RGBa").filter(ImageFilter.GaussianBlur(unit * 0.035))
    canvas.alpha_composite(blurred.convert("RGBA"))

    # Crisp shapes on top: a "sun" disc with a ring, polygons, arcs and a dusting of dots.
    shapes = Image.new("RGBA", work, (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    sun_r = unit * rng.between(0.1, 0.2)
    sx, sy = rng.between(0.25, 0.75) * w, rng.between(0.25, 0.6) * h
    sun_colour = rng.pick(palette.accents)
    draw.ellipse((sx - sun_r, sy - sun_r, sx + sun_r, sy + sun_r), fill=_rgba(sun_colour, 235))
    ring = sun_r * rng.between(1.35, 1.7)
    draw.ellipse(
        (sx - ring, sy - ring, sx + ring, sy + ring),
        outline=_rgba(sun_colour, 150),
        width=max(1, round(unit * 0.008)),
    )
    for _ in range(rng.count(2, 4)):
        radius = unit * rng.between(0.05, 0.14)
        centre_xy = (rng.between(0.1, 0.9) * w, rng.between(0.1, 0.9) * h)
        draw.regular_polygon(
            (*centre_xy, radius),
            n_sides=rng.count(3, 6),
            rotation=rng.between(0, 360),
            fill=_rgba(rng.pick(palette.accents), rng.between(90, 170)),
            outline=_rgba((255, 255, 255), 120),
            width=max(1, round(unit * 0.004)),
        )
    arc_x, arc_y = rng.between(0, w), rng.between(0.5, 1.1) * h
    arc_colour = rng.pick(palette.accents)
    for step in range(rng.count(3, 6)):
        r = unit * (0.25 + 0.07 * step)
        draw.arc(
            (arc_x - r, arc_y - r, arc_x + r, arc_y + r),
            start=rng.between(180, 230),
            end=rng.between(300, 360),
            fill=_rgba(arc_colour, 200 - 25 * step),
            width=max(1, round(unit * 0.006)),
        )
    for _ in range(rng.count(12, 30)):
        x, y, r = rng.between(0, w), rng.between(0, h), unit * rng.between(0.002, 0.007)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=_rgba((255, 255, 255), rng.between(90, 220))
        )
    canvas.alpha_composite(shapes)

    if work != (width, height):
        canvas = canvas.resize((width, height), Image.Resampling.BICUBIC)
    return canvas if transparent else canvas.convert("RGB")


def _paste_clipped(canvas: Image.Image, layer: Image.Image, centre: tuple[float, float]) -> None:
    """``alpha_composite`` refuses negative offsets, so crop the layer to the canvas first."""
    left = round(centre[0] - layer.width / 2)
    top = round(centre[1] - layer.height / 2)
    box = (max(0, -left), max(0, -top))
    end = (min(layer.width, canvas.width - left), min(layer.height, canvas.height - top))
    if end[0] <= box[0] or end[1] <= box[1]:
        return
    canvas.alpha_composite(layer.crop((*box, *end)), dest=(max(0, left), max(0, top)))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def _drawable(ch: str) -> bool:
    return ord(ch) < 0x250 and unicodedata.category(ch)[0] in "LNPS"


def label_text(prompt: str, max_words: int = 4, max_chars: int = 32) -> str:
    """``OFFLINE · first words of the prompt…`` (the prompt part may be empty)."""
    # The built-in font covers Latin text only; other characters would draw as boxes.
    words = ["".join(ch for ch in word if _drawable(ch)) for word in prompt.split()]
    words = [word for word in words if word]
    snippet = " ".join(words[:max_words])
    if len(snippet) > max_chars:
        snippet = snippet[: max_chars - 1].rstrip()
    if snippet and (len(words) > max_words or snippet != " ".join(words[:max_words])):
        snippet += "…"
    return f"{LABEL_TEXT} · {snippet}" if snippet else LABEL_TEXT


def label_box(width: int, height: int) -> tuple[int, int, int]:
    """(margin, font size, padding) of the corner label for an image of this size."""
    unit = min(width, height)
    return max(2, round(unit * 0.02)), max(8, round(unit * 0.028)), max(2, round(unit * 0.012))


def _label_layout(
    size: tuple[int, int], prompt: str
) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont, tuple[int, int, int, int], int]:
    """(text, font, (left, top, right, bottom) of the badge, padding) for an image of ``size``."""
    width, height = size
    margin, font_size, pad = label_box(width, height)
    font = _font(font_size)
    text = label_text(prompt)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    # Shorten the label rather than overflow a narrow image.
    while right - left + 2 * pad + 2 * margin > width and text != LABEL_TEXT:
        text = text[:-2].rstrip() + "…" if len(text) > len(LABEL_TEXT) + 4 else LABEL_TEXT
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    box_w = min(width, right - left + 2 * pad)
    box_h = min(height, bottom - top + 2 * pad)
    x, y = min(margin, width - box_w), max(0, height - margin - box_h)
    return text, font, (x, y, x + box_w, y + box_h), pad


def label_rect(size: tuple[int, int], prompt: str) -> tuple[int, int, int, int]:
    """Where ``add_label`` draws its badge: (left, top, right, bottom), right/bottom exclusive."""
    return _label_layout(size, prompt)[2]


def add_label(image: Image.Image, prompt: str) -> Image.Image:
    """Stamp the lower-left "OFFLINE" label onto a copy of ``image``."""
    text, font, (x0, y0, x1, y1), pad = _label_layout(image.size, prompt)
    box_w, box_h = x1 - x0, y1 - y0
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, _right, _bottom = probe.textbbox((0, 0), text, font=font)
    badge = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle(
        (0, 0, box_w - 1, box_h - 1),
        radius=pad,
        fill=(12, 12, 16, 200),
        outline=(255, 255, 255, 90),
    )
    draw.text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 255))
    labelled = image.convert("RGBA")
    labelled.alpha_composite(badge, dest=(x0, y0))
    return labelled if image.mode == "RGBA" else labelled.convert(image.mode)


def check_format(output_format: str) -> str:
    """The lower-cased format, or a validation error if it is not png, jpeg or webp."""
    fmt = output_format.lower()
    if fmt not in _PIL_FORMATS:
        raise GenerationError(
            ErrorKind.VALIDATION,
            f"The output format {output_format!r} is not supported: use png, jpeg or webp.",
        )
    return fmt


def encode(image: Image.Image, output_format: str, compression: int | None = None) -> bytes:
    """Encode ``image`` as png / jpeg / webp bytes."""
    fmt = check_format(output_format)
    buffer = io.BytesIO()
    # Like the API (default 100), a higher output_compression keeps more detail.
    quality = 90 if compression is None else max(1, min(100, compression))
    if fmt == "png":
        info = PngInfo()
        info.add_text("Software", "dalletui offline provider")
        info.add_text("Comment", PNG_COMMENT)
        # Level 1 is several times faster than the default and the file is only a little larger.
        image.save(buffer, "PNG", compress_level=1, pnginfo=info)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=quality, method=3)
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def partial_preview(image: Image.Image, step: int, total: int) -> Image.Image:
    """A coarse, blurred version of ``image``: earlier steps are coarser."""
    factor = 2 ** (total - step + 2)  # e.g. total 3 -> 1/32, 1/16, 1/8 of the size
    small = image.resize(
        (max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX
    )
    return small.resize(image.size, Image.Resampling.BILINEAR)


# --- edits -----------------------------------------------------------------------------------


def _open_input(image: EditImage) -> Image.Image:
    with Image.open(io.BytesIO(image.data)) as opened:
        return ImageOps.exif_transpose(opened).convert("RGBA")


def edit_region(overlay: EditImage, size: tuple[int, int], *, markup: bool = False) -> Image.Image:
    """An ``L`` image of ``size``: 255 where the edit may change pixels, 0 where it may not.

    For a mask that is where the mask is fully transparent (alpha 0); for markup, where the
    markup is drawn (alpha above 0). Scaled with nearest neighbour if the output size differs.
    """
    with Image.open(io.BytesIO(overlay.data)) as opened:
        alpha = opened.convert("RGBA").getchannel("A")
    region = (
        alpha.point(lambda value: 255 if value > 0 else 0)
        if markup
        else alpha.point(lambda value: 255 if value == 0 else 0)
    )
    if region.size != size:
        region = region.resize(size, Image.Resampling.NEAREST)
    return region


def _edit_size(request: EditRequest, source: Image.Image) -> tuple[int, int]:
    """``auto`` keeps the first input's size, as an edit would; else the requested size."""
    return source.size if request.size == "auto" else parse_size(request.size)


def edit_applied_values(request: EditRequest) -> dict[str, str]:
    """``applied_values`` for an edit (``auto`` size resolved to the first input's size)."""
    applied = applied_values(request.options())
    if request.size == "auto" and request.images:
        width, height = _open_input(request.images[0]).size
        applied["size"] = f"{width}x{height}"
    return applied


def draw_edit(request: EditRequest, index: int = 0) -> Image.Image:
    """The unlabelled edit: a visibly altered copy of the first input with the prompt drawn
    across it, changed only inside the mask's transparent region (or under the markup).

    The alteration is a hue rotation and contrast change, diagonal stripes in the prompt's
    palette and the prompt's words in large type; other inputs tint the stripes. With a mask,
    every pixel outside its transparent region is the input's pixel, unchanged.
    """
    source = _open_input(request.images[0])
    size = _edit_size(request, source)
    if source.size != size:
        source = ImageOps.fit(source, size, Image.Resampling.BICUBIC)
    seed = request.seed if request.seed is not None else default_seed(request.prompt)
    rng = _Rng(_digest_int("edit", request.prompt, seed, index))
    palette = palette_for(request.prompt)

    rgb, alpha = source.convert("RGB"), source.getchannel("A")
    hsv = rgb.convert("HSV")
    hue, sat, val = hsv.split()
    turn = round(rng.between(70, 190))
    hue = hue.point(lambda v: (v + turn) % 256)
    sat = sat.point(lambda v: min(255, round(v * 1.4) + 40))
    altered = Image.merge("HSV", (hue, sat, val)).convert("RGB")
    altered = ImageOps.autocontrast(ImageOps.posterize(altered, 4))
    for other in request.images[1:4]:  # references tint the result a little
        tint = _open_input(other).convert("RGB").resize((1, 1), Image.Resampling.BOX)
        altered = ImageChops.blend(altered, tint.resize(size), 0.15)
    layer = altered.convert("RGBA")
    layer.putalpha(alpha)

    draw = ImageDraw.Draw(layer)
    width, height = size
    unit = max(1, min(width, height))
    step = max(6, unit // 8)
    stripe = _rgba(rng.pick(palette.accents), 110)
    for offset in range(-height, width, step):
        draw.line([(offset, height), (offset + height, 0)], fill=stripe, width=max(1, step // 4))

    if request.markup is not None:
        region = edit_region(request.markup, size, markup=True)
    elif request.mask is not None:
        region = edit_region(request.mask, size)
    else:
        region = Image.new("L", size, 255)
    box = region.getbbox() or (0, 0, width, height)
    _draw_prompt(layer, request.prompt, box, palette)
    edited = Image.composite(layer, source, region)
    transparent = request.background == "transparent" and request.output_format in _ALPHA_FORMATS
    keep_alpha = request.output_format in _ALPHA_FORMATS and (
        transparent or alpha.getextrema()[0] < 255
    )
    return edited if keep_alpha else edited.convert("RGB")


def _draw_prompt(
    layer: Image.Image, prompt: str, box: tuple[int, int, int, int], palette: Palette
) -> None:
    """The prompt's first words, as large as fit, centred in ``box`` with a dark outline."""
    left, top, right, bottom = box
    text = label_text(prompt, max_words=6, max_chars=48).removeprefix(f"{LABEL_TEXT} · ")
    text = text if text != LABEL_TEXT else "edit"
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    size = max(8, (bottom - top) // 3)
    font = _font(size)
    while size > 8:
        font = _font(size)
        x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font, stroke_width=max(1, size // 12))
        if x1 - x0 <= right - left and y1 - y0 <= bottom - top:
            break
        size = max(8, size * 4 // 5)
    stroke = max(1, size // 12)
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
    at = (left + (right - left - (x1 - x0)) // 2 - x0, top + (bottom - top - (y1 - y0)) // 2 - y0)
    ImageDraw.Draw(layer).text(
        at,
        text,
        font=font,
        fill=(*palette.accents[0], 255),
        stroke_width=stroke,
        stroke_fill=(12, 12, 16, 255),
    )


class OfflineProvider:
    """Draws images locally; ``partial_delay`` seconds pass between partials to mimic streaming."""

    name = "offline"
    offline = True

    def __init__(
        self, partial_delay: float = 0.0, *, model_catalog: ModelCatalog | None = None
    ) -> None:
        self.partial_delay = partial_delay
        self.catalog = model_catalog or catalog()

    async def edit(
        self,
        request: EditRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """Edit offline: ``request.n`` labelled, visibly altered copies of the first input
        (``draw_edit``), checked against the catalogue first like the OpenAI provider does."""
        validate_edit_request(request, self.catalog)
        applied = await asyncio.to_thread(edit_applied_values, request)
        images = await self._draw_all(request, draw_edit, applied, on_partial)
        return ProviderResult(images=images, usage=None, extra={"offline": True, "edit": True})

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        """Draw ``request.n`` labelled images; report partials of the first one if asked.

        ``on_wait`` is accepted for the provider protocol: nothing here ever waits to retry.
        An ``EditRequest`` is edited (``edit``).
        """
        if isinstance(request, EditRequest):
            return await self.edit(request, on_partial, on_wait)
        applied = applied_values(request)  # fails fast on a bad size or format
        images = await self._draw_all(request, draw_artwork, applied, on_partial)
        return ProviderResult(images=images, usage=None, extra={"offline": True})

    async def _draw_all(
        self,
        request: Any,
        draw: Callable[[Any, int], Image.Image],
        applied: dict[str, str],
        on_partial: PartialCallback | None,
    ) -> list[ProviderImage]:
        """``request.n`` images drawn by ``draw`` off the event loop, the first one's partials
        reported on the way."""
        images: list[ProviderImage] = []
        for index in range(max(1, request.n)):
            art = await asyncio.to_thread(draw, request, index)
            if index == 0 and on_partial is not None and request.partial_images > 0:
                await self._emit_partials(art, request, on_partial)
            data = await asyncio.to_thread(self._finish, art, request)
            images.append(
                ProviderImage(data=data, output_format=request.output_format, applied=applied)
            )
        return images

    async def _emit_partials(
        self, art: Image.Image, request: GenerationRequest, on_partial: PartialCallback
    ) -> None:
        total = request.partial_images
        for step in range(total):
            preview = await asyncio.to_thread(partial_preview, art, step, total)
            data = await asyncio.to_thread(self._finish, preview, request)
            outcome = on_partial(step, data)
            if inspect.isawaitable(outcome):
                await outcome
            if self.partial_delay > 0:
                await asyncio.sleep(self.partial_delay)

    @staticmethod
    def _finish(art: Image.Image, request: GenerationRequest) -> bytes:
        return encode(
            add_label(art, request.prompt), request.output_format, request.output_compression
        )

    async def aclose(self) -> None:
        """Nothing to release."""
