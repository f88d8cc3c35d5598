"""Run inside the pty harness: decide graphics as dalletui's launcher does, then run a tiny
Textual app that records every key event it gets, and write a JSON report.

``HARNESS_PROBE=raw`` imports textual-image the naive way instead (its own probing runs), as a
control showing the harness does catch replies leaking into the app as keys.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

started = time.monotonic()
report: dict[str, object] = {}
if os.environ.get("HARNESS_PROBE") == "raw":
    import textual_image.widget as ti

    report["mode"] = ti.Image.__name__
    report["probe_seconds"] = time.monotonic() - started
else:
    from dalletui.config import Settings
    from dalletui.tui import graphics
    from dalletui.tui.launch import decide_graphics

    decision = decide_graphics(Settings(home=Path(os.environ["DALLETUI_HOME"]), graphics="auto"))
    report["mode"] = decision.mode
    report["probe_seconds"] = decision.probe_seconds
    report["renderer"] = graphics.renderer_name()
    report["reasons"] = list(decision.reasons)
report["decided_after"] = time.monotonic() - started

from textual import events  # noqa: E402
from textual.app import App  # noqa: E402

keys: list[str] = []


class KeyLog(App[None]):
    def on_mount(self) -> None:
        self.set_timer(float(os.environ.get("HARNESS_RUN", "0.5")), self.exit)

    def on_key(self, event: events.Key) -> None:
        keys.append(event.key)


app = KeyLog()
app.run()
import textual.constants  # noqa: E402

report["keys"] = keys
report["color_system"] = textual.constants.COLOR_SYSTEM
report["animations"] = textual.constants.TEXTUAL_ANIMATIONS
report["textual_image_loaded"] = "textual_image.widget" in sys.modules
Path(os.environ["HARNESS_REPORT"]).write_text(json.dumps(report), encoding="utf-8")
