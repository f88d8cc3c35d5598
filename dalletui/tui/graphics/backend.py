"""Import textual-image without letting it talk to the terminal.

textual-image probes the terminal when imported: 0.12 sends DA1 and the kitty query one after the
other with a 0.1 s timeout each and no sentinel (late replies then reach the app as keypresses);
0.14 sends one batch with a 2 s cap and caches it in ``probe_terminal._result``. Both read the
cell size once and cache it (0.12 in ``get_cell_size._result``, 0.14 inside the probe result).

We have already asked the terminal (``detect.py``), so before the import we preset those caches
with our answer and hide ``sys.__stdin__``: every query path checks it first and gives up before
writing a byte. Both versions are installed by pyproject's environment markers (0.12.0 on
Python 3.11, 0.14.x on 3.12+); the code below reads the installed version, not the Python one.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from importlib import metadata
from types import ModuleType
from typing import Any


@cache
def version() -> tuple[int, ...]:
    """The installed textual-image version, e.g. ``(0, 12, 0)``."""
    try:
        text = metadata.version("textual-image")
    except metadata.PackageNotFoundError:
        return (0,)
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def version_text() -> str:
    return ".".join(str(p) for p in version())


def _terminal_module() -> ModuleType:
    # textual_image/__init__.py and _terminal.py probe nothing at import time.
    return importlib.import_module("textual_image._terminal")


def preset_cell_size(cell_size: tuple[int, int], *, sixel: bool, kitty: bool) -> None:
    """Fill textual-image's caches so it never measures or probes the terminal itself."""
    terminal = _terminal_module()
    cell = terminal.CellSize(*cell_size)
    terminal.get_cell_size._result = cell
    probe = getattr(terminal, "probe_terminal", None)  # 0.13+
    capabilities = getattr(terminal, "TerminalCapabilities", None)
    if probe is not None and capabilities is not None:
        probe._result = capabilities(cell, sixel=sixel, tgp=kitty)


_loaded: dict[str, Any] = {}


def load(
    cell_size: tuple[int, int], *, sixel: bool = False, kitty: bool = False, tmux: bool = False
) -> dict[str, Any]:
    """Import textual-image's widgets and renderables with its probing neutralised.

    The first call imports; later calls only update the preset cell size.
    """
    preset_cell_size(cell_size, sixel=sixel, kitty=kitty)
    if _loaded:
        return _loaded
    tmux_module = sys.modules.get("textual_image._tmux")
    if tmux_module is None:
        try:
            tmux_module = importlib.import_module("textual_image._tmux")  # 0.13+
        except ImportError:
            tmux_module = None
    if tmux_module is not None:
        # 0.13+ wraps TGP for tmux when $TMUX is set, whatever our decision; make it ours.
        tmux_module.IS_TMUX = tmux
    saved_stdin = sys.__stdin__
    try:
        sys.__stdin__ = None  # type: ignore[misc]  # every query path gives up on this
        widget = importlib.import_module("textual_image.widget")
        renderable = importlib.import_module("textual_image.renderable")
        halfcell = importlib.import_module("textual_image.renderable.halfcell")
        unicode = importlib.import_module("textual_image.renderable.unicode")
        tgp = importlib.import_module("textual_image.renderable.tgp")
        sixel_codec = importlib.import_module("textual_image._sixel")
        widget_sixel = importlib.import_module("textual_image.widget.sixel")
    finally:
        sys.__stdin__ = saved_stdin  # type: ignore[misc]
    # The import may have cached a cell size of its own if our preset came too late.
    preset_cell_size(cell_size, sixel=sixel, kitty=kitty)
    _loaded.update(
        {
            "widget": widget,
            "renderable": renderable,
            "halfcell": halfcell,
            "unicode": unicode,
            "tgp": tgp,
            "sixel_codec": sixel_codec,
            "widget_sixel": widget_sixel,
        }
    )
    return _loaded


def load_codec() -> ModuleType:
    """textual-image's sixel encoder (importing it probes nothing)."""
    return importlib.import_module("textual_image._sixel")


def modules(cell_size: tuple[int, int]) -> dict[str, Any]:
    """The loaded modules (loading them with ``cell_size`` the first time)."""
    return _loaded if _loaded else load(cell_size)
