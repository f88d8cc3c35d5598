"""The real History screen on the wire: moving through the gallery sends no image data again.

Twelve images, the gallery open (ten cards on a page at 140×45), sixel graphics: the
first page sends each thumbnail once; arrow keys move the focus (the card under and the card
left both repaint) without a single sixel byte; the next page sends the new thumbnails.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageColor, ImageDraw
from textual.worker import WorkerCancelled

from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.graphics.policy import Decision
from dalletui.tui.graphics.widgets import ImageView
from tests.graphics_harness.wire import capture_wire

SIXEL = re.compile(r"\x1bP[0-9;]*q.*?\x1b\\", re.DOTALL)


@pytest.fixture(autouse=True)
def _restore_graphics():
    yield
    graphics.configure("halfcell")


async def seed(services: Services, tmp: Path, images: int = 12) -> None:
    """Prompts with succeeded generations whose files are small PNGs (fast; no provider)."""
    for number in range(images // 4):
        prompt = services.db.record_prompt_use(f"test prompt number {number}")
        rows = services.db.create_generations(
            prompt,
            4,
            provider="offline",
            model="gpt-image-1-mini",
            size="1024x1024",
            quality="auto",
            output_format="png",
        )
        for index, row in enumerate(rows):
            hue = (number * 4 + index) * 30
            image = Image.new("RGB", (256, 256), tuple(ImageColor.getrgb(f"hsl({hue},70%,50%)")))
            ImageDraw.Draw(image).ellipse([64, 64, 192, 192], fill=(250, 250, 250))
            path = tmp / f"{row.id}.png"
            image.save(path)
            services.db.finish_generation(
                row.id,
                status="succeeded",
                file_path=str(path),
                thumbnail_path=str(path),
                width=1024,
                height=1024,
                duration_ms=900,
            )


async def pause(pilot: Any, times: int = 3) -> None:
    for _ in range(times):
        # A worker superseded while we wait (an exclusive loader started again, as the
        # gallery's next page or History's detail is) is cancelled: that is not an error.
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_gallery_moves_send_no_image_data(
    app: DalleTuiApp,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mode = "sixel"  # the costly one; kitty and half-cell: tests/test_graphics_widgets.py
    await seed(services, tmp_path)
    graphics.configure(mode, decision=Decision.forced(mode, (10, 20)))
    monkeypatch.setattr("textual.constants.COLOR_SYSTEM", "truecolor")
    with capture_wire(monkeypatch) as wire:
        async with app.run_test(size=(140, 45)) as pilot:
            await pause(pilot)
            await pilot.press("f3")
            await pause(pilot)
            mark = wire.mark()
            await pilot.press("g")
            await pause(pilot, 3)
            opened = wire.since(mark)
            views = [v for v in app.screen.query(ImageView) if v.region.area]
            assert len(views) >= 8, "the gallery should show a page of thumbnails"
            sent = len(SIXEL.findall(opened)) if mode == "sixel" else opened.count("a=p,U=1")
            assert 0 < sent <= len(views)  # kitty: the detail pane already sent some
            for key in ["right", "down", "left"]:
                mark = wire.mark()
                await pilot.press(key)
                await pause(pilot, 1)
                step = wire.since(mark)
                assert step, f"{key}: the focus move should repaint something"
                assert "\x1bP" not in step and "\x1b_G" not in step, f"{key} re-sent an image"
            mark = wire.mark()
            await pilot.press("pagedown")
            await pause(pilot, 3)
            paged = wire.since(mark)
            assert ("\x1bP" in paged) if mode == "sixel" else ("\x1b_G" in paged)
