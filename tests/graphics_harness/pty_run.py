"""Start a program on a fresh pty with a fake terminal answering on the other side."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from tests.graphics_harness.fake_terminal import Profile, Responder, install_fake_tmux, tmux_env

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child_app.py")


@dataclass
class Run:
    profile: Profile
    delay: float
    report: dict
    output: bytes
    queries: list[bytes]
    returncode: int | None
    seconds: float


def base_env(tmp: Path, profile: Profile, extra: dict[str, str] | None = None) -> dict[str, str]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    install_fake_tmux(bin_dir)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DALLETUI_HOME": str(tmp / "home"),
        "DALLETUI_CONFIG": str(tmp / "none.toml"),
        **profile.env,
        **tmux_env(profile),
        **(extra or {}),
    }
    return env


def open_pty(rows: int = 24, cols: int = 80, cell: tuple[int, int] = (10, 20)) -> tuple[int, int]:
    leader, follower = pty.openpty()
    size = struct.pack("HHHH", rows, cols, cols * cell[0], rows * cell[1])
    fcntl.ioctl(follower, termios.TIOCSWINSZ, size)
    return leader, follower


def run_child(
    profile: Profile,
    delay: float,
    tmp: Path,
    *,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30.0,
    argv: list[str] | None = None,
) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    report_path = tmp / "report.json"
    env = base_env(tmp, profile, {"HARNESS_REPORT": str(report_path), **(extra_env or {})})
    leader, follower = open_pty()
    responder = Responder(leader, profile, delay)
    responder.start()
    started = time.monotonic()
    process = subprocess.Popen(
        argv or [sys.executable, str(CHILD)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=str(tmp),
        start_new_session=True,
        close_fds=True,
    )
    os.close(follower)
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        returncode = None
    seconds = time.monotonic() - started
    time.sleep(0.05)
    responder.stop()
    responder.join(timeout=2)
    os.close(leader)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Run(
        profile,
        delay,
        report,
        bytes(responder.output),
        [query for _, query in responder.queries],
        returncode,
        seconds,
    )
