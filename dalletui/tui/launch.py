"""Start the TUI: decide graphics before Textual starts, open services, run, close.

Order matters. The terminal is queried (and its input flushed) before Textual reads the
keyboard, and Textual's colour system and animation level are environment variables read when
Textual is first imported, so graphics are decided before anything imports Textual.
"""

from __future__ import annotations

import logging
import os
import sys

from dalletui.config import Settings

log = logging.getLogger(__name__)


def request_source(settings: Settings, argv: list[str] | None = None) -> str:
    """Where the requested graphics mode came from, in the words a user would search for."""
    argv = sys.argv[1:] if argv is None else argv
    if any(arg == "--graphics" or arg.startswith("--graphics=") for arg in argv):
        return "--graphics"
    if settings.graphics == "auto":
        return "default"
    if os.environ.get("DALLETUI_GRAPHICS") == settings.graphics:
        return "DALLETUI_GRAPHICS"
    return f"'graphics' in {settings.config_path or 'the config file'}"


def decide_graphics(settings: Settings):  # noqa: ANN201
    """Detect the terminal, choose a mode and configure the graphics module."""
    from dalletui.tui import graphics

    decision = graphics.setup(
        settings.graphics,
        request_source=request_source(settings),
        cell_size=settings.cell_size,
    )
    log.info(
        "graphics: %s (%s) for %s; %s",
        decision.mode,
        graphics.renderer_name(),
        decision.terminal,
        "; ".join(decision.reasons),
    )
    return decision


def launch(settings: Settings) -> int:
    from dalletui.tui import graphics

    decide_graphics(settings)
    layer = graphics.current()
    from dalletui.cli import say_on_terminal
    from dalletui.services.context import open_services
    from dalletui.tui.app import make_app

    services = open_services(settings, notice=say_on_terminal)
    try:
        make_app(services, graphics=layer).run()
    finally:
        services.close()
        _free_terminal_images(layer.shutdown_sequence())
    return 0


def _free_terminal_images(sequence: str) -> None:
    """Ask kitty to free the images we sent (after Textual has given the terminal back)."""
    if not sequence:
        return
    stream = sys.__stderr__ or sys.__stdout__
    try:
        if stream is not None and stream.isatty():
            stream.write(sequence)
            stream.flush()
    except (OSError, ValueError):
        pass
