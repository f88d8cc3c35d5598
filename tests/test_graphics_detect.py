"""The batched terminal query on a real pty pair, against fake terminals, in process (fast)."""

from __future__ import annotations

import os
import pty
import termios
import time

import pytest

from dalletui.tui.graphics import detect
from tests.graphics_harness.fake_terminal import BY_NAME, PROFILES, Profile, Responder

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pty")


def run_query(profile: Profile, delay: float, cap: float = 1.0) -> tuple[detect.ProbeResult, bytes]:
    leader, follower = pty.openpty()
    responder = Responder(leader, profile, delay)
    responder.start()
    try:
        hints = detect.EnvHints.from_environ(profile.env, ancestors=())
        result = detect.query_terminal(
            follower, follower, ask_kitty=detect.should_ask_kitty(hints), cap=cap
        )
        time.sleep(0.05)
        os.set_blocking(follower, False)
        try:
            leftover = os.read(follower, 4096)
        except BlockingIOError:
            leftover = b""
        mode = termios.tcgetattr(follower)
        assert mode[3] & termios.ICANON, "the tty mode was not restored"
        return result, leftover
    finally:
        responder.stop()
        os.close(follower)
        os.close(leader)


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.3], ids=["0ms", "20ms", "300ms"])
@pytest.mark.parametrize("name", ["kitty", "xterm-vt340", "wezterm", "tmux-3.4", "screen"])
def test_query_reads_until_da1(name: str, delay: float) -> None:
    profile = BY_NAME[name]
    result, leftover = run_query(profile, delay)
    assert not result.timed_out
    assert result.seconds < delay + 0.5
    assert result.da1 is not None
    assert result.xtversion == profile.xtversion
    if profile.kitty and not profile.env.get("TMUX"):
        assert result.kitty_ok
    assert leftover == b""


def test_silent_terminal_stops_at_the_cap() -> None:
    silent = Profile("silent", {"TERM": "xterm-256color"})
    result, _ = run_query(silent, 0.0, cap=0.3)
    assert result.timed_out and result.da1 is None
    assert 0.29 <= result.seconds < 1.3  # the cap, plus generous room for a busy CI machine


def test_replies_after_da1_are_flushed_not_left_as_keys() -> None:
    """A terminal that answers DA1 first and something else a moment later."""

    class Chatty(Responder):
        def answer(self, query: bytes) -> bytes:
            reply = super().answer(query)
            if query == b"\x1b[c":
                return reply + b"\x1b[?2026;2$y"  # an unasked reply arriving with the sentinel
            return reply

    leader, follower = pty.openpty()
    responder = Chatty(leader, BY_NAME["xterm-vt340"], 0.0)
    responder.start()
    try:
        detect.query_terminal(follower, follower, ask_kitty=False, cap=1.0)
        os.set_blocking(follower, False)
        with pytest.raises(BlockingIOError):
            os.read(follower, 4096)
    finally:
        responder.stop()
        os.close(follower)
        os.close(leader)


def test_parse_replies_in_any_order_with_noise() -> None:
    data = (
        b"x\x1b[?62;4;22c\x1b_Gi=31;OK\x1b\\\x1bP>|kitty(0.35.2)\x1b\\\x1b[6;20;10t"
        b"\x1b_Gi=99;OK\x1b\\"
    )
    found = detect.parse_replies(data)
    assert found == {
        "xtversion": "kitty(0.35.2)",
        "da1": (62, 4, 22),
        "kitty_reply": "OK",
        "kitty_ok": True,
        "cell_pixels": (10, 20),
    }


def test_env_hints() -> None:
    hints = detect.EnvHints.from_environ(
        {"TERM": "xterm-kitty", "SSH_CONNECTION": "1 2 3 4", "COLORTERM": "truecolor"},
        ancestors=("bash", "sshd"),
    )
    assert hints.kitty_window is False and hints.ssh and hints.truecolor and not hints.mosh
    assert "SSH_CONNECTION=1 2 3 4" in hints.seen
    mosh = detect.EnvHints.from_environ({"TERM": "xterm-256color"}, ancestors=("mosh-server",))
    assert mosh.mosh and mosh.remote
    assert not detect.should_ask_kitty(detect.EnvHints.from_environ({"TERM_PROGRAM": "iTerm.app"}))


def test_query_tmux_reads_without_changing_anything() -> None:
    calls: list[list[str]] = []

    def runner(args: list[str]) -> str:
        calls.append(args)
        if args[0] == "display-message":
            return "3.4\txterm-kitty\tkitty(0.35.2)\t256,RGB,sync"
        return "on"

    info = detect.query_tmux(runner)
    assert info.version == "3.4" and info.passthrough_on and info.outer_rgb
    assert info.client_termtype == "kitty(0.35.2)" and not info.outer_sixel
    assert all(args[0] in ("display-message", "show-options") for args in calls)


def test_all_profiles_have_an_expected_mode() -> None:
    assert {p.expected for p in PROFILES} <= {"kitty", "sixel", "halfcell"}
