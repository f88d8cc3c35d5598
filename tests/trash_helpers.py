"""Shared by the trash tests: priced images with real files, made without a provider."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from PIL import Image

from dalletui.services.context import Services
from dalletui.storage.models import Generation, now


def image_bytes(fmt: str = "png", colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG" if fmt == "jpeg" else fmt.upper())
    return buffer.getvalue()


def make_images(
    services: Services,
    prompt: str,
    count: int = 1,
    *,
    cost: str | None = "0.042",
    fmt: str = "png",
) -> list[Generation]:
    """``count`` succeeded generations of ``prompt`` with files on disk and ledger rows."""
    row = services.db.record_prompt_use(prompt)
    pending = services.db.create_generations(
        row,
        count,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format=fmt,
    )
    made = []
    for index, generation in enumerate(pending):
        saved = services.images.save(
            generation.id,
            image_bytes(fmt, (40 * index % 255, 90, 160)),
            fmt,
            {"prompt": prompt},
            now(),
        )
        made.append(
            services.db.finish_generation(
                generation.id,
                usage={"cost": None if cost is None else Decimal(cost), "price_basis": "tokens"},
                status="succeeded",
                file_path=str(saved.path),
                thumbnail_path=str(saved.thumbnail_path),
                width=saved.width,
                height=saved.height,
            )
        )
    return made


def files_of(generation: Generation) -> list[Path]:
    """The files a generation owns on disk at its recorded paths (sidecar when there is one)."""
    image = Path(generation.file_path)
    found = [image, Path(generation.thumbnail_path)]
    if image.with_suffix(".json").exists():
        found.append(image.with_suffix(".json"))
    return found


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths}


def ledger_sum(services: Services) -> Decimal:
    (total,) = services.db.db.execute_sql("SELECT SUM(cost) FROM usage_stats").fetchone()
    return Decimal(str(total or 0))
