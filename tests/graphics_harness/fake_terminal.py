"""Fake terminals on the other side of a pty: they answer dalletui's queries like real ones.

A profile says what a terminal answers to XTVERSION (``CSI > q``), the kitty graphics query,
``CSI 16 t`` and DA1 (``CSI c``), and which environment variables it sets. ``Responder`` reads
what the program writes to the pty and answers each query after ``delay`` seconds (SSH-like
latency), in order, like a real terminal; it also records everything the program wrote.

A ``Responder`` works on its own duplicate of the leader fd and ``stop()`` joins both of its
threads before closing that duplicate. So once ``stop()`` returns nothing of it is left running,
and when the caller closes its leader and the kernel hands the same fd number to the next test's
pty, no old thread can read that test's queries or write stale answers into it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import select
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    env: dict[str, str]
    xtversion: str | None = None
    da1: str | None = None  # e.g. "?62;4;22"
    kitty: bool = False  # answers the kitty query with OK
    cell_reply: tuple[int, int] | None = (20, 10)  # CSI 16 t -> (height, width)
    expected: str = "halfcell"
    tmux: dict[str, str] = field(default_factory=dict)  # canned answers for a fake `tmux`


PROFILES = [
    Profile(
        "kitty",
        {"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"},
        xtversion="kitty(0.35.2)",
        da1="?62;22",
        kitty=True,
        expected="kitty",
    ),
    Profile(
        "xterm-vt340",
        {"TERM": "xterm"},
        xtversion="XTerm(379)",
        da1="?63;1;2;4;6;9;15;16;22;28",
        expected="sixel",
    ),
    Profile(
        "wezterm",
        {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm", "WEZTERM_PANE": "0"},
        xtversion="WezTerm 20240203-110809-5046fc22",
        da1="?65;4;6;18;22",
        kitty=True,
        expected="sixel",
    ),
    Profile(
        "tmux-3.3",
        {"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "TMUX": "/tmp/fake-tmux,1,0"},
        xtversion="tmux 3.3a",
        da1="?1;2",
        expected="halfcell",
        tmux={
            "version": "3.3a",
            "passthrough": "off",
            "termname": "xterm",
            "termtype": "XTerm(379)",
            "features": "256,RGB,sixel",
        },
    ),
    Profile(
        "tmux-3.4",
        {"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "TMUX": "/tmp/fake-tmux,1,0"},
        xtversion="tmux 3.4",
        da1="?1;2;4",
        expected="sixel",
        tmux={
            "version": "3.4",
            "passthrough": "off",
            "termname": "xterm",
            "termtype": "XTerm(379)",
            "features": "256,RGB,sixel",
        },
    ),
    Profile(
        "screen",
        {"TERM": "screen", "STY": "4242.pts-0.host"},
        xtversion=None,
        da1="?1;2",
        cell_reply=None,
        expected="halfcell",
    ),
    Profile("dumb", {"TERM": "dumb"}, xtversion=None, da1=None, cell_reply=None),
]

BY_NAME = {profile.name: profile for profile in PROFILES}

_QUERY = re.compile(rb"\x1b\[>0?q|\x1b_G[^\x1b]*a=q[^\x1b]*\x1b\\|\x1b\[16t|\x1b\[0?c")


class Responder(threading.Thread):
    """Reads the pty leader; answers queries after ``delay`` seconds; keeps all output.

    Use ``start()`` then ``stop()`` (or ``with Responder(...) as r:``). ``stop()`` returns only
    when both threads have ended, and raises if one of them will not.
    """

    def __init__(self, fd: int, profile: Profile, delay: float) -> None:
        super().__init__(daemon=True, name=f"responder-{profile.name}")
        # Our own reference to the pty: the caller's fd number may be closed and reused.
        self.fd = os.dup(fd)
        self.profile = profile
        self.delay = delay
        self.output = bytearray()
        self.queries: list[tuple[float, bytes]] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._scanned = 0
        self._outbox: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self._sender_thread = threading.Thread(
            target=self._sender, daemon=True, name=f"responder-{profile.name}-sender"
        )
        self._closed = False

    def answer(self, query: bytes) -> bytes:
        p = self.profile
        if query.startswith(b"\x1b[>") and p.xtversion:
            return b"\x1bP>|" + p.xtversion.encode() + b"\x1b\\"
        if query.startswith(b"\x1b_G") and p.kitty:
            match = re.search(rb"i=(\d+)", query)
            return b"\x1b_Gi=" + (match.group(1) if match else b"1") + b";OK\x1b\\"
        if query == b"\x1b[16t" and p.cell_reply:
            return b"\x1b[6;%d;%dt" % p.cell_reply
        if query in (b"\x1b[c", b"\x1b[0c") and p.da1:
            return b"\x1b[" + p.da1.encode() + b"c"
        return b""

    def start(self) -> None:
        self._sender_thread.start()
        super().start()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.02)
            except (OSError, ValueError):
                return
            if not ready or self._halt.is_set():
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.output += chunk
                # Scan with some overlap so a query split across reads is still seen.
                start = max(0, self._scanned - 64)
                for match in _QUERY.finditer(bytes(self.output), start):
                    if match.start() < self._scanned:
                        continue
                    query = match.group(0)
                    self.queries.append((time.monotonic(), query))
                    reply = self.answer(query)
                    if reply:
                        # One sender thread keeps replies in order, as a real terminal does.
                        self._outbox.put((time.monotonic() + self.delay, reply))
                self._scanned = len(self.output)

    def _sender(self) -> None:
        while not self._halt.is_set():
            try:
                due, data = self._outbox.get(timeout=0.05)
            except queue.Empty:
                continue
            # Wait on the event, not time.sleep: stop() must not wait out a long delay.
            if self._halt.wait(max(0.0, due - time.monotonic())):
                return
            with contextlib.suppress(OSError):
                os.write(self.fd, data)

    def stop(self, timeout: float = 5.0) -> None:
        """End both threads, then close our fd. Safe to call more than once."""
        self._halt.set()
        stuck = []
        for thread in (self, self._sender_thread):
            if thread.is_alive():
                thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        if stuck:
            # Keep the fd open: closing it under a live thread is exactly the bug this avoids.
            raise RuntimeError(f"fake terminal thread(s) did not stop: {', '.join(stuck)}")
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def __enter__(self) -> Responder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


FAKE_TMUX = """#!/bin/sh
# A stand-in for tmux that answers dalletui's two questions from environment variables.
case "$1" in
  display-message) printf '%s\\t%s\\t%s\\t%s\\n' "$FAKE_TMUX_VERSION" "$FAKE_TMUX_TERMNAME" \\
      "$FAKE_TMUX_TERMTYPE" "$FAKE_TMUX_FEATURES" ;;
  show-options) printf '%s\\n' "$FAKE_TMUX_PASSTHROUGH" ;;
  *) exit 1 ;;
esac
"""


def install_fake_tmux(folder) -> str:  # noqa: ANN001
    """Write the fake ``tmux`` into ``folder`` and return the folder (to put first on PATH)."""
    path = os.path.join(folder, "tmux")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(FAKE_TMUX)
    os.chmod(path, 0o755)
    return str(folder)


def tmux_env(profile: Profile) -> dict[str, str]:
    t = profile.tmux
    if not t:
        return {}
    return {
        "FAKE_TMUX_VERSION": t["version"],
        "FAKE_TMUX_PASSTHROUGH": t["passthrough"],
        "FAKE_TMUX_TERMNAME": t["termname"],
        "FAKE_TMUX_TERMTYPE": t["termtype"],
        "FAKE_TMUX_FEATURES": t["features"],
    }
