"""Row 4 (real terminal): time to the first frame in a pty, app against a bare hello world.

Measured from the process's start (the parent's clock before the fork); the child
(bench/child.py pty-app|pty-bare) also writes the wall-clock moment before it builds its app
(imports done), for the note. The parent reads the pty until the first full frame has been
written (its last row drawn) and sends ctrl+q. Skipped, with the reason, where there is no
pty (not POSIX).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("child.py")
ROWS, COLS = 40, 120
#: Textual draws a frame row by row, each from its start: the last row's start ends the first.
LAST_ROW = f"\x1b[{ROWS};1H".encode()


def available() -> str | None:
    """None when a pty can be used here, else why not."""
    if os.name != "posix":
        return "no pty on this platform"
    try:
        import fcntl  # noqa: F401
        import pty  # noqa: F401
        import termios  # noqa: F401
    except ImportError as exc:
        return f"no pty support ({exc})"
    return None


def first_frame_ms(kind: str, home: Path | None, timeout: float = 30.0) -> tuple[float, float]:
    """Milliseconds to the end of the first frame on the pty: from the process's start, and
    from the child's mark (its imports done, the app about to be built)."""
    import fcntl
    import pty
    import termios

    with tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "mark"
        args = {"mark": str(mark), "home": str(home) if home else ""}
        env = dict(
            os.environ,
            TERM="xterm-256color",
            COLORTERM="truecolor",
            COLUMNS=str(COLS),  # read first by shutil.get_terminal_size, as Textual asks it
            LINES=str(ROWS),
        )
        env.pop("TEXTUAL", None)
        started = time.time()
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
                os.execve(sys.executable, [sys.executable, str(CHILD), kind, json.dumps(args)], env)
            finally:
                os._exit(127)
        seen = b""
        done_at: float | None = None
        end = time.time() + timeout
        try:
            while time.time() < end:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                now = time.time()
                seen += chunk
                if LAST_ROW in seen and mark.exists():
                    done_at = now
                    break
            os.write(fd, b"\x11")  # ctrl+q
            _reap(pid, 5.0)
        finally:
            os.close(fd)
        if done_at is None or not mark.exists():
            tail = seen[-300:].decode("utf-8", "replace")
            raise RuntimeError(f"no first frame from {kind} within {timeout:.0f} s: {tail!r}")
        return (done_at - started) * 1000, (done_at - float(mark.read_text())) * 1000


def _reap(pid: int, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def measure(home: Path, repeat: int) -> dict[str, Any]:
    """Median first frame (ms) of the app and of a bare hello world, ``repeat`` runs each."""
    import statistics

    app = [first_frame_ms("pty-app", home) for _ in range(repeat)]
    bare = [first_frame_ms("pty-bare", None) for _ in range(repeat)]
    return {
        "app_ms": statistics.median(a for a, _ in app),
        "bare_ms": statistics.median(b for b, _ in bare),
        "app_built_ms": statistics.median(a for _, a in app),
        "bare_built_ms": statistics.median(b for _, b in bare),
    }
