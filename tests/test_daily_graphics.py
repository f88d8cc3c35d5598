"""Issue 12, graphics: what reaches the terminal after a screen switch, and the colour depth.

The first tests replay the bytes the app writes (``graphics_harness.wire``) on a small terminal
model, the way a real terminal would show them, and read the cells back: a test can then see
what a person sees, including cells that the app left alone ("holes") and that keep whatever
an earlier screen drew there.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Label, Static, TextArea

from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.graphics import detect
from dalletui.tui.graphics.detect import Facts
from dalletui.tui.graphics.policy import Decision, decide
from dalletui.tui.graphics.widgets import ImageView
from tests.graphics_harness.wire import capture_wire

SIXEL = re.compile(r"\x1bP[0-9;]*q.*?\x1b\\", re.DOTALL)


@pytest.fixture(autouse=True)
def _restore_graphics():
    yield
    graphics.configure("halfcell")


def use(mode: str) -> None:
    graphics.configure(mode, decision=Decision.forced(mode, (10, 20)))


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


# ------------------------------------------------------------------ a terminal to replay on

_SEQUENCE = re.compile(
    r"\x1b\[(?P<params>[0-9;?<=>]*)(?P<final>[@-~])"  # CSI
    r"|\x1b\](?:.*?)(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[P_^X](?:.*?)\x1b\\"  # DCS (sixel), APC (kitty), PM, SOS
    r"|\x1b.",
    re.DOTALL,
)


class Terminal:
    """Just enough of a terminal for Textual's output: cursor moves and text (no colours)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.x = self.y = 0

    def feed(self, data: str) -> None:
        pos = 0
        for match in _SEQUENCE.finditer(data):
            self._text(data[pos : match.start()])
            pos = match.end()
            final = match.group("final")
            if final is None:
                continue
            params = match.group("params") or ""
            numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
            if final == "H" and not params.startswith("?"):
                row = numbers[0] if numbers and numbers[0] else 1
                col = numbers[1] if len(numbers) > 1 and numbers[1] else 1
                self.y, self.x = min(self.height - 1, row - 1), min(self.width - 1, col - 1)
            elif final == "C":
                self.x = min(self.width - 1, self.x + (numbers[0] if numbers and numbers[0] else 1))
            elif final == "J" and numbers and numbers[0] == 2:
                self.cells = [[" "] * self.width for _ in range(self.height)]
        self._text(data[pos:])

    def _text(self, text: str) -> None:
        for char in text:
            if char in "\r\n":
                continue
            width = cell_len(char)
            if width == 0:
                continue
            if 0 <= self.y < self.height and 0 <= self.x < self.width:
                self.cells[self.y][self.x] = char
                if width == 2 and self.x + 1 < self.width:
                    self.cells[self.y][self.x + 1] = ""
            self.x = min(self.width, self.x + width)

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.cells]

    def region(self, x: int, y: int, width: int, height: int) -> list[str]:
        return ["".join(row[x : x + width]) for row in self.cells[y : y + height]]


def picture(folder: Path) -> Path:
    image = Image.new("RGB", (256, 256), (30, 60, 200))
    ImageDraw.Draw(image).ellipse([40, 40, 216, 216], fill=(240, 240, 240))
    path = folder / "picture.png"
    image.save(path)
    return path


# ------------------------------------------------------------------ history inside compose


class TwoModes(App[None]):
    """Mode ``a`` shows an image where mode ``b`` shows text, as Compose and History do."""

    CSS = "ImageView { margin: 1 2; } #words { height: 100%; }"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_mount(self) -> None:
        self.add_mode("a", lambda: PictureScreen(self.path))
        self.add_mode("b", WordsScreen)
        self.switch_mode("a")


class PictureScreen(Screen[None]):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield graphics.preview(self.path, box=(20, 8))


class WordsScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("\n".join(["Prompt #1 Used 2 times " * 3] * 20), id="words")


def image_cells(app: App[Any], terminal: Terminal) -> list[str]:
    view = app.screen.query_one(ImageView)
    region = view.region
    return terminal.region(region.x, region.y, region.width, region.height)


async def settled(pilot: Pilot[Any]) -> None:
    """Wait until the app draws again: ``switch_mode`` holds the output for 50 ms."""
    await wait_until(pilot, lambda: pilot.app._batch_count == 0)
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("mode", ["unicode", "halfcell"])
async def test_switching_back_draws_the_picture_not_the_other_screen(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame drawn while Textual holds its output back (``switch_mode`` delays updates) never
    reached the terminal; the image must not take it as drawn and leave holes there."""
    use(mode)
    path = picture(tmp_path)
    terminal = Terminal(60, 20)
    with capture_wire(monkeypatch) as wire:
        app = TwoModes(path)
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_until(pilot, lambda: bool(app.screen.query(ImageView)))
            await settled(pilot)
            terminal.feed(wire.text)
            first = image_cells(app, terminal)
            assert "Prompt" not in "".join(first)
            assert any(line.strip() for line in first), "\n".join(terminal.lines())
            for target in ("b", "a", "b", "a"):
                mark = wire.mark()
                await app.switch_mode(target)
                await settled(pilot)
                terminal.feed(wire.since(mark))
            assert image_cells(app, terminal) == first, "\n".join(terminal.lines())


async def test_switching_back_sends_the_sixel_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use("sixel")
    path = picture(tmp_path)
    with capture_wire(monkeypatch) as wire:
        app = TwoModes(path)
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_until(pilot, lambda: bool(app.screen.query(ImageView)))
            await settled(pilot)
            # The first frame of a mode's screen is drawn while the switch holds the output.
            assert len(SIXEL.findall(wire.text)) >= 1, "the first sixel never reached the wire"
            await app.switch_mode("b")
            await settled(pilot)
            mark = wire.mark()
            await app.switch_mode("a")
            await settled(pilot)
            # The same frame may be offered twice (once held back), but one must get through.
            assert len(SIXEL.findall(wire.since(mark))) >= 1


async def test_compose_result_card_after_history_shows_the_image(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's steps: 'a blue teapot', ctrl+g twice, F3, F2 (no API key, unicode blocks)."""
    use("unicode")
    width, height = 100, 32
    terminal = Terminal(width, height)
    with capture_wire(monkeypatch) as wire:
        app: DalleTuiApp = make_app(services)
        async with app.run_test(size=(width, height)) as pilot:
            editor = app.screen.query_one("#prompt", TextArea)
            editor.focus()
            editor.load_text("a blue teapot")
            await pilot.pause()
            for count in (1, 2):
                await pilot.press("ctrl+g")
                await wait_until(pilot, lambda c=count: len(app.screen.query(ImageView)) == c)
                await app.workers.wait_for_complete()
                await settled(pilot)
            await pilot.press("f3")

            def history_shown() -> bool:
                replay = Terminal(width, height)
                replay.feed(wire.text)
                return "Used 2 times" in "\n".join(replay.lines())

            await wait_until(pilot, history_shown)
            await app.workers.wait_for_complete()
            await settled(pilot)
            terminal.feed(wire.text)
            mark = wire.mark()
            await pilot.press("f2")
            await wait_until(pilot, lambda: "Compose" in type(app.screen).__name__)
            await settled(pilot)
            terminal.feed(wire.since(mark))
            shown = "\n".join(terminal.lines())
            assert "Compose" in shown.splitlines()[0]
            for words in ("Prompt #1", "Used 2 times", "generations"):
                assert words not in shown, shown
            newest = app.screen.query(ImageView).first()
            region = newest.region
            cells = "".join(terminal.region(region.x, region.y, region.width, region.height))
            assert set(cells) & set("░▒▓█"), shown


async def test_redraw_draws_every_image_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``graphics.redraw(app)`` (ctrl+l) repaints the screen and the images in it, since a
    stray write from another program may have damaged them."""
    use("unicode")
    path = picture(tmp_path)
    terminal = Terminal(60, 20)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Label("top")
            yield graphics.preview(path, box=(20, 8))

    with capture_wire(monkeypatch) as wire:
        app = One()
        async with app.run_test(size=(60, 20)) as pilot:
            await settled(pilot)
            terminal.feed(wire.text)
            first = image_cells(app, terminal)
            terminal.feed("\x1b[3;3H" + "garbage " * 5)  # another program wrote over it
            assert image_cells(app, terminal) != first
            mark = wire.mark()
            graphics.redraw(app)
            await settled(pilot)
            terminal.feed(wire.since(mark))
            assert image_cells(app, terminal) == first


# ------------------------------------------------------------------ colour depth (tmux, xterm)

TMUX_ENV = {"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "TMUX": "/tmp/tmux-0/default,1,0"}


def tmux_facts(
    features: str = "256,bpaste,ccolour,clipboard,cstyle,extkeys,focus,mouse,RGB,title",
    env: dict[str, str] | None = None,
    passthrough: str = "off",
    termname: str = "xterm",
    termtype: str = "XTerm(379)",
    version: str = "3.3a",
) -> Facts:
    """tmux 3.3a in xterm, as measured here: TERM=tmux-256color, no COLORTERM, and tmux's
    answers given to ``query_tmux`` by a fake runner (what ``tmux display -p`` prints)."""

    def fake_tmux(args: list[str]) -> str:
        if args[0] == "display-message":
            return f"{version}\t{termname}\t{termtype}\t{features}"
        assert args[:2] == ["show-options", "-Apv"], args
        return passthrough

    info = detect.query_tmux(fake_tmux)
    hints = detect.EnvHints.from_environ(env or TMUX_ENV, ancestors=())
    probe = detect.ProbeResult(asked=True, xtversion=f"tmux {version}", da1=(1, 2), seconds=0.01)
    return Facts(hints, probe, tmux=info, winsize=(40, 120, 1200, 800))


def test_tmux_reporting_rgb_gets_24_bit_colour() -> None:
    facts = tmux_facts()
    assert facts.tmux is not None and facts.tmux.outer_rgb
    decision = decide(facts)
    assert decision.mode == "halfcell"
    assert decision.truecolor, decision
    assert decision.colors == "24-bit"
    assert "tmux reports RGB" in decision.colors_source
    assert not any(":RGB" in line for line in decision.advice)


def test_tmux_with_tc_only_counts_too() -> None:
    decision = decide(tmux_facts(features="256,Tc,title"))
    assert decision.truecolor and decision.colors == "24-bit"


def test_tmux_without_rgb_stays_256_and_says_how_to_get_more() -> None:
    decision = decide(tmux_facts(features="256,title"))
    assert not decision.truecolor
    assert decision.colors == "256" and "TERM=tmux-256color" in decision.colors_source
    assert any("terminal-features ',xterm:RGB'" in line for line in decision.advice)


def test_tmux_33_in_xterm_advises_tmux_34_for_sixel() -> None:
    decision = decide(tmux_facts())
    assert any("3.4" in line and "sixel" in line for line in decision.advice), decision.advice


def test_tmux_in_kitty_advises_passthrough() -> None:
    decision = decide(
        tmux_facts(termname="xterm-kitty", termtype="kitty(0.35.2)", features="256,RGB")
    )
    assert any("allow-passthrough on" in line for line in decision.advice)
    assert decision.colors == "24-bit"


def test_xterm_itself_gets_24_bit_colour_not_16() -> None:
    """xterm sets TERM=xterm and no COLORTERM: Rich would pick 16 colours; xterm 379 draws
    direct colour (measured under Xvfb)."""
    hints = detect.EnvHints.from_environ({"TERM": "xterm"}, ancestors=())
    probe = detect.ProbeResult(asked=True, xtversion="XTerm(379)", da1=(65, 1, 2), seconds=0.01)
    decision = decide(Facts(hints, probe, winsize=(40, 120, 1200, 800)))
    assert decision.truecolor and decision.colors == "24-bit"


def test_unknown_terminal_without_colorterm_is_told_about_colorterm() -> None:
    hints = detect.EnvHints.from_environ({"TERM": "xterm-256color"}, ancestors=())
    probe = detect.ProbeResult(asked=True, da1=(62, 22), seconds=0.01)
    decision = decide(Facts(hints, probe, winsize=(40, 120, 1200, 800)))
    assert not decision.truecolor and decision.colors == "256"
    assert any("COLORTERM=truecolor" in line for line in decision.advice)


def test_colorterm_already_set_needs_nothing() -> None:
    env = {**TMUX_ENV, "COLORTERM": "truecolor"}
    decision = decide(tmux_facts(features="256", env=env))
    assert decision.colors == "24-bit" and decision.colors_source == "COLORTERM=truecolor"
    assert not decision.truecolor  # Textual gets it from COLORTERM already
    assert not any("RGB" in line for line in decision.advice)


def test_an_explicit_textual_color_system_is_kept() -> None:
    env = {**TMUX_ENV, "TEXTUAL_COLOR_SYSTEM": "256"}
    decision = decide(tmux_facts(env=env))
    assert not decision.truecolor and decision.colors == "256"
    assert any("unset TEXTUAL_COLOR_SYSTEM" in line for line in decision.advice)


def test_doctor_states_the_depth_used() -> None:
    from dalletui.doctor import report

    rgb = report(decide(tmux_facts()), "0.12.0")
    assert "colours      24-bit colour (tmux reports RGB" in rgb
    assert "24-bit colours)" not in rgb  # the old mode text claimed it for every half-cell run
    plain = report(decide(tmux_facts(features="256")), "0.12.0")
    assert "colours      256 colours (TERM=tmux-256color and no COLORTERM)" in plain
    assert "For better images:" in plain and ":RGB'" in plain


def test_setup_in_tmux_with_rgb_sets_textual_to_truecolour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    import textual.constants

    for name in ("TEXTUAL_COLOR_SYSTEM", "COLORTERM"):
        monkeypatch.setenv(name, "placeholder")  # so monkeypatch restores the real value
        monkeypatch.delenv(name)
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "auto")
    decision = graphics.setup("auto", facts=tmux_facts())
    assert decision.mode == "halfcell"
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == "truecolor"
    assert textual.constants.COLOR_SYSTEM == "truecolor"


async def test_half_cell_preview_in_tmux_with_rgb_is_drawn_in_24_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes on the wire: 38;2 / 48;2 colours, never the 256-colour 38;5 / 48;5."""
    import textual.constants

    for name in ("TEXTUAL_COLOR_SYSTEM", "COLORTERM"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setenv("TERM", "tmux-256color")
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "auto")
    graphics.setup("auto", facts=tmux_facts())
    path = picture(tmp_path)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield graphics.preview(path, box=(20, 8))

    with capture_wire(monkeypatch) as wire:
        app = One()
        async with app.run_test(size=(40, 12)) as pilot:
            await settled(pilot)
            text = wire.text
    assert "▀" in text
    assert re.search(r"\x1b\[[0-9;]*[34]8;2;", text)
    assert not re.search(r"\x1b\[[0-9;]*[34]8;5;", text)


def test_pty_start_up_in_tmux_33_with_rgb_uses_truecolor(tmp_path: Path) -> None:
    """The launcher's whole path on a real pty, with a fake tmux 3.3a whose client has RGB."""
    from tests.graphics_harness.fake_terminal import BY_NAME
    from tests.graphics_harness.pty_run import run_child

    profile = BY_NAME["tmux-3.3"]
    run = run_child(profile, 0.0, tmp_path / "rgb")
    assert run.returncode == 0, run.output[-2000:]
    assert run.report["mode"] == "halfcell"
    assert run.report["color_system"] == "truecolor"
    without = dataclasses.replace(profile, tmux={**profile.tmux, "features": "256,title"})
    run = run_child(without, 0.0, tmp_path / "plain")
    assert run.returncode == 0, run.output[-2000:]
    assert run.report["color_system"] == "auto"  # Rich then picks 256 from TERM
