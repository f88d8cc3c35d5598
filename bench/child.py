"""One measurement in a fresh process: ``python bench/child.py KIND JSON-ARGS``.

Prints one JSON line (the result) on stdout. run.py starts it with the same interpreter and
environment (so ``PYTHONPATH=/tmp/oldwt`` measures the old code here too).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


def _lines(args: dict[str, Any]) -> list[str]:
    return Path(args["lines"]).read_text(encoding="utf-8").splitlines()


def run(kind: str, args: dict[str, Any]) -> Any:
    """The measurement ``kind`` with its arguments; returns something JSON can hold."""
    if kind in {"keystrokes", "echo", "frame", "memory", "preview"}:
        import measure_tui as tui

        home = Path(args["home"]) if args.get("home") else None
        if kind == "keystrokes":
            return asyncio.run(tui.keystroke_to_results(home, args["words"], args["keys"]))
        if kind == "echo":
            return asyncio.run(tui.typing_echo(home, args["text"], args["gap_s"]))
        if kind == "frame":
            return asyncio.run(tui.first_frame(args["app"], home, args["spawned"]))
        if kind == "memory":
            return asyncio.run(tui.memory(home, args["pages"]))
        return asyncio.run(tui.preview_paint(Path(args["image"]), args["mode"]))
    if kind in {"import", "import-floor", "import-file"}:
        import measure_import as imp

        home = Path(args["home"])
        if kind == "import":
            return imp.product(home, _lines(args))
        if kind == "import-floor":
            return imp.floor(home, _lines(args))
        return imp.from_file(home, Path(args["file"]))
    if kind == "fold":
        import measure_fold

        return measure_fold.first_run(Path(args["home"]))
    if kind in {"pty-app", "pty-bare"}:
        return pty_target(kind, args)
    raise SystemExit(f"unknown measurement {kind!r}")


def pty_target(kind: str, args: dict[str, Any]) -> None:
    """Run an app for real in the terminal this process was given (a pty from run.py).

    The moment just before the app is built is written to ``args["mark"]`` (wall clock), so
    the parent measures from there to the first frame it reads.
    """
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    if kind == "pty-app":
        from dalletui.config import Settings
        from dalletui.services.context import open_services
        from dalletui.tui import graphics
        from dalletui.tui.app import make_app

        graphics.configure("halfcell")
        services = open_services(Settings(home=Path(args["home"])))
        Path(args["mark"]).write_text(repr(time.time()))
        app: Any = make_app(services)
    else:

        class Hello(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("Hello, world")

        Path(args["mark"]).write_text(repr(time.time()))
        app = Hello()
    app.run()


def main() -> None:
    kind, raw = sys.argv[1], sys.argv[2]
    result = run(kind, json.loads(raw))
    if result is not None:
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
