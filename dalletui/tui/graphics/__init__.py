"""Terminal graphics: the only importer of ``textual_image``.

Screens ask for a preview widget for a file; they never pick a protocol themselves. ``configure``
must run before the app starts, because textual-image queries the terminal when imported.
"""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget
from textual.widgets import Static

MODES = ("auto", "kitty", "sixel", "halfcell", "unicode", "off")
_image_class: type[Widget] | None = None
_mode = "auto"


def configure(mode: str = "auto") -> str:
    """Pick the image widget class for ``mode``; returns the mode in effect."""
    global _image_class, _mode
    if mode not in MODES:
        mode = "auto"
    _mode = mode
    if mode == "off":
        _image_class = None
        return mode
    from textual_image import widget as ti  # queries the terminal once, before the app runs

    _image_class = {
        "auto": ti.Image,
        "kitty": ti.TGPImage,
        "sixel": ti.SixelImage,
        "halfcell": ti.HalfcellImage,
        "unicode": ti.UnicodeImage,
    }[mode]
    return mode


def current_mode() -> str:
    return _mode


def renderer_name() -> str:
    """A short name of the image renderer in use, for the status line and doctor."""
    return "off" if _image_class is None else _image_class.__name__


def preview(path: str | Path | None, *, id: str | None = None, classes: str = "") -> Widget:
    """A widget that shows the image at ``path`` (or says why it cannot)."""
    if _image_class is None and _mode != "off":
        configure(_mode)
    if path is None or not Path(path).is_file():
        return Static("no image", id=id, classes=f"preview-missing {classes}".strip())
    if _image_class is None:
        return Static(
            f"[image: {Path(path).name}]", id=id, classes=f"preview-off {classes}".strip()
        )
    return _image_class(str(path), id=id, classes=f"preview {classes}".strip())
