"""Terminal graphics: the only importer of ``textual_image``.

Screens ask for a preview widget for a file (and, for thumbnails, a box size); they never pick a
protocol themselves. ``setup`` (the launcher) or ``configure`` must run before the app starts:

- ``detect`` reads environment hints, sends one batched query to the tty ending in DA1 as a
  sentinel (capped at about a second), flushes the input, and asks tmux when inside it;
- ``policy`` turns that evidence into a mode (kitty, sixel, halfcell, unicode or off), with the
  reasons and advice that ``dalletui doctor graphics`` prints;
- ``backend`` imports textual-image with its own probing neutralised;
- ``sixel_fix`` corrects textual-image 0.12's sixel colours and stale row;
- ``widgets.ImageView`` draws thumbnails (every mode) and kitty previews, once per place.

Nothing in this module imports Textual at import time, so the launcher can set Textual's colour
system and animation level (environment variables read when Textual is imported) first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalletui.tui.graphics.policy import MODES, Decision, decide, parse_cell_size

if TYPE_CHECKING:
    from textual.widget import Widget

    from dalletui.tui.graphics.detect import Facts

__all__ = [
    "MODES",
    "Decision",
    "configure",
    "current_decision",
    "current_mode",
    "preview",
    "redraw",
    "renderer_name",
    "setup",
    "shutdown_sequence",
]

_decision: Decision | None = None
_mode = "auto"
_preview_class: Any = None


def setup(
    requested: str = "auto",
    *,
    request_source: str = "default",
    cell_size: str | None = None,
    facts: Facts | None = None,
    apply_env: bool = True,
) -> Decision:
    """Detect, decide and configure, before Textual is imported (the launcher calls this).

    With ``apply_env``, Textual is forced to truecolour for kitty graphics (the placeholders
    carry each image's id in their 24-bit colour) and animations are switched off over SSH.
    """
    from dalletui.tui.graphics import detect

    if cell_size is None:
        cell_size = os.environ.get("DALLETUI_CELL_SIZE") or None
    if facts is None:
        # A forced mode needs no query (the window size and tmux facts are still read).
        facts = detect.gather(query=requested not in MODES or requested == "auto")
    decision = decide(facts, requested, request_source=request_source, cell_override=cell_size)
    if apply_env:
        _apply_environment(decision)
    configure(decision.mode, decision=decision)
    return decision


def _apply_environment(decision: Decision) -> None:
    import sys

    if decision.truecolor:
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor"
        os.environ.setdefault("COLORTERM", "truecolor")
        constants = sys.modules.get("textual.constants")
        if constants is not None:  # Textual already imported: App reads this at __init__
            constants.COLOR_SYSTEM = "truecolor"  # type: ignore[misc]
    if decision.animations_off and "TEXTUAL_ANIMATIONS" not in os.environ:
        os.environ["TEXTUAL_ANIMATIONS"] = "none"
        constants = sys.modules.get("textual.constants")
        if constants is not None:
            constants.TEXTUAL_ANIMATIONS = "none"  # type: ignore[misc]


def configure(mode: str = "auto", *, decision: Decision | None = None) -> str:
    """Pick the image widgets for ``mode``; returns the mode in effect.

    ``auto`` without a ``decision`` runs the detection (it queries the tty when there is one,
    so call it before the app starts). A forced mode queries nothing.
    """
    global _decision, _mode, _preview_class
    if mode not in MODES:
        mode = "auto"
    if decision is None:
        if mode == "auto":
            return setup("auto", request_source="configure()", apply_env=False).mode
        override = parse_cell_size(os.environ.get("DALLETUI_CELL_SIZE", ""))
        decision = Decision.forced(mode, override)
    _decision = decision
    _mode = decision.mode
    if _mode == "off":
        _preview_class = None
        return _mode
    from dalletui.tui.graphics import backend, kitty, sixel_fix

    modules = backend.load(
        decision.cell_size,
        sixel=_mode == "sixel",
        kitty=_mode == "kitty",
        tmux=decision.tmux_wrap,
    )
    kitty.registry.wrap = decision.tmux_wrap
    # textual-image's own widgets, for preview(cache=False); ImageView is used otherwise.
    if _mode == "kitty":
        from dalletui.tui.graphics.widgets import ImageView

        _preview_class = ImageView
    elif _mode == "sixel":
        _preview_class = sixel_fix.make_widget_class(modules["widget_sixel"])
    elif _mode == "halfcell":
        _preview_class = modules["widget"].HalfcellImage
    else:
        _preview_class = modules["widget"].UnicodeImage
    return _mode


def current_mode() -> str:
    return _mode


def current_decision() -> Decision | None:
    """The decision in effect (None before ``configure``)."""
    return _decision


def renderer_name() -> str:
    """A short name of the image renderer in use, for the status line and doctor."""
    if _preview_class is None:
        return "off"
    from dalletui.tui.graphics import backend

    return f"ImageView ({_mode}, textual-image {backend.version_text()})"


def thumbnail_colors() -> int:
    """Sixel colours for thumbnails: fewer over SSH; the full preview always gets 256."""
    return _decision.thumbnail_colors if _decision else 256


def is_remote() -> bool:
    """True over SSH/mosh: screens should page rather than smooth-scroll image lists."""
    return bool(_decision and _decision.remote)


def preview(
    path: str | Path | None,
    *,
    id: str | None = None,
    classes: str = "",
    box: tuple[int, int] | None = None,
    thumbnail: bool = False,
    cache: bool = True,
) -> Widget:
    """A widget that shows the image at ``path`` (or says why it cannot).

    The image is scaled once to its box, encoded once, and drawn once where it stands: later
    repaints around it (a highlight moving, a status line changing) send no image data, and it
    is drawn again only when it moves, is uncovered, or its screen comes back. Without ``box``
    it fills the space the layout gives it (style it with CSS).

    - ``box=(columns, rows)`` fixes the widget's size in cells;
    - ``thumbnail=True`` (implied by a ``box`` or a ``thumb``/``thumbnail`` CSS class) uses a
      smaller sixel palette over SSH; a full preview always keeps 256 colours;
    - ``cache=False`` uses textual-image's own widget instead, which re-encodes and re-sends
      the image on every repaint (kitty always uses ours: textual-image's cannot pass tmux on
      0.12 and writes outside Textual's output thread).
    """
    from textual.widgets import Static

    if _decision is None:
        configure(_mode)
    if path is None or not Path(path).is_file():
        return Static("no image", id=id, classes=f"preview-missing {classes}".strip())
    if _preview_class is None:
        return Static(
            f"[image: {Path(path).name}]",
            id=id,
            classes=f"preview-off {classes}".strip(),
            markup=False,
        )
    problem = _unreadable(path)
    if problem:
        return Static(
            f"cannot show {Path(path).name}: {problem}",
            id=id,
            classes=f"preview-error {classes}".strip(),
            markup=False,
        )
    assert _decision is not None
    small = thumbnail or box is not None or bool({"thumb", "thumbnail"} & set(classes.split()))
    if not cache and _mode != "kitty":
        return _preview_class(str(path), id=id, classes=f"preview {classes}".strip())
    from dalletui.tui.graphics.widgets import ImageView

    return ImageView(
        path,
        mode=_mode,
        cell_size=_decision.cell_size,
        box=box,
        colors=_decision.thumbnail_colors if small else 256,
        id=id,
        classes=f"preview {'thumbnail ' if small else ''}{classes}".strip(),
    )


def _unreadable(path: str | Path) -> str:
    from dalletui.tui.graphics import cache

    key = cache.SourceKey.of(path)
    if key is None:
        return "missing"
    try:
        cache.image_size(key)
    except Exception as exc:  # noqa: BLE001 (PIL raises many kinds for a bad file)
        return exc.__class__.__name__
    return ""


def redraw(app: Any) -> None:
    """Repaint the whole screen and every image in it (bind it to ctrl+l)."""
    from dalletui.tui.graphics.widgets import redraw as redraw_images

    redraw_images(app)


def shutdown_sequence() -> str:
    """Escape sequences that free every kitty image we sent (write after the app exits)."""
    if _mode != "kitty":
        return ""
    from dalletui.tui.graphics import kitty

    return kitty.registry.free_all()
