"""Bytes dalletui writes to the terminal, per step, for each graphics mode.

Usage: python bench/bench_graphics_bytes.py [--modes kitty,sixel,sixel-ssh,halfcell]

Runs the real app (``python -m dalletui``) on a pseudo-terminal of 140×45 cells of 10×20 px,
with the mode forced by ``DALLETUI_GRAPHICS``, on a temporary home holding 12 offline images
(three prompts of four). For each step it presses the keys, waits until the output has been
quiet for a moment, and counts what was written: all bytes, and the part that is image data
(sixel DCS strings, kitty APC commands, or half-block cells with their colours). ``sixel-ssh``
adds ``SSH_CONNECTION`` (64-colour sixel thumbnails, animations off). Never run as a test.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

ROWS, COLS, CELL = 45, 140, (10, 20)
QUIET = 0.8  # seconds without output that count as "the frame is done"
BLINK = 320  # a cursor blink redraw is smaller than this
STEP_TIMEOUT = 20.0

F2, F3 = "\x1bOQ", "\x1bOR"
DOWN, PAGE_DOWN, CTRL_G, CTRL_Q = "\x1b[B", "\x1b[6~", "\x07", "\x11"

SIXEL = re.compile(rb"\x1bP[0-9;]*q.*?\x1b\\", re.DOTALL)
APC = re.compile(rb"\x1b_G.*?\x1b\\", re.DOTALL)
HALF = re.compile(rb"(?:\x1b\[[0-9;]*m)*\xe2\x96\x80")  # ▀ with the SGR in front of it

STEPS = [  # (name, keys, text that shows the step has happened)
    ("start to first frame", None, b"offline"),
    ("open History (list + detail thumbnails)", F3, b"generations"),
    ("open the gallery (10 thumbnails)", "g", b"1\xe2\x80\x9310"),
    ("move the selection one row", DOWN, b""),
    ("page down (2 new thumbnails)", PAGE_DOWN, b"11\xe2\x80\x9312"),
    ("back to the list (g)", "g", b""),
    ("list: next prompt (detail images change)", DOWN, b""),
    ("Compose: generate 1 image (full preview)", None, b""),  # typed below
]


@dataclass
class Step:
    name: str
    total: int
    image: int
    seconds: float


def seed(home: Path) -> None:
    env = {**os.environ, "DALLETUI_HOME": str(home), "DALLETUI_CONFIG": str(home / "none.toml")}
    env.pop("OPENAI_API_KEY", None)
    for prompt in ("a lighthouse on a cliff at dusk", "a red fox in snow", "a tiny bookshop"):
        subprocess.run(
            [sys.executable, "-m", "dalletui", "generate", prompt, "-n", "4"],
            env=env,
            check=True,
            capture_output=True,
        )


def image_bytes(data: bytes) -> int:
    return (
        sum(len(m) for m in SIXEL.findall(data))
        + sum(len(m) for m in APC.findall(data))
        + sum(len(m) for m in HALF.findall(data))
    )


def read_until_quiet(
    fd: int, expect: bytes = b"", quiet: float = QUIET, timeout: float = STEP_TIMEOUT
) -> bytes:
    """Output until ``expect`` has appeared and nothing but a cursor blink came for ``quiet`` s.

    A blinking cursor writes ~200 bytes every half second; chunks that small do not count as
    activity, and those after the last real chunk are left out of the step.
    """
    chunks: list[bytes] = []
    kept = 0  # chunks up to the last real one
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    seen = not expect
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunk) > BLINK:
                kept = len(chunks)
                last = time.monotonic()
            if not seen and expect in b"".join(chunks[-50:]):
                seen = True
                kept = len(chunks)
                last = time.monotonic()
        elif seen and kept and time.monotonic() - last >= quiet:
            break
    return b"".join(chunks[:kept])


def run_mode(mode: str, home: Path) -> list[Step]:
    forced = "sixel" if mode == "sixel-ssh" else mode
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "DALLETUI_HOME": str(home),
        "DALLETUI_CONFIG": str(home / "none.toml"),
        "DALLETUI_GRAPHICS": forced,
    }
    env.pop("OPENAI_API_KEY", None)
    env.pop("TMUX", None)
    env.pop("STY", None)
    for name in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"):
        env.pop(name, None)
    if mode == "sixel-ssh":
        env["SSH_CONNECTION"] = "10.0.0.2 50000 10.0.0.1 22"
    leader, follower = pty.openpty()
    fcntl.ioctl(
        follower,
        termios.TIOCSWINSZ,
        struct.pack("HHHH", ROWS, COLS, COLS * CELL[0], ROWS * CELL[1]),
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "dalletui"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(follower)
    steps: list[Step] = []
    try:
        for name, keys, expect in STEPS:
            began = time.monotonic() if keys is not None else started
            if name.startswith("Compose"):
                os.write(leader, F2.encode())
                read_until_quiet(leader)
                os.write(leader, b"a quiet harbour at dawn")
                read_until_quiet(leader)
                began = time.monotonic()
                os.write(leader, CTRL_G.encode())
            elif keys is not None:
                os.write(leader, keys.encode())
            data = read_until_quiet(leader, expect)
            steps.append(Step(name, len(data), image_bytes(data), time.monotonic() - began))
        os.write(leader, CTRL_Q.encode())
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(leader)
    return steps


def kib(value: int) -> str:
    return f"{value / 1024:,.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="kitty,sixel,sixel-ssh,halfcell")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="dalletui-bench-") as folder:
        home = Path(folder) / "home"
        print("seeding 12 offline images…", file=sys.stderr)
        seed(home)
        results = {}
        for mode in modes:
            print(f"running {mode}…", file=sys.stderr)
            results[mode] = run_mode(mode, home)
    width = max(len(step[0]) for step in STEPS)
    header = f"{'KiB written (of which image data)':<{width}}" + "".join(
        f" | {mode:>20}" for mode in modes
    )
    print(header)
    print("-" * len(header))
    for index, (name, _, _) in enumerate(STEPS):
        cells = []
        for mode in modes:
            step = results[mode][index]
            cells.append(f" | {kib(step.total):>9} ({kib(step.image):>7})")
        print(f"{name:<{width}}" + "".join(cells))
    print(
        f"\n{COLS}×{ROWS} cells of {CELL[0]}×{CELL[1]} px; a step ends after {QUIET} s without "
        "output. Image data: sixel DCS strings, kitty APC commands, or ▀ cells with their SGR."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
