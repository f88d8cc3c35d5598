"""``dalletui doctor graphics``, ``--graphics``, ``DALLETUI_GRAPHICS`` / ``DALLETUI_CELL_SIZE``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from dalletui.cli import main
from dalletui.config import Settings, load_settings
from dalletui.errors import ConfigError
from dalletui.tui import graphics
from dalletui.tui.graphics.detect import EnvHints, Facts, ProbeResult
from dalletui.tui.launch import request_source
from tests.graphics_harness.fake_terminal import BY_NAME
from tests.graphics_harness.pty_run import run_child

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


@pytest.fixture(autouse=True)
def _restore_graphics():
    yield
    graphics.configure("halfcell")


def test_doctor_in_a_kitty_terminal(tmp_path: Path) -> None:
    run = run_child(
        BY_NAME["kitty"],
        0.02,
        tmp_path,
        argv=[sys.executable, "-m", "dalletui", "doctor", "graphics"],
    )
    text = run.output.decode("utf-8", "replace")
    assert run.returncode == 0, text
    assert "mode         kitty" in text
    assert "XTVERSION kitty(0.35.2)" in text
    assert "Why:" in text and "Unicode placeholders" in text
    assert "DALLETUI_GRAPHICS=" in text


def test_doctor_in_tmux_says_how_to_get_better_images(tmp_path: Path) -> None:
    run = run_child(
        BY_NAME["tmux-3.3"],
        0.0,
        tmp_path,
        argv=[sys.executable, "-m", "dalletui", "doctor", "graphics"],
    )
    text = run.output.decode("utf-8", "replace")
    assert "mode         halfcell" in text, text
    assert "tmux 3.3a" in text and "For better images:" in text and "3.4" in text


def test_doctor_json(tmp_path: Path) -> None:
    run = run_child(
        BY_NAME["xterm-vt340"],
        0.0,
        tmp_path,
        argv=[sys.executable, "-m", "dalletui", "doctor", "graphics", "--json"],
    )
    text = run.output.decode("utf-8", "replace")
    data = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert data["mode"] == "sixel" and data["cell_size"] == [10, 20]
    assert data["textual_image"]


def test_graphics_flag_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--graphics", "bogus", "history"])
    assert exit_info.value.code == 2
    assert "--graphics" in capsys.readouterr().err


def test_env_and_config_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DALLETUI_GRAPHICS", "sixel")
    monkeypatch.setenv("DALLETUI_CELL_SIZE", "9x18")
    settings = load_settings(home=tmp_path)
    assert (settings.graphics, settings.cell_size) == ("sixel", "9x18")
    assert request_source(settings, argv=[]) == "DALLETUI_GRAPHICS"
    assert request_source(settings, argv=["--graphics", "sixel"]) == "--graphics"
    monkeypatch.setenv("DALLETUI_GRAPHICS", "pixels")
    with pytest.raises(ConfigError, match="Graphics mode 'pixels'"):
        load_settings(home=tmp_path)
    monkeypatch.setenv("DALLETUI_GRAPHICS", "auto")
    monkeypatch.setenv("DALLETUI_CELL_SIZE", "big")
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        load_settings(home=tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('graphics = "off"\ncell_size = "8x16"\n', encoding="utf-8")
    monkeypatch.delenv("DALLETUI_GRAPHICS")
    monkeypatch.delenv("DALLETUI_CELL_SIZE")
    settings = load_settings(home=tmp_path, config_path=config)
    assert (settings.graphics, settings.cell_size) == ("off", "8x16")
    assert "config" in request_source(settings, argv=[]) or str(config) in request_source(
        settings, argv=[]
    )


def test_setup_forces_truecolour_for_kitty_and_calms_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    import textual.constants

    for name in ("TEXTUAL_COLOR_SYSTEM", "TEXTUAL_ANIMATIONS", "COLORTERM"):
        monkeypatch.setenv(name, "placeholder")  # so monkeypatch restores the real value
        monkeypatch.delenv(name)
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "auto")
    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "full")
    env = EnvHints.from_environ({"TERM": "xterm-kitty", "SSH_TTY": "/dev/pts/3"}, ancestors=())
    probe = ProbeResult(
        asked=True, asked_kitty=True, xtversion="kitty(0.35.2)", da1=(62,), kitty_ok=True
    )
    decision = graphics.setup("auto", facts=Facts(env, probe, winsize=(24, 80, 800, 480)))
    assert decision.mode == "kitty" and graphics.current_mode() == "kitty"
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == "truecolor"
    assert textual.constants.COLOR_SYSTEM == "truecolor"
    assert os.environ["TEXTUAL_ANIMATIONS"] == "none"
    assert "ImageView" in graphics.renderer_name()


def test_off_and_missing_files(tmp_path: Path) -> None:
    from textual.widgets import Static

    graphics.configure("off")
    assert graphics.renderer_name() == "off"
    widget = graphics.preview(tmp_path / "none.png")
    assert isinstance(widget, Static)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    graphics.configure("halfcell")
    assert "preview-error" in graphics.preview(bad).classes


def test_settings_default_has_no_cell_size() -> None:
    assert Settings(home=Path("/tmp")).cell_size is None
