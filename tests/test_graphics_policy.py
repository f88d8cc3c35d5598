"""Every branch of the graphics policy, from hand-made evidence (no terminal needed)."""

from __future__ import annotations

import pytest

from dalletui.tui.graphics.detect import EnvHints, Facts, ProbeResult, TmuxInfo
from dalletui.tui.graphics.policy import decide, parse_cell_size, parse_xtversion

WINSIZE = (40, 120, 1200, 800)  # 10×20 px cells


def probe(
    xtversion: str | None = None, da1=(62, 22), kitty: bool | None = None, **kw
) -> ProbeResult:
    return ProbeResult(
        asked=True,
        asked_kitty=kitty is not None,
        xtversion=xtversion,
        da1=da1,
        kitty_ok=kitty,
        kitty_reply=("OK" if kitty else "ENOTSUPPORTED") if kitty is not None else None,
        seconds=0.01,
        **kw,
    )


def facts(env: dict[str, str], result: ProbeResult | None = None, tmux=None, tty=True) -> Facts:
    hints = EnvHints.from_environ(env, ancestors=("mosh-server",) if "MOSH" in env else ())
    return Facts(hints, result or ProbeResult(), tmux=tmux, is_tty=tty, winsize=WINSIZE)


TMUX_ENV = {"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "TMUX": "/tmp/tmux-1/default,1,0"}


@pytest.mark.parametrize(
    ("name", "env", "result", "mode"),
    [
        (
            "kitty",
            {"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"},
            probe("kitty(0.35.2)", kitty=True),
            "kitty",
        ),
        (
            "kitty over ssh (env stripped)",
            {"TERM": "xterm-kitty", "SSH_CONNECTION": "a b c d"},
            probe("kitty(0.32.0)", kitty=True),
            "kitty",
        ),
        (
            "kitty 0.26 (no placeholders)",
            {"TERM": "xterm-kitty"},
            probe("kitty(0.26.5)", kitty=True),
            "halfcell",
        ),
        ("ghostty", {"TERM": "xterm-ghostty"}, probe("ghostty 1.1.0", kitty=True), "kitty"),
        (
            "wezterm",
            {"TERM_PROGRAM": "WezTerm"},
            probe("WezTerm 20240203-110809-5046fc22", (65, 4, 6, 18, 22), kitty=True),
            "sixel",
        ),
        (
            "konsole",
            {"KONSOLE_VERSION": "230805"},
            probe("Konsole 23.08.5", (62, 4, 22), kitty=True),
            "sixel",
        ),
        (
            "xterm vt340",
            {"TERM": "xterm"},
            probe("XTerm(379)", (63, 1, 2, 4, 6, 9, 15, 22)),
            "sixel",
        ),
        (
            "xterm without -ti vt340",
            {"TERM": "xterm"},
            probe("XTerm(379)", (65, 1, 2, 6, 9, 22)),
            "halfcell",
        ),
        ("foot", {"TERM": "foot"}, probe("foot(1.16.2)", (62, 4, 22), kitty=False), "sixel"),
        ("iterm2", {"TERM_PROGRAM": "iTerm.app"}, probe("iTerm2 3.5.0", (62, 4)), "sixel"),
        ("windows terminal", {"WT_SESSION": "x"}, probe(None, (61, 4, 6, 7, 14, 21, 22)), "sixel"),
        (
            "vscode without images",
            {"TERM_PROGRAM": "vscode"},
            probe("xterm.js(5.5.0)", (1, 2)),
            "halfcell",
        ),
        ("warp", {"TERM_PROGRAM": "WarpTerminal"}, probe(None, (1, 2), kitty=True), "halfcell"),
        (
            "gnome terminal",
            {"TERM": "xterm-256color", "COLORTERM": "truecolor"},
            probe(None, (65, 1, 9), kitty=False),
            "halfcell",
        ),
        (
            "silent terminal",
            {"TERM": "xterm-256color"},
            ProbeResult(asked=True, asked_kitty=True, timed_out=True, seconds=1.0),
            "halfcell",
        ),
        ("dumb", {"TERM": "dumb"}, ProbeResult(why_not="TERM=dumb"), "halfcell"),
        ("screen", {"TERM": "screen", "STY": "123.pts-0.host"}, probe(None, (1, 2)), "halfcell"),
        ("mosh", {"TERM": "xterm-256color", "MOSH": "1"}, probe(None, (62,)), "halfcell"),
        ("browser", {"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}, None, "halfcell"),
    ],
)
def test_direct_terminals(name: str, env: dict[str, str], result, mode: str) -> None:
    decision = decide(facts(env, result))
    assert decision.mode == mode, (name, decision.reasons)
    assert decision.reasons
    # Issue 12: 24-bit colour wherever the terminal names itself (XTVERSION, env) as one that
    # draws it; COLORTERM already gives it to Textual, and the rest keep what Rich picks.
    quiet = ("warp", "gnome terminal", "silent terminal", "dumb", "screen", "mosh", "browser")
    assert decision.truecolor is (mode == "kitty" or name not in quiet)


def test_no_tty_gets_unicode() -> None:
    decision = decide(facts({"TERM": "xterm"}, ProbeResult(why_not="not a tty"), tty=False))
    assert decision.mode == "unicode"


def test_kitty_forces_truecolour_and_advises_sendenv_over_ssh() -> None:
    decision = decide(
        facts({"TERM": "xterm-kitty", "SSH_TTY": "/dev/pts/1"}, probe("kitty(0.35.2)", kitty=True))
    )
    assert decision.mode == "kitty" and decision.truecolor
    assert decision.remote and decision.animations_off and decision.thumbnail_colors == 64
    assert any("SendEnv COLORTERM" in line for line in decision.advice)


def test_kitty_that_fails_the_query_is_not_trusted() -> None:
    decision = decide(facts({"TERM": "xterm-kitty"}, probe("kitty(0.35.2)", kitty=False)))
    assert decision.mode == "halfcell"


def test_xterm_without_sixel_says_how() -> None:
    decision = decide(facts({"TERM": "xterm"}, probe("XTerm(379)", (65, 1, 2))))
    assert any("-ti vt340" in line for line in decision.advice)


# ------------------------------------------------------------------ tmux


def tmux_info(**kw) -> TmuxInfo:
    base = dict(
        version="3.4",
        passthrough="off",
        client_termname="xterm",
        client_termtype="XTerm(379)",
        client_features=frozenset({"256", "RGB"}),
    )
    base.update(kw)
    return TmuxInfo(**base)


def test_tmux_33_is_halfcell_even_in_a_sixel_terminal() -> None:
    info = tmux_info(version="3.3a", client_features=frozenset({"sixel", "RGB"}))
    decision = decide(facts(TMUX_ENV, probe("tmux 3.3a", (1, 2)), tmux=info))
    assert decision.mode == "halfcell"
    assert any("3.4" in line for line in decision.advice)


def test_tmux_34_sixel_needs_the_outer_terminal_too() -> None:
    both = tmux_info(client_features=frozenset({"sixel", "RGB"}))
    assert decide(facts(TMUX_ENV, probe("tmux 3.4", (1, 2, 4)), tmux=both)).mode == "sixel"
    outer_without = tmux_info()
    decision = decide(facts(TMUX_ENV, probe("tmux 3.4", (1, 2, 4)), tmux=outer_without))
    assert decision.mode == "halfcell"
    assert any("terminal-features" in line and "sixel" in line for line in decision.advice)


def test_tmux_34_in_kitty_without_passthrough_is_halfcell_not_sixel() -> None:
    """lnqs/textual-image#71: tmux answers DA1 with 4, but kitty cannot draw sixel."""
    info = tmux_info(client_termname="xterm-kitty", client_termtype="kitty(0.35.2)")
    decision = decide(facts(TMUX_ENV, probe("tmux 3.4", (1, 2, 4)), tmux=info))
    assert decision.mode == "halfcell"
    assert any("allow-passthrough on" in line for line in decision.advice)
    assert any("never changes" in line for line in decision.advice)


def test_tmux_kitty_only_with_passthrough_and_rgb() -> None:
    on = tmux_info(passthrough="on", client_termname="xterm-kitty", client_termtype="kitty(0.35.2)")
    decision = decide(facts(TMUX_ENV, probe("tmux 3.3a", (1, 2)), tmux=on))
    assert decision.mode == "kitty" and decision.tmux_wrap and decision.truecolor
    no_rgb = tmux_info(
        passthrough="all",
        client_termname="xterm-kitty",
        client_termtype="kitty(0.35.2)",
        client_features=frozenset({"256"}),
    )
    decision = decide(facts(TMUX_ENV, probe("tmux 3.3a", (1, 2)), tmux=no_rgb))
    assert decision.mode == "halfcell"
    assert any(":RGB" in line for line in decision.advice)


def test_tmux_that_does_not_answer_is_halfcell() -> None:
    decision = decide(
        facts(TMUX_ENV, probe("tmux 3.4", (1, 2, 4)), tmux=TmuxInfo(error="tmux did not answer"))
    )
    assert decision.mode == "halfcell"


def test_screen_inside_tmux_term_is_tmux_not_screen() -> None:
    env = {**TMUX_ENV, "TERM": "screen-256color"}
    hints = EnvHints.from_environ(env, ancestors=())
    assert hints.tmux and not hints.screen


# ------------------------------------------------------------------ forcing and cell size


def test_forced_mode_wins_and_says_so() -> None:
    decision = decide(
        facts({"TERM": "xterm"}, probe("XTerm(379)", (65, 1))),
        "sixel",
        request_source="DALLETUI_GRAPHICS",
    )
    assert decision.mode == "sixel" and decision.auto_mode == "halfcell"
    assert "DALLETUI_GRAPHICS" in decision.reasons[0]


def test_forced_kitty_in_tmux_is_wrapped() -> None:
    decision = decide(facts(TMUX_ENV, probe("tmux 3.3a", (1, 2)), tmux=tmux_info()), "kitty")
    assert decision.mode == "kitty" and decision.tmux_wrap and decision.truecolor
    assert any("allow-passthrough on" in line for line in decision.advice)


def test_cell_size_sources() -> None:
    base = facts({"TERM": "xterm"}, probe("XTerm(379)", (63, 4)))
    assert decide(base).cell_size == (10, 20)
    assert decide(base, cell_override="8x16").cell_size == (8, 16)
    no_pixels = Facts(
        base.env, probe("XTerm(379)", (63, 4), cell_pixels=(7, 15)), winsize=(40, 120, 0, 0)
    )
    assert decide(no_pixels).cell_size == (7, 15)
    nothing = Facts(base.env, probe("XTerm(379)", (63, 4)), winsize=(40, 120, 0, 0))
    decision = decide(nothing)
    assert decision.cell_size == (10, 20) and "DALLETUI_CELL_SIZE" in " ".join(decision.advice)
    wt = facts({"WT_SESSION": "1"}, probe(None, (61, 4)))
    assert decide(wt).cell_size == (10, 20)


@pytest.mark.parametrize(
    ("text", "expected"), [("10x20", (10, 20)), (" 8 X 16 ", (8, 16)), ("2x6", None), ("abc", None)]
)
def test_parse_cell_size(text: str, expected) -> None:
    assert parse_cell_size(text) == expected


@pytest.mark.parametrize(
    ("reply", "name", "version"),
    [
        ("kitty(0.35.2)", "kitty", "0.35.2"),
        ("XTerm(379)", "xterm", "379"),
        ("WezTerm 20240203-110809-5046fc22", "wezterm", "20240203-110809-5046fc22"),
        ("tmux 3.4", "tmux", "3.4"),
        ("foot(1.16.2)", "foot", "1.16.2"),
        ("ghostty 1.1.0", "ghostty", "1.1.0"),
        ("iTerm2 3.5.0", "iterm2", "3.5.0"),
    ],
)
def test_parse_xtversion(reply: str, name: str, version: str) -> None:
    terminal = parse_xtversion(reply)
    assert terminal is not None and (terminal.name, terminal.version) == (name, version)
