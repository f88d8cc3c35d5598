"""Masks for edits: the PNG's size and alpha, clamping, steps, the outlined preview."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from dalletui.generation.masks import (
    MIN_SIDE,
    MaskRect,
    default_rect,
    mask_png,
    move,
    outline_preview,
    resize,
    step_for,
    write_mask,
)

SQUARE = (1024, 1024)
TALL = (1024, 1536)


def alpha_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA"
    return image.getchannel("A")


@pytest.mark.parametrize("size", [SQUARE, TALL, (1536, 1024), (37, 23)])
def test_the_mask_has_the_image_size(size: tuple[int, int]) -> None:
    data = mask_png(size, default_rect(size))
    assert Image.open(io.BytesIO(data)).size == size


def test_alpha_is_0_exactly_inside_and_255_outside() -> None:
    rect = MaskRect(100, 200, 300, 50)
    alpha = alpha_of(mask_png(SQUARE, rect))
    assert alpha.getbbox() == (0, 0, 1024, 1024)  # opaque somewhere on every edge
    inside = alpha.crop(rect.box)
    assert inside.getextrema() == (0, 0)
    histogram = alpha.histogram()
    assert histogram[0] == 300 * 50
    assert histogram[255] == 1024 * 1024 - 300 * 50
    assert sum(histogram) == histogram[0] + histogram[255]  # nothing half transparent
    # The pixels just outside each edge are opaque, the corners just inside transparent.
    assert alpha.getpixel((99, 200)) == 255 and alpha.getpixel((100, 200)) == 0
    assert alpha.getpixel((399, 249)) == 0 and alpha.getpixel((400, 249)) == 255
    assert alpha.getpixel((399, 250)) == 255 and alpha.getpixel((100, 199)) == 255


def test_default_rect_is_the_centre_half() -> None:
    assert default_rect(SQUARE) == MaskRect(256, 256, 512, 512)
    assert default_rect(TALL) == MaskRect(256, 384, 512, 768)
    assert default_rect(SQUARE).describe(SQUARE) == "x 256, y 256, 512×512 px of 1024×1024"


def test_clamping_keeps_the_rect_inside_the_image() -> None:
    assert MaskRect(-50, -10, 100, 100).clamped(SQUARE) == MaskRect(0, 0, 100, 100)
    assert MaskRect(1000, 1000, 100, 100).clamped(SQUARE) == MaskRect(924, 924, 100, 100)
    assert MaskRect(0, 0, 5000, 3).clamped(SQUARE) == MaskRect(0, 0, 1024, MIN_SIDE)
    assert MaskRect(3, 3, 0, -4).clamped((10, 12)) == MaskRect(0, 0, 10, 12)
    # A mask of a rect past the edge is the clamped rect's mask.
    past = MaskRect(1000, 0, 100, 24)
    assert mask_png(SQUARE, past) == mask_png(SQUARE, past.clamped(SQUARE))
    alpha = alpha_of(mask_png(SQUARE, past))
    assert alpha.histogram()[0] == 100 * 24 and alpha.getpixel((1023, 0)) == 0


def test_steps_are_a_32nd_of_the_side_or_given() -> None:
    assert step_for(SQUARE) == (32, 32)
    assert step_for(TALL) == (32, 48)
    assert step_for(SQUARE, 128) == (8, 8)
    assert step_for((20, 20), 128) == (1, 1)
    rect = default_rect(SQUARE)
    assert move(rect, 1, 0, SQUARE) == MaskRect(288, 256, 512, 512)
    assert move(rect, 0, -2, SQUARE) == MaskRect(256, 192, 512, 512)
    assert move(rect, -1, 1, SQUARE, step=10) == MaskRect(246, 266, 512, 512)
    assert move(rect, 1, 1, TALL, step=(5, 7)) == MaskRect(261, 263, 512, 512)


def test_moving_stops_at_the_edges() -> None:
    rect = default_rect(SQUARE)
    for _ in range(40):
        rect = move(rect, 1, 1, SQUARE)
    assert rect == MaskRect(512, 512, 512, 512)
    for _ in range(40):
        rect = move(rect, -1, -1, SQUARE)
    assert rect == MaskRect(0, 0, 512, 512)


def test_resizing_grows_and_shrinks_within_bounds() -> None:
    rect = default_rect(SQUARE)
    assert resize(rect, 1, 0, SQUARE) == MaskRect(256, 256, 544, 512)
    assert resize(rect, 0, -1, SQUARE) == MaskRect(256, 256, 512, 480)
    for _ in range(100):
        rect = resize(rect, -1, -1, SQUARE)
    assert rect == MaskRect(256, 256, MIN_SIDE, MIN_SIDE)
    # Growing at the right edge moves the rect left, up to the whole image.
    rect = MaskRect(900, 0, 124, 100)
    assert resize(rect, 1, 0, SQUARE) == MaskRect(868, 0, 156, 100)
    for _ in range(100):
        rect = resize(rect, 1, 1, SQUARE)
    assert rect == MaskRect(0, 0, 1024, 1024)


def test_write_mask_writes_unique_files_atomically(tmp_path: Path) -> None:
    folder = tmp_path / "masks"
    rect = MaskRect(10, 10, 40, 40)
    first = write_mask(folder, (64, 64), rect)
    second = write_mask(folder, (64, 64), rect)
    assert first != second and first.parent == second.parent == folder
    assert first.suffix == ".png" and first.read_bytes() == mask_png((64, 64), rect)
    assert sorted(p.name for p in folder.iterdir()) == sorted([first.name, second.name])


def picture(size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (250, 210, 0)])
def test_the_outline_shows_on_any_picture(colour: tuple[int, int, int]) -> None:
    source = picture(SQUARE, colour)
    rect = MaskRect(256, 256, 512, 512)
    preview = outline_preview(source, rect, 256)
    assert preview.size == (256, 256)
    # The rect is 64..192 in the preview; its edge pixels differ clearly from the picture.
    edge = [preview.getpixel((64 + i, 128)) for i in range(3)]
    assert any(sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) > 200 for pixel in edge)
    assert len(set(edge)) >= 2  # two contrasting colours
    # Inside is left as it was; outside is dimmed (unless already black).
    assert preview.getpixel((128, 128)) == colour
    outside = preview.getpixel((10, 10))
    assert outside == colour if colour == (0, 0, 0) else sum(outside) < sum(colour)


def test_outline_preview_from_a_file_and_at_the_edges(tmp_path: Path) -> None:
    path = tmp_path / "tall.png"
    picture(TALL, (120, 160, 200)).save(path)
    whole = MaskRect(0, 0, *TALL)
    preview = outline_preview(path, whole, 96)
    assert preview.size == (64, 96) and preview.mode == "RGB"
    # A rect at the image's edges still shows its outline (drawn inside the rect).
    assert preview.getpixel((0, 50)) != (120, 160, 200)
    assert preview.getpixel((63, 50)) != (120, 160, 200)
    assert preview.getpixel((32, 48)) == (120, 160, 200)
    # A smaller copy with the full image's size gives the same picture.
    small = picture((64, 96), (120, 160, 200))
    again = outline_preview(small, whole, 96, image_size=TALL)
    assert again.tobytes() == preview.tobytes()


def test_a_tiny_rect_on_a_small_preview_still_draws(tmp_path: Path) -> None:
    preview = outline_preview(picture(SQUARE, (90, 90, 90)), MaskRect(0, 0, 16, 16), 40)
    assert preview.size == (40, 40)
    assert preview.getpixel((0, 0)) != (90, 90, 90)
