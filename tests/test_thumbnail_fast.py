"""Thumbnails are saved with a fast zlib level (``optimize`` cost ~100 ms an image) and stay
256 px on the long edge, upright, with their alpha."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from dalletui.generation import files


def test_thumbnail_is_saved_fast_and_still_right(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    original = Image.Image.save

    def spy(self: Image.Image, fp: Any, format: Any = None, **params: Any) -> None:
        seen.append(params)
        original(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", spy)
    source = Image.new("RGBA", (1024, 512), (200, 10, 10, 128))
    data = files.thumbnail_png(source)
    assert seen and not seen[-1].get("optimize")
    assert seen[-1].get("compress_level") == files.THUMBNAIL_PNG_LEVEL <= 6
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.size == (256, 128)
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((10, 10))[3] == 128
