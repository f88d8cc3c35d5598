"""Only the first screen's work happens before the first frame (issue 13, "Start").

The other screens are imported, built and styled the first time they are shown, so the first
frame parses only ``app.tcss`` and ``compose.tcss``. Loading styles later must not change how
anything looks: each screen, shown in an app that loaded its styles lazily, gets exactly the
computed styles it gets in an app that loaded every TCSS file up front (the old way).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widget import Widget

from dalletui.config import Settings
from dalletui.services.context import open_services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.styles import all_stylesheets, styles_dir

ROOT = Path(__file__).resolve().parents[1]

FIRST_FRAME = """
import json, pathlib, sys
from textual.app import App
seen = {}
_display = App._display
def first_frame(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is not None and not seen:
        seen["modules"] = sorted(m for m in sys.modules if m.startswith("dalletui.tui.screens"))
        seen["openai"] = "openai" in sys.modules
        seen["styles"] = sorted(
            pathlib.Path(path).name for path, _ in self.stylesheet.source if path.endswith(".tcss")
        )
        self.exit()
App._display = first_frame
from dalletui.config import Settings
from dalletui.services.context import open_services
from dalletui.tui import graphics
from dalletui.tui.app import make_app
graphics.configure("halfcell")
services = open_services(Settings(home=pathlib.Path(sys.argv[1])))
try:
    make_app(services).run(headless=True, size=(80, 24))
finally:
    services.close()
print("RESULT", json.dumps(seen))
"""


def test_the_first_frame_has_only_compose_imported_and_styled(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-3000:]
    seen = json.loads(lines[-1].removeprefix("RESULT "))
    assert seen["modules"] == ["dalletui.tui.screens", "dalletui.tui.screens.compose"]
    assert seen["openai"] is False
    assert seen["styles"] == ["app.tcss", "compose.tcss"]


def test_keys_settings_still_check_every_screens_bindings(tmp_path: Path) -> None:
    """With ``[keys]`` set, every binding is known (so a typo is caught at start)."""
    settings = Settings(home=tmp_path / "home", keys={"history.search": "ctrl+f", "nope": "x"})
    services = open_services(settings)
    try:
        app = make_app(services)
    finally:
        services.close()
    assert app.keymap_in_use.get("history.search") == "ctrl+f"
    assert any("'nope' is not a dalletui key binding" in w for w in app.settings_warnings)


class EagerApp(DalleTuiApp):
    """dalletui as it was: every TCSS file read before the first frame."""

    CSS_PATH = all_stylesheets()


def _styles(app: DalleTuiApp) -> dict[str, str]:
    """Every widget of the current screen (by its place in the tree) and its computed CSS."""
    found: dict[str, str] = {}
    nodes: list[Widget] = [app.screen, *app.screen.walk_children(with_self=False)]
    for index, widget in enumerate(nodes):
        classes = ".".join(sorted(widget.classes))
        name = f"{index}:{type(widget).__name__}#{widget.id or ''}.{classes}"
        found[name] = widget.styles.css
    return found


async def _open_help(pilot: Pilot[Any]) -> None:
    await pilot.press("f1")


async def _open_gallery(pilot: Pilot[Any]) -> None:
    await pilot.press("f3")
    await pilot.pause()
    await pilot.press("g")


async def _open_template_editor(pilot: Pilot[Any]) -> None:
    await pilot.press("f4")
    await pilot.pause()
    await pilot.press("n")


WAYS: dict[str, Callable[[Pilot[Any]], Any]] = {
    "compose": lambda pilot: pilot.pause(),
    "history": lambda pilot: pilot.press("f3"),
    "templates": lambda pilot: pilot.press("f4"),
    "usage": lambda pilot: pilot.press("f5"),
    "trash": lambda pilot: pilot.press("f6"),
    "batches": lambda pilot: pilot.press("f7"),
    "help": _open_help,
    "gallery": _open_gallery,
    "template editor": _open_template_editor,
}


async def _styles_after(app_class: type[DalleTuiApp], home: Path, way: str) -> dict[str, str]:
    graphics.configure("halfcell")
    services = open_services(Settings(home=home))
    try:
        app = app_class(services)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await WAYS[way](pilot)
            for _ in range(3):
                await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            return _styles(app)
    finally:
        services.close()


@pytest.mark.parametrize("way", list(WAYS))
async def test_a_screen_looks_the_same_with_its_styles_read_late(tmp_path: Path, way: str) -> None:
    lazy = await _styles_after(DalleTuiApp, tmp_path / "lazy", way)
    eager = await _styles_after(EagerApp, tmp_path / "eager", way)
    assert len(lazy) >= 3
    assert lazy.keys() == eager.keys()
    differing = {name: (lazy[name], eager[name]) for name in lazy if lazy[name] != eager[name]}
    assert not differing


def test_every_stylesheet_is_named_by_a_screen() -> None:
    """A TCSS file no ``CSS_PATH`` names would never be read."""
    named = {Path(p).name for p in DalleTuiApp.CSS_PATH}  # type: ignore[union-attr]
    for module in (
        "batches",
        "gallery",
        "help",
        "history",
        "image_view",
        "templates",
        "trash",
        "usage",
    ):
        text = (ROOT / "dalletui" / "tui" / "screens" / f"{module}.py").read_text("utf-8")
        named |= {name for name in (p.name for p in styles_dir().glob("*.tcss")) if name in text}
    assert named == {p.name for p in all_stylesheets()}
