"""The image view (issue 12): an image large, with its parameters, tokens, cost, file and seed.

Opened from the gallery (enter on a card) and from History's detail pane (enter on an image, or
``v``); ``y`` copies the path, ``o`` opens the system viewer, ←/→ step through the images.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from textual.pilot import Pilot
from textual.widgets import Static

from dalletui.services.context import Services
from dalletui.storage.models import Generation
from dalletui.textsafe import printable
from dalletui.tui import graphics
from dalletui.tui import viewer as viewer_module
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.gallery import GalleryScreen
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.widgets.history_detail import GenerationCard

SIZE = (120, 40)


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    """The real app, started in History."""
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


# -- data ------------------------------------------------------------------------------------


def draw(path: Path, colour: tuple[int, int, int]) -> Path:
    """A small PNG of fixed content (a disc on a plain ground)."""
    image = Image.new("RGB", (256, 256), colour)
    ImageDraw.Draw(image).ellipse([56, 56, 200, 200], fill=(245, 240, 230))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def add_image(
    services: Services,
    prompt: str,
    folder: Path,
    *,
    colour: tuple[int, int, int] = (180, 70, 40),
    model: str = "gpt-image-1.5",
    quality: str = "auto",
    applied: dict[str, str] | None = None,
    seed: int | None = None,
    revised: str | None = None,
    cost: str | None = "0.0125",
    tokens: tuple[int, int] = (24, 4160),
    when: dt.datetime | None = None,
) -> Generation:
    """One succeeded API image with a file, a ledger row, and what the response applied."""
    row = services.db.record_prompt_use(prompt, when=when)
    [pending] = services.db.create_generations(
        row,
        1,
        provider="openai",
        model=model,
        size="1024x1024",
        quality=quality,
        output_format="png",
        params={"n": 1, "applied": applied or {}},
        seed=seed,
    )
    path = draw(folder / f"{pending.id}.png", colour)
    text_in, image_out = tokens
    usage = {
        "cost": None if cost is None else Decimal(cost),
        "price_basis": "tokens",
        "input_text_tokens": text_in,
        "output_image_tokens": image_out,
        "total_tokens": text_in + image_out,
    }
    generation = services.db.finish_generation(
        pending.id,
        usage=usage,
        status="succeeded",
        file_path=str(path),
        thumbnail_path=str(path),
        width=1024,
        height=1024,
        duration_ms=8200,
        revised_prompt=revised,
    )
    if when is not None:
        services.db.update_generation(generation.id, created_at=when)
    return generation


# -- helpers -----------------------------------------------------------------------------------


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_history(pilot: Pilot[Any]) -> HistoryScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_until(pilot, lambda: len(screen.prompt_list) > 0)
    return screen


async def open_view_from_gallery(pilot: Pilot[Any]) -> ImageViewScreen:
    await open_history(pilot)
    await pilot.press("g")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
    gallery = pilot.app.screen
    await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ImageViewScreen))
    view = pilot.app.screen
    assert isinstance(view, ImageViewScreen)
    await wait_until(pilot, lambda: view.place is not None)
    return view


def text_of(screen: ImageViewScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def facts(screen: ImageViewScreen) -> str:
    sections = ("#image-prompt", "#image-revised", "#image-facts", "#image-file", "#image-more")
    return "\n".join(text_of(screen, selector) for selector in sections)


# -- what it shows ----------------------------------------------------------------------------


async def test_enter_on_a_gallery_card_shows_the_image_with_all_it_knows(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    image = add_image(
        services,
        "a red fox in the snow",
        tmp_path / "img",
        quality="auto",
        applied={"quality": "high", "size": "1024x1024", "background": "opaque"},
        seed=42,
        revised="A red fox standing in deep fresh snow, soft morning light",
    )
    async with app.run_test(size=SIZE) as pilot:
        view = await open_view_from_gallery(pilot)
        assert view.row.id == image.id
        assert view.query(".image-large"), "the image itself is shown"
        shown = facts(view)
        assert "a red fox in the snow" in shown
        assert "A red fox standing in deep fresh snow, soft morning light" in shown
        assert "gpt-image-1.5" in shown
        assert "auto → high" in shown, "quality asked auto, the server applied high"
        assert "auto → opaque" in shown
        assert "Seed       42" in shown
        assert "24 text in" in shown and "4,160 image out" in shown and "4,184 total" in shown
        assert "$0.0125" in shown
        assert str(image.file_path) in shown
        assert (
            view.query_one("#image-frame").border_title
            == f"Image #{image.id} · 1 of 1, newest first"
        )


async def test_y_copies_the_path_and_o_opens_the_system_viewer(
    app: DalleTuiApp, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = add_image(services, "an owl at dusk", tmp_path / "img")
    launched: list[list[str]] = []
    copied: list[str] = []
    notes: list[tuple[str, str]] = []
    monkeypatch.setattr(viewer_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(
        viewer_module.subprocess, "Popen", lambda args, **kwargs: launched.append(args)
    )
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    original = app.notify

    def notify(message: str, *, title: str = "", **kwargs: Any) -> None:
        notes.append((title, message))
        original(message, title=title, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    async with app.run_test(size=SIZE) as pilot:
        await open_view_from_gallery(pilot)
        await pilot.press("y")
        await pilot.pause()
        assert copied == [image.file_path]
        assert ("Path copied to the clipboard", printable(image.file_path)) in notes
        await pilot.press("o")
        await pilot.pause()
        assert launched and launched[0][-1] == image.file_path
        assert notes[-1][0] == "Opening in the image viewer"


async def test_arrows_step_through_the_gallerys_images(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    start = dt.datetime.now() - dt.timedelta(hours=1)
    older = add_image(services, "a fox cub", tmp_path / "img", when=start)
    add_image(services, "a blue whale", tmp_path / "img", when=start + dt.timedelta(minutes=1))
    newest = add_image(
        services, "a red fox", tmp_path / "img", when=start + dt.timedelta(minutes=2)
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("slash", *"fox")  # the view steps through the gallery's images only
        await wait_until(pilot, lambda: len(screen.prompt_list) == 2)
        await pilot.press("enter")  # back to the list
        view = await open_view_from_gallery(pilot)
        assert view.row.id == newest.id and view.place is not None
        assert (view.place.position, view.place.total) == (0, 2)
        assert view.check_action("step", (-1,)) is None, "no newer image: shown disabled"
        await pilot.press("right")
        await wait_until(pilot, lambda: view.row.id == older.id)
        assert "a fox cub" in text_of(view, "#image-prompt")
        assert "2 of 2" in str(view.query_one("#image-frame").border_title)
        await pilot.press("left")
        await wait_until(pilot, lambda: view.row.id == newest.id)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, GalleryScreen))


async def test_v_and_enter_in_the_detail_pane_open_the_prompts_images(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    start = dt.datetime.now() - dt.timedelta(hours=1)
    first = add_image(services, "two owls", tmp_path / "img", when=start)
    second = add_image(services, "two owls", tmp_path / "img", when=start + dt.timedelta(minutes=1))
    add_image(services, "a whale", tmp_path / "img", when=start - dt.timedelta(minutes=5))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await wait_until(pilot, lambda: len(list(screen.detail.query(GenerationCard))) == 2)
        await pilot.press("v")  # the highlighted prompt's newest image
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewScreen))
        view = app.screen
        assert isinstance(view, ImageViewScreen)
        assert view.row.id == second.id
        await wait_until(pilot, lambda: view.place is not None)
        assert "1 of 2 of this prompt" in str(view.query_one("#image-frame").border_title)
        await pilot.press("right")  # within the prompt: the whale is not next
        await wait_until(pilot, lambda: view.row.id == first.id)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        cards = list(screen.detail.query(GenerationCard))
        cards[1].focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewScreen))
        assert app.screen.row.id == first.id  # type: ignore[attr-defined]


async def test_text_from_outside_is_shown_as_text(
    app: DalleTuiApp, services: Services, tmp_path: Path
) -> None:
    hostile = "[bold]markup[/] \x1b]52;c;ZXZpbA==\x07 \x1b[2J fox"
    add_image(services, hostile, tmp_path / "img", revised=f"revised {hostile}")
    async with app.run_test(size=SIZE) as pilot:
        view = await open_view_from_gallery(pilot)
        shown = facts(view)
        assert printable(hostile) in shown and "[bold]markup[/]" in shown
        assert "\x1b" not in shown and "\x07" not in shown
