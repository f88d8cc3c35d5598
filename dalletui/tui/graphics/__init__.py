"""Terminal graphics: the only importer of ``textual_image``.

Screens ask their app's ``Graphics`` (``graphics.of(self).preview(path, box=...)``) for a preview
widget; they never pick a protocol themselves. The launcher builds that layer with ``setup``
before the app starts and gives it to the app:

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
    "Graphics",
    "configure",
    "current",
    "current_mode",
    "of",
    "preview",
    "redraw",
    "renderer_name",
    "setup",
    "shutdown_sequence",
]


class Graphics:
    """The image layer one app draws with: the decision, its mode and its preview widgets.

    The launcher builds it (``setup``) before Textual starts and hands it to the app
    (``make_app(services, graphics=...)``); widgets reach it through their app (``of``), so two
    apps in one process (tests, a demo) can draw in different modes. ``configure`` and
    ``setup`` also keep the last one built as the process default, for code that has no app
    (``dalletui doctor``) and for apps that were not given one.
    """

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.mode = decision.mode
        #: textual-image's own widget class for ``preview(cache=False)``; None when off.
        self.preview_class: Any = None
        if self.mode == "off":
            return
        from dalletui.tui.graphics import backend, kitty, sixel_fix

        modules = backend.load(
            decision.cell_size,
            sixel=self.mode == "sixel",
            kitty=self.mode == "kitty",
            tmux=decision.tmux_wrap,
        )
        kitty.registry.wrap = decision.tmux_wrap
        if self.mode == "kitty":
            from dalletui.tui.graphics.widgets import ImageView

            self.preview_class = ImageView
        elif self.mode == "sixel":
            self.preview_class = sixel_fix.make_widget_class(modules["widget_sixel"])
        elif self.mode == "halfcell":
            self.preview_class = modules["widget"].HalfcellImage
        else:
            self.preview_class = modules["widget"].UnicodeImage

    @classmethod
    def forced(cls, mode: str, cell_size: tuple[int, int] | None = None) -> Graphics:
        """``mode`` without asking the terminal (tests, ``--graphics MODE``)."""
        if cell_size is None:
            cell_size = parse_cell_size(os.environ.get("DALLETUI_CELL_SIZE", ""))
        return cls(Decision.forced(mode if mode in MODES else "halfcell", cell_size))

    def __repr__(self) -> str:
        return f"Graphics({self.mode!r}, cell={self.decision.cell_size})"

    def renderer_name(self) -> str:
        """A short name of the image renderer in use, for the status line and doctor."""
        if self.preview_class is None:
            return "off"
        from dalletui.tui.graphics import backend

        return f"ImageView ({self.mode}, textual-image {backend.version_text()})"

    def preview(
        self,
        path: str | Path | None,
        *,
        id: str | None = None,
        classes: str = "",
        box: tuple[int, int] | None = None,
        thumbnail: bool = False,
        cache: bool = True,
    ) -> Widget:
        """A widget that shows the image at ``path`` (or says why it cannot).

        The image is scaled once to its box, encoded once, and drawn once where it stands:
        later repaints around it (a highlight moving, a status line changing) send no image
        data, and it is drawn again only when it moves, is uncovered, or its screen comes back.
        Without ``box`` it fills the space the layout gives it (style it with CSS).

        - ``box=(columns, rows)`` fixes the widget's size in cells;
        - ``thumbnail=True`` (implied by a ``box`` or a ``thumb``/``thumbnail`` CSS class) uses
          a smaller sixel palette over SSH; a full preview always keeps 256 colours;
        - ``cache=False`` uses textual-image's own widget instead, which re-encodes and re-sends
          the image on every repaint (kitty always uses ours: textual-image's cannot pass tmux
          on 0.12 and writes outside Textual's output thread).
        """
        from textual.widgets import Static

        if path is None or not Path(path).is_file():
            return Static("no image", id=id, classes=f"preview-missing {classes}".strip())
        if self.preview_class is None:
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
        small = thumbnail or box is not None or bool({"thumb", "thumbnail"} & set(classes.split()))
        if not cache and self.mode != "kitty":
            return self.preview_class(str(path), id=id, classes=f"preview {classes}".strip())
        from dalletui.tui.graphics.widgets import ImageView

        return ImageView(
            path,
            mode=self.mode,
            cell_size=self.decision.cell_size,
            box=box,
            colors=self.decision.thumbnail_colors if small else 256,
            id=id,
            classes=f"preview {'thumbnail ' if small else ''}{classes}".strip(),
        )

    def redraw(self, app: Any) -> None:
        """Repaint the whole screen and every image in it (bind it to ctrl+l)."""
        from dalletui.tui.graphics.widgets import redraw as redraw_images

        redraw_images(app)

    def shutdown_sequence(self) -> str:
        """Escape sequences that free every kitty image we sent (write after the app exits)."""
        if self.mode != "kitty":
            return ""
        from dalletui.tui.graphics import kitty

        return kitty.registry.free_all()


#: The last layer ``configure``/``setup`` built: for code without an app, and apps not given one.
_default: Graphics | None = None


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
    ``current()`` is then the layer to give the app.
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
    """Build the layer for ``mode`` and make it the default; returns the mode in effect.

    ``auto`` without a ``decision`` runs the detection (it queries the tty when there is one,
    so call it before the app starts). A forced mode queries nothing.
    """
    global _default
    if mode not in MODES:
        mode = "auto"
    if decision is None:
        if mode == "auto":
            return setup("auto", request_source="configure()", apply_env=False).mode
        override = parse_cell_size(os.environ.get("DALLETUI_CELL_SIZE", ""))
        decision = Decision.forced(mode, override)
    _default = Graphics(decision)
    return _default.mode


def current() -> Graphics:
    """The default layer (built by ``configure``/``setup``; detected now if neither ran)."""
    if _default is None:
        configure("auto")
    assert _default is not None
    return _default


def of(node: Any) -> Graphics:
    """The layer of the app ``node`` (a widget, a screen, the app) runs in."""
    app = getattr(node, "app", node)
    layer = getattr(app, "graphics", None)
    return layer if isinstance(layer, Graphics) else current()


def current_mode() -> str:
    return _default.mode if _default is not None else "auto"


def renderer_name() -> str:
    return current().renderer_name()


def preview(path: str | Path | None, **options: Any) -> Widget:
    """``current().preview(path, ...)``, for code without an app (demos); widgets in an app
    use ``of(self).preview``."""
    return current().preview(path, **options)


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
    of(app).redraw(app)


def shutdown_sequence() -> str:
    """The default layer's ``shutdown_sequence`` (kitty images to free after the app exits)."""
    return _default.shutdown_sequence() if _default is not None else ""
