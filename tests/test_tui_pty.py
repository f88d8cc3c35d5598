"""The real app starts and quits under a real pseudo-terminal with TERM=xterm-256color."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buffer += chunk
        if needle in buffer:
            return buffer
    return buffer


def test_app_starts_and_quits_in_a_pty(tmp_path: Path) -> None:
    import pty

    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "DALLETUI_HOME": str(tmp_path / "home"),
        "DALLETUI_CONFIG": str(tmp_path / "none.toml"),
        "COLUMNS": "120",
        "LINES": "40",
    }
    env.pop("OPENAI_API_KEY", None)
    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
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
    try:
        screen = read_until(leader, b"offline", timeout=30)
        assert b"offline" in screen, screen[-2000:]
        os.write(leader, b"\x11")  # ctrl+q
        # Keep draining the pty: Textual waits on exit until its last output has been read.
        tail = b""
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            tail += read_until(leader, b"\x00never", timeout=0.2)
        assert process.wait(timeout=5) == 0
        assert b"Traceback" not in screen + tail
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(leader)
