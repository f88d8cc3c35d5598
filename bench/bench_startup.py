"""Time to the first frame: dalletui against a bare Textual hello world, headless and in a pty.

Usage: python bench/bench_startup.py [--runs 7] [--python PY]   (PYTHONPATH picks the code)

*Headless*: a fresh interpreter per run; the clock starts when the parent spawns it and stops
at the first compositor update the app hands to ``App._display`` (the first full frame; in a
headless run Textual builds it and drops it). ``time.perf_counter`` is CLOCK_MONOTONIC on
Linux, the same clock in parent and child. *Pty*: the real command (``python -m dalletui`` or
the hello-world script) on an 80x24 pseudo-terminal, TERM=xterm-256color, an empty temporary
DALLETUI_HOME, offline (no API key), graphics forced to half cells (no terminal query that
would wait for an answer no one gives); the clock stops when the frame's last marker (the
footer's text) has arrived. Median of ``--runs``. Never run as a test (timings live in bench/).

``measure_startup(runs=7, python=sys.executable, env=None) -> dict`` is what bench/run.py calls.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROWS, COLS = 24, 80
TIMEOUT = 30.0

#: A hello world as small as Textual allows: one Static, one Footer (what dalletui ends with).
BARE_APP = """
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static

class Hello(App[None]):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("Hello, world")
        yield Footer()
"""

#: Patch ``App._display``: the first non-empty update is the first frame; report, then exit.
HEADLESS_HOOK = """
import sys, time
from textual.app import App
_display = App._display
def _first_frame(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is not None and not getattr(App, "_bench_seen", False):
        App._bench_seen = True
        print("FIRST_FRAME", time.perf_counter(), flush=True)
        self.exit()
App._display = _first_frame
"""

HEADLESS_BARE = HEADLESS_HOOK + BARE_APP + "\nHello().run(headless=True, size=(80, 24))\n"

HEADLESS_DALLETUI = (
    HEADLESS_HOOK
    + """
import pathlib
from dalletui.config import Settings
from dalletui.services.context import open_services
from dalletui.tui.app import make_app
services = open_services(Settings(home=pathlib.Path(sys.argv[1])))
try:
    make_app(services).run(headless=True, size=(80, 24))
finally:
    services.close()
"""
)


def _env(home: str, extra: dict[str, str] | None) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE is dropped: an installed dalletui has its bytecode compiled (pip
    # does it at install), as Textual's has, so neither side pays for compiling its sources.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI", "DALLETUI")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        DALLETUI_HOME=home,
        TERM="xterm-256color",
        DALLETUI_GRAPHICS="halfcell",
        COLUMNS=str(COLS),
        LINES=str(ROWS),
    )
    env.update(extra or {})
    return env


def headless_once(python: str, code: str, env: dict[str, str], home: str) -> float:
    """Milliseconds from spawning ``python -c code`` to its first frame."""
    start = time.perf_counter()
    out = subprocess.run(
        [python, "-c", code, home], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_FRAME"):
            return (float(line.split()[1]) - start) * 1000
    raise RuntimeError(f"no first frame: {out.stderr[-2000:]}")


def pty_once(argv: list[str], env: dict[str, str], marker: bytes) -> float:
    """Milliseconds from spawning ``argv`` on a pty until ``marker`` has been written."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.execvpe(argv[0], argv, env)
    start = time.perf_counter()
    seen = b""
    try:
        while time.perf_counter() - start < TIMEOUT:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if marker in seen:
                return (time.perf_counter() - start) * 1000
        raise RuntimeError(f"{marker!r} never arrived; got {seen[-400:]!r}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def measure_startup(
    runs: int = 7, python: str = sys.executable, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Median ms to the first frame: bare hello world and dalletui, headless and in a pty, and
    the ratios (dalletui / bare). ``env`` is added to the child's environment (PYTHONPATH)."""
    times: dict[str, list[float]] = {
        "bare_headless": [],
        "dalletui_headless": [],
        "bare_pty": [],
        "dalletui_pty": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        bare_script = Path(tmp) / "hello.py"
        bare_script.write_text(BARE_APP + "\nHello().run()\n", encoding="utf-8")
        warm = tempfile.mkdtemp(dir=tmp)  # one unmeasured start of each writes the bytecode
        headless_once(python, HEADLESS_BARE, _env(warm, env), warm)
        headless_once(python, HEADLESS_DALLETUI, _env(warm, env), warm)
        for _ in range(runs):
            # A fresh empty home per run: the first start of a new user, database created.
            home = tempfile.mkdtemp(dir=tmp)
            e = _env(home, env)
            times["bare_headless"].append(headless_once(python, HEADLESS_BARE, e, home))
            times["dalletui_headless"].append(headless_once(python, HEADLESS_DALLETUI, e, home))
            times["bare_pty"].append(pty_once([python, str(bare_script)], e, b"Quit"))
            home = tempfile.mkdtemp(dir=tmp)
            e = _env(home, env)
            times["dalletui_pty"].append(pty_once([python, "-m", "dalletui"], e, b"Batches"))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio_headless"] = result["dalletui_headless"] / result["bare_headless"]
    result["ratio_pty"] = result["dalletui_pty"] / result["bare_pty"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = measure_startup(args.runs, args.python)
    if args.json:
        print(json.dumps(result))
        return 0
    for name, value in result.items():
        unit = "×" if name.startswith("ratio") else " ms"
        print(f"{name:>18}: {value:7.2f}{unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
