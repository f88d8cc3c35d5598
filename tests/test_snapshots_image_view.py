"""SVG snapshots of the image view, the gallery and History at 80×24 and 160×45 (issue 12).

The data is fixed: images are drawn by Pillow into a fixed folder (their paths show on screen),
every time shown is relative to now and far from a boundary.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dalletui.services.context import Services
from dalletui.tui.app import DalleTuiApp
from tests.test_daily_image_view import add_image, draw

#: Where the pictures go: a fixed path, since the image view shows it.
FOLDER = Path("/tmp/dalletui-snapshot-images")
WIDE = (160, 45)
NARROW = (80, 24)


@pytest.fixture(autouse=True)
def _fresh_folder() -> Any:
    """The folder to itself: two test runs on one machine (two checkouts, two Pythons) would
    otherwise empty it under each other, and a picture would show as "no image". A lock file
    beside it makes them take turns."""
    FOLDER.parent.mkdir(parents=True, exist_ok=True)
    with open(FOLDER.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            shutil.rmtree(FOLDER, ignore_errors=True)
            yield
            shutil.rmtree(FOLDER, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def seed(services: Services) -> None:
    """A fox (auto quality, applied high, revised prompt) newest; a whale; a cancelled n=4."""
    now = dt.datetime.now()
    whale = now - dt.timedelta(days=2, hours=5)
    add_image(
        services, "a blue whale under the northern lights", FOLDER, colour=(30, 70, 140), when=whale
    )
    cub = now - dt.timedelta(hours=5, minutes=20)
    add_image(
        services, "a fox cub asleep in autumn leaves", FOLDER, colour=(200, 120, 40), when=cub
    )
    fox = now - dt.timedelta(hours=2, minutes=10)
    add_image(
        services,
        "a red fox in a snowy forest, watercolour",
        FOLDER,
        colour=(190, 60, 30),
        quality="auto",
        applied={"quality": "high", "size": "1024x1024", "background": "opaque"},
        seed=7,
        revised="A watercolour of a red fox standing in a snowy birch forest at dawn.",
        cost="0.1670",
        tokens=(31, 4160),
        when=fox,
    )
    prompt = services.db.record_prompt_use(
        "a red fox in a snowy forest, watercolour", when=fox, count=False
    )
    rows = services.db.create_generations(
        prompt,
        4,
        provider="openai",
        model="gpt-image-1.5",
        size="1024x1536",
        quality="high",
        output_format="png",
    )
    services.db.fail_generations([r.id for r in rows], "cancelled", "cancelled", "Cancelled.")
    for row in rows:
        services.db.update_generation(row.id, created_at=fox - dt.timedelta(minutes=1))


async def settle(pilot: Pilot[Any], times: int = 3) -> None:
    for _ in range(times):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)


async def open_history(pilot: Pilot[Any], services: Services) -> None:
    seed(services)
    pilot.app.refresh_status()
    await pilot.press("f3")
    await settle(pilot)
    await pilot.pause(0.2)  # the detail pane loads once the selection settles
    await settle(pilot)


async def open_gallery(pilot: Pilot[Any], services: Services, search: str = "") -> None:
    await open_history(pilot, services)
    if search:
        await pilot.press("slash", *search, "enter")
        await pilot.pause(0.3)
        await settle(pilot)
    await pilot.press("g")
    await settle(pilot, 4)


async def open_image(pilot: Pilot[Any], services: Services) -> None:
    await open_gallery(pilot, services)
    await pilot.press("enter")
    await settle(pilot, 4)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x45", "80x24"])
def test_image_view(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_image(pilot, services)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x45", "80x24"])
def test_gallery_of_a_search(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_gallery(pilot, services, search="fox")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x45", "80x24"])
def test_history_with_a_cancelled_request(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_history(pilot, services)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def seed_lineage(services: Services) -> None:
    """A lighthouse (#1), an edit of it (#2), a masked edit of that (#3) made from again (#5),
    and a branch from the first edit (#4): the image view of #3 shows all of it."""
    now = dt.datetime.now()
    steps = [
        ("a lighthouse at dusk", None, (40, 60, 120)),
        ("the lighthouse in a storm", 1, (60, 70, 90)),
        ("the storm at night, lightning over the sea", 2, (20, 25, 50)),
        ("the storm at sunrise", 2, (200, 120, 60)),
        ("the night with a full moon", 3, (30, 30, 70)),
    ]
    mask = FOLDER / "mask.png"
    for index, (prompt, parent, colour) in enumerate(steps):
        when = now - dt.timedelta(hours=10 - 2 * index, minutes=15)
        generation = add_image(services, prompt, FOLDER, colour=colour, when=when)
        assert generation.id == index + 1
        if parent is not None:
            inputs: list[dict[str, Any]] = [{"role": "image", "parent_id": parent}]
            if generation.id == 3:
                draw(mask, (255, 255, 255))
                inputs.append({"role": "mask", "file_path": str(mask)})
            services.db.record_inputs(generation.id, "edit", inputs)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x45", "80x24"])
def test_image_view_with_a_lineage(
    snap_compare: Any, app: DalleTuiApp, services: Services, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        seed_lineage(services)
        pilot.app.refresh_status()
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("slash", *"lightning", "enter")
        await pilot.pause(0.3)
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot, 4)
        await pilot.press("enter")
        await settle(pilot, 4)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
