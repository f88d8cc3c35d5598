"""A demo for looking at dalletui's graphics in a real terminal (used with Xvfb + xterm).

    python -m tests.graphics_harness.demo_app [IMAGE ...]

Decides graphics exactly like the launcher, then shows a four-band test pattern as a full
preview, and thumbnails (bands plus any IMAGE files) in a list whose highlight moves every
half second. Quits after ``DEMO_SECONDS`` (default 8).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from dalletui.tui import graphics

BANDS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 220, 0)]


def band_pattern(folder: Path) -> Path:
    image = Image.new("RGB", (320, 240))
    draw = ImageDraw.Draw(image)
    for index, color in enumerate(BANDS):
        draw.rectangle([0, index * 60, 319, index * 60 + 59], fill=color)
    path = folder / "bands.png"
    image.save(path)
    return path


def main() -> None:
    decision = graphics.setup(os.environ.get("DALLETUI_GRAPHICS", "auto"))
    from textual.app import App, ComposeResult
    from textual.containers import Horizontal, Vertical
    from textual.widgets import Label, ListItem, ListView

    folder = Path(tempfile.mkdtemp())
    bands = band_pattern(folder)
    thumbs = [bands, *[Path(p) for p in sys.argv[1:]]]

    class Demo(App[None]):
        CSS = """
        #full { width: 40; height: 15; }
        ListItem { height: 5; }
        ListItem > Horizontal { height: 5; }
        Label { padding: 0 1; }
        #side { width: 1fr; }
        """

        def compose(self) -> ComposeResult:
            yield Label(f"{decision.mode} · {graphics.renderer_name()} · {decision.terminal}")
            with Horizontal():
                with Vertical(id="left", classes="left"):
                    yield graphics.preview(bands, id="full")
                    yield Label("full preview (bands: red green blue yellow)")
                with ListView(id="side"):
                    for index, path in enumerate(thumbs):
                        with ListItem(), Horizontal():
                            yield graphics.preview(path, box=(10, 5))
                            yield Label(f"thumbnail {index}: {path.name}")

        def on_mount(self) -> None:
            self.set_interval(0.5, self.step)
            self.set_timer(float(os.environ.get("DEMO_SECONDS", "8")), self.exit)

        def step(self) -> None:
            view = self.query_one(ListView)
            view.index = ((view.index or 0) + 1) % len(thumbs)

    Demo().run()


if __name__ == "__main__":
    main()
