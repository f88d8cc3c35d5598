"""Rows 7: the thumbnail of a 1024 px image, as dalletui saves it, against PIL's own levels.

The floor is the same resize saved at zlib level 1 (the fastest PNG PIL writes); PIL's
default level (6) and ``optimize=True`` (what older dalletui used) are printed beside it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from stats import median_ms


def sample_image(path: Path) -> Path:
    """A 1024x1024 PNG with detail everywhere (a Mandelbrot set), written once."""
    from PIL import Image

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.effect_mandelbrot((1024, 1024), (-2, -1.5, 1, 1.5), 100).convert("RGB")
        image.save(path)
    return path


def measure(image_path: Path, repeat: int) -> dict[str, Any]:
    """Median ms of ``thumbnail_png`` and of PIL saves of the same thumbnail."""
    from PIL import Image, ImageOps

    from dalletui.generation import files
    from dalletui.generation.files import thumbnail_png

    # The same resize as the product's (older code has no constant: it used 3.0 as well).
    gap = getattr(files, "THUMBNAIL_REDUCING_GAP", 3.0)

    image = Image.open(image_path)
    image.load()

    def pil(**save: Any) -> None:
        thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail((256, 256), Image.Resampling.LANCZOS, reducing_gap=gap)
        thumb.save(io.BytesIO(), "PNG", **save)

    return {
        "product_ms": median_ms(lambda: thumbnail_png(image), repeat),
        "level1_ms": median_ms(lambda: pil(compress_level=1), repeat),
        "default_ms": median_ms(lambda: pil(), repeat),
        "optimize_ms": median_ms(lambda: pil(optimize=True), repeat),
    }
