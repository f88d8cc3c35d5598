"""Gather evidence about the terminal before Textual (or textual-image) touches it.

Three sources, cheapest first:

1. the environment (TERM, TERM_PROGRAM, KITTY_WINDOW_ID, TMUX, STY, SSH_CONNECTION, ...);
2. one batched query written to the tty: XTVERSION (``CSI > q``), optionally the kitty graphics
   query, the cell size (``CSI 16 t``) and primary device attributes (``CSI c``) last, as a
   sentinel: every terminal answers DA1, and answers in order, so once the DA1 reply is in
   everything else that is coming has come. Reading stops there, or at the cap (about a second);
   then the tty's input queue is flushed so no late reply can reach the app as keypresses;
3. inside tmux, ``tmux display-message`` / ``show-options`` for what tmux knows about the outer
   terminal (its features and XTVERSION) and whether ``allow-passthrough`` is on.

Nothing here imports Textual: ``dalletui doctor graphics`` and the launcher run it first.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Longest we wait for the terminal to answer the batched query, in seconds.
QUERY_CAP = 1.0

#: The id in our kitty graphics query (``a=q`` never stores anything).
KITTY_QUERY_ID = 31

XTVERSION_QUERY = b"\x1b[>q"
KITTY_QUERY = b"\x1b_Gi=%d,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\" % KITTY_QUERY_ID
CELL_SIZE_QUERY = b"\x1b[16t"
DA1_QUERY = b"\x1b[c"

_DA1_REPLY = re.compile(rb"\x1b\[\?([0-9;]*)c")
_XTVERSION_REPLY = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_KITTY_REPLY = re.compile(rb"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;(\d+);(\d+)t")


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class EnvHints:
    """What the environment says about the terminal (each field is evidence, not a verdict)."""

    term: str = ""
    term_program: str = ""
    term_program_version: str = ""
    colorterm: str = ""
    kitty_window: bool = False
    wezterm: bool = False
    ghostty: bool = False
    windows_terminal: bool = False
    vscode: bool = False
    konsole: bool = False
    iterm: bool = False
    tmux: bool = False
    screen: bool = False
    ssh: bool = False
    mosh: bool = False
    browser: bool = False
    no_color: bool = False
    textual_color_system: str = ""
    seen: tuple[str, ...] = ()

    @property
    def truecolor(self) -> bool:
        return self.colorterm.lower() in ("truecolor", "24bit") or self.textual_color_system in (
            "truecolor",
        )

    @property
    def remote(self) -> bool:
        return self.ssh or self.mosh

    @classmethod
    def from_environ(
        cls, env: Mapping[str, str] | None = None, ancestors: tuple[str, ...] | None = None
    ) -> EnvHints:
        env = os.environ if env is None else env
        ancestors = process_ancestors() if ancestors is None else ancestors
        names = (
            "TERM",
            "TERM_PROGRAM",
            "TERM_PROGRAM_VERSION",
            "COLORTERM",
            "KITTY_WINDOW_ID",
            "WEZTERM_EXECUTABLE",
            "WEZTERM_PANE",
            "GHOSTTY_RESOURCES_DIR",
            "GHOSTTY_BIN_DIR",
            "WT_SESSION",
            "VSCODE_INJECTION",
            "VSCODE_GIT_IPC_HANDLE",
            "KONSOLE_VERSION",
            "ITERM_SESSION_ID",
            "TMUX",
            "STY",
            "SSH_CONNECTION",
            "SSH_CLIENT",
            "SSH_TTY",
            "TEXTUAL_DRIVER",
            "TEXTUAL_COLOR_SYSTEM",
            "NO_COLOR",
        )
        seen = tuple(f"{name}={_short(env[name])}" for name in names if env.get(name))
        term = env.get("TERM", "")
        program = env.get("TERM_PROGRAM", "")
        tmux = bool(env.get("TMUX")) or program == "tmux"
        return cls(
            term=term,
            term_program=program,
            term_program_version=env.get("TERM_PROGRAM_VERSION", ""),
            colorterm=env.get("COLORTERM", ""),
            kitty_window=bool(env.get("KITTY_WINDOW_ID")),
            wezterm=bool(env.get("WEZTERM_EXECUTABLE") or env.get("WEZTERM_PANE"))
            or program == "WezTerm",
            ghostty=bool(env.get("GHOSTTY_RESOURCES_DIR") or env.get("GHOSTTY_BIN_DIR"))
            or program == "ghostty"
            or term == "xterm-ghostty",
            windows_terminal=bool(env.get("WT_SESSION")),
            vscode=bool(env.get("VSCODE_INJECTION") or env.get("VSCODE_GIT_IPC_HANDLE"))
            or program == "vscode",
            konsole=bool(env.get("KONSOLE_VERSION")),
            iterm=bool(env.get("ITERM_SESSION_ID")) or program == "iTerm.app",
            tmux=tmux,
            screen=bool(env.get("STY")) or (term.startswith("screen") and not tmux),
            ssh=bool(env.get("SSH_CONNECTION") or env.get("SSH_CLIENT") or env.get("SSH_TTY")),
            mosh="mosh-server" in ancestors,
            browser="web" in env.get("TEXTUAL_DRIVER", "").lower(),
            no_color=bool(env.get("NO_COLOR")),
            textual_color_system=env.get("TEXTUAL_COLOR_SYSTEM", "").lower(),
            seen=seen + (("parent process mosh-server",) if "mosh-server" in ancestors else ()),
        )


def _short(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def process_ancestors(limit: int = 12) -> tuple[str, ...]:
    """Names of our parent processes (Linux /proc only; empty elsewhere). Used to spot mosh."""
    names: list[str] = []
    pid = os.getppid()
    for _ in range(limit):
        if pid <= 1:
            break
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            break
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        left, right = stat.find("("), stat.rfind(")")
        if left < 0 or right < 0:
            break
        names.append(stat[left + 1 : right])
        try:
            pid = int(stat[right + 2 :].split()[1])
        except (IndexError, ValueError):
            break
    return tuple(names)


# --------------------------------------------------------------------------- the tty query


@dataclass(frozen=True)
class ProbeResult:
    """What the terminal answered to the batched query."""

    asked: bool = False
    why_not: str = ""
    asked_kitty: bool = False
    xtversion: str | None = None
    da1: tuple[int, ...] | None = None
    kitty_ok: bool | None = None
    kitty_reply: str | None = None
    cell_pixels: tuple[int, int] | None = None
    seconds: float = 0.0
    timed_out: bool = False
    flushed_bytes: int = 0
    raw: bytes = b""

    @property
    def sixel(self) -> bool:
        return self.da1 is not None and 4 in self.da1


def parse_replies(data: bytes) -> dict[str, object]:
    """Pick the replies we asked for out of whatever came back (in any order)."""
    found: dict[str, object] = {}
    if match := _XTVERSION_REPLY.search(data):
        found["xtversion"] = match.group(1).decode("utf-8", "replace").strip()
    if match := _DA1_REPLY.search(data):
        found["da1"] = tuple(int(p) for p in match.group(1).split(b";") if p.isdigit())
    for match in _KITTY_REPLY.finditer(data):
        keys = dict(part.split(b"=", 1) for part in match.group(1).split(b",") if b"=" in part)
        if keys.get(b"i") == str(KITTY_QUERY_ID).encode():
            status = match.group(2).decode("utf-8", "replace")
            found["kitty_reply"] = status
            found["kitty_ok"] = status == "OK"
    if match := _CELL_REPLY.search(data):
        height, width = int(match.group(1)), int(match.group(2))
        if width > 0 and height > 0:
            found["cell_pixels"] = (width, height)
    return found


def build_query(ask_kitty: bool) -> bytes:
    """The one batch we write: DA1 goes last, as the sentinel."""
    return XTVERSION_QUERY + (KITTY_QUERY if ask_kitty else b"") + CELL_SIZE_QUERY + DA1_QUERY


def query_terminal(
    fd_in: int, fd_out: int, *, ask_kitty: bool, cap: float = QUERY_CAP
) -> ProbeResult:
    """Write the batch, read until the DA1 reply (or the cap), then flush pending input.

    The tty is put in non-canonical, no-echo mode while we wait, so the replies are neither
    echoed nor held back for a newline; its previous mode is restored afterwards.
    """
    import termios

    try:
        saved = termios.tcgetattr(fd_in)
    except termios.error as exc:
        return ProbeResult(why_not=f"cannot read the tty mode ({exc})")
    quiet = termios.tcgetattr(fd_in)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)
    quiet[6][termios.VMIN] = 0
    quiet[6][termios.VTIME] = 0
    data = b""
    started = time.monotonic()
    timed_out = False
    flushed = 0
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        _write_all(fd_out, build_query(ask_kitty))
        deadline = started + cap
        while not _DA1_REPLY.search(data):
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([fd_in], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd_in, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        flushed = _pending_bytes(fd_in)
        # Whatever else arrives was never meant for the app: drop it, then restore the mode.
        termios.tcflush(fd_in, termios.TCIFLUSH)
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    found = parse_replies(data)
    return ProbeResult(
        asked=True,
        asked_kitty=ask_kitty,
        seconds=time.monotonic() - started,
        timed_out=timed_out,
        flushed_bytes=flushed,
        raw=data,
        **found,  # type: ignore[arg-type]
    )


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _pending_bytes(fd: int) -> int:
    import fcntl
    import struct
    import termios

    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])
    except OSError:
        return 0


def window_size(fd: int) -> tuple[int, int, int, int] | None:
    """``(rows, cols, pixel width, pixel height)`` from TIOCGWINSZ, or None."""
    import fcntl
    import struct
    import termios

    try:
        raw = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols, xpix, ypix = struct.unpack("HHHH", raw)
    return rows, cols, xpix, ypix


# --------------------------------------------------------------------------- tmux


@dataclass(frozen=True)
class TmuxInfo:
    """What tmux says about itself and the terminal its client runs in."""

    version: str = ""
    passthrough: str = ""  # "on", "all", "off" or "" when unknown
    client_termname: str = ""
    client_termtype: str = ""
    client_features: frozenset[str] = field(default_factory=frozenset)
    error: str = ""

    @property
    def outer_sixel(self) -> bool:
        return "sixel" in self.client_features

    @property
    def outer_rgb(self) -> bool:
        return "RGB" in self.client_features or "Tc" in self.client_features

    @property
    def passthrough_on(self) -> bool:
        return self.passthrough in ("on", "all")


Runner = Callable[[list[str]], str]


def _run_tmux(args: list[str]) -> str:
    completed = subprocess.run(
        ["tmux", *args], capture_output=True, text=True, timeout=1.5, check=True
    )
    return completed.stdout.strip()


def query_tmux(run: Runner | None = None) -> TmuxInfo:
    """Ask the tmux server (through ``$TMUX``) about the client terminal; never changes anything."""
    run = run or _run_tmux
    if run is _run_tmux and shutil.which("tmux") is None:
        return TmuxInfo(error="the tmux command is not on PATH")
    try:
        line = run(
            [
                "display-message",
                "-p",
                "#{version}\t#{client_termname}\t#{client_termtype}\t#{client_termfeatures}",
            ]
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return TmuxInfo(error=f"tmux did not answer ({exc.__class__.__name__})")
    try:
        # -A: the value in effect for this pane, inherited from the window or global options.
        passthrough = run(["show-options", "-Apv", "allow-passthrough"])
    except (OSError, subprocess.SubprocessError):
        passthrough = ""  # tmux < 3.3 has no such option
    parts = (line.split("\t") + ["", "", "", ""])[:4]
    passthrough = passthrough.strip().splitlines()[-1].strip() if passthrough.strip() else ""
    return TmuxInfo(
        version=parts[0].strip(),
        passthrough=passthrough,
        client_termname=parts[1].strip(),
        client_termtype=parts[2].strip(),
        client_features=frozenset(f for f in parts[3].strip().split(",") if f),
    )


# --------------------------------------------------------------------------- everything


@dataclass(frozen=True)
class Facts:
    """All the evidence the policy decides from."""

    env: EnvHints
    probe: ProbeResult
    tmux: TmuxInfo | None = None
    is_tty: bool = True
    winsize: tuple[int, int, int, int] | None = None


def terminal_fds(dev_tty: bool = False) -> tuple[int, int] | None:
    """The fds Textual will read from and draw on (stdin and stderr), when both are ttys.

    With ``dev_tty`` (``dalletui doctor`` with its output redirected), a keyboard on stdin is
    enough: the query is written to ``/dev/tty``.
    """
    try:
        fd_in = sys.__stdin__.fileno() if sys.__stdin__ else -1
    except (OSError, ValueError):
        fd_in = -1
    if fd_in < 0 or not os.isatty(fd_in):
        return None
    for stream in (sys.__stderr__, sys.__stdout__):
        try:
            fd_out = stream.fileno() if stream else -1
        except (OSError, ValueError):
            continue
        if fd_out >= 0 and os.isatty(fd_out):
            return fd_in, fd_out
    if dev_tty:
        try:
            return fd_in, os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
        except OSError:
            return None
    return None


def should_ask_kitty(env: EnvHints) -> bool:
    """Skip the kitty query where it is known to do harm or cannot be answered.

    iTerm2 shows it in the title; tmux and screen swallow (or mangle) APC strings.
    """
    return not (env.iterm or env.tmux or env.screen or env.term in ("dumb", "linux"))


def gather(
    env: EnvHints | None = None,
    *,
    fds: tuple[int, int] | None | bool = True,
    tmux_runner: Runner | None = None,
    cap: float = QUERY_CAP,
    query: bool = True,
) -> Facts:
    """Collect env hints, query the tty once (when there is one) and ask tmux when inside it.

    ``query=False`` (a forced mode) skips the tty query but still reads the window size.
    """
    env = env or EnvHints.from_environ()
    resolved = terminal_fds() if fds is True else (fds or None)
    if env.browser:
        return Facts(env=env, probe=ProbeResult(why_not="web driver: no terminal"), is_tty=False)
    if resolved is None:
        return Facts(env=env, probe=ProbeResult(why_not="no terminal (not a tty)"), is_tty=False)
    fd_in, fd_out = resolved
    winsize = window_size(fd_out) or window_size(fd_in)
    if not query:
        probe = ProbeResult(why_not="a mode was forced: no query sent")
    elif env.term == "dumb":
        probe = ProbeResult(why_not="TERM=dumb: no queries sent")
    else:
        probe = query_terminal(fd_in, fd_out, ask_kitty=should_ask_kitty(env), cap=cap)
    tmux = query_tmux(tmux_runner) if env.tmux else None
    return Facts(env=env, probe=probe, tmux=tmux, is_tty=True, winsize=winsize)
