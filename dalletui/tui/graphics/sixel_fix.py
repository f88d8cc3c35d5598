"""Sixel encoding that is right in xterm and WezTerm, on textual-image 0.12 and 0.14.

textual-image 0.12.0 (the last release installable on Python 3.11) has two sixel bugs that
0.13+ fixed upstream; the small subclasses below correct them on 0.12 only:

1. Colours. 0.12 defines each colour register lazily, in the middle of the stream
   (``#3;2;100;0;0`` followed by pixels), relying on "a freshly defined register is the active
   one". xterm and WezTerm do not select a register by defining it, so every band after the first
   is drawn in whatever register was active before: wrong colours. We move every definition to
   the start of the image and leave only plain selections (``#3``) in the body, which is what
   0.13+ does by default (``SixelOptions(lazy_color_palette=False)``).
2. The stale row (lnqs/textual-image#146). After the image, 0.12 parks the cursor at
   ``visible_region.bottom``, one row *below* the image, so the rest of the last image line is
   written one row too low and a stale row is left under each image. 0.13+ uses ``bottom - 1``.

Remove both, and this module's 0.12 branch, once dalletui requires Python ≥ 3.12 (and so
textual-image ≥ 0.13 everywhere): then ``FixedSixelImage`` is textual-image's ``SixelImage``.
"""

from __future__ import annotations

import re
from typing import Any

from dalletui.tui.graphics import backend

_DEFINE = re.compile(r"#(\d+);([12]);(\d+);(\d+);(\d+)")
_RASTER = re.compile(r'(\x1bP[0-9;]*q(?:"[0-9;]*)?)')


def needs_fixes() -> bool:
    """True on textual-image 0.12 (lazy palette, #146); False on 0.13 and later."""
    return backend.version() < (0, 13)


def palette_up_front(sixel: str) -> str:
    """Move every colour definition to the start of the image; keep plain selections in the body.

    Works on any sixel string: a register defined more than once keeps each definition in
    stream order (the last one wins, as it would have for the pixels after it in a lazy stream
    whose registers are only ever defined once, which is what textual-image emits).
    """
    match = _RASTER.match(sixel)
    if not match:
        return sixel
    header = match.group(1)
    body = sixel[match.end() :]
    definitions: dict[str, str] = {}

    def select_only(found: re.Match[str]) -> str:
        definitions.setdefault(found.group(1), found.group(0))
        return f"#{found.group(1)}"

    body = _DEFINE.sub(select_only, body)
    return header + "".join(definitions.values()) + body


def encode(image: Any, colors: int = 256, background: Any = None) -> str:
    """A PIL image as a sixel string with its palette up front, on either textual-image."""
    codec = backend.load_codec()
    if needs_fixes():
        options = codec.SixelOptions(colors=colors)
        return palette_up_front(codec.image_to_sixels(image, options, background))
    options = codec.SixelOptions(colors=colors, lazy_color_palette=False)
    return codec.image_to_sixels(image, options, background)


def make_widget_class(widget_sixel: Any) -> type:
    """``FixedSixelImage``: textual-image's sixel widget with the 0.12 fixes applied.

    On 0.13+ this is textual-image's own class, unchanged.
    """
    base_image = widget_sixel.Image
    if not needs_fixes():
        return base_image

    from rich.control import Control
    from rich.segment import ControlType, Segment
    from rich.style import Style

    null_style = Style()

    class _FixedSixelImpl(  # type: ignore[name-defined,misc]
        widget_sixel._ImageSixelImpl, can_focus=False, inherit_css=False
    ):
        """0.12's sixel child widget with the palette up front and the #146 cursor fix."""

        def _image_to_sixels(self, image: Any, sixel_options: Any = None, background: Any = None):
            return palette_up_front(super()._image_to_sixels(image, sixel_options, background))

        def _get_sixel_segments(self, sixel_data: str):
            visible = self.screen.find_widget(self).visible_region
            # lnqs/textual-image#146: the last image row is bottom - 1, not bottom.
            return [
                Segment(Control.move_to(visible.x, visible.y).segment.text, style=null_style),
                Segment(sixel_data, style=null_style, control=((ControlType.CURSOR_FORWARD, 0),)),
                Segment(
                    Control.move_to(visible.right, visible.bottom - 1).segment.text,
                    style=null_style,
                ),
            ]

    class FixedSixelImage(base_image, Renderable=base_image._Renderable):  # type: ignore[misc,valid-type]
        """textual-image 0.12's sixel widget, with colours and the last row fixed."""

        def compose(self):  # type: ignore[no-untyped-def]
            yield _FixedSixelImpl(self.image, self._sixel_options)

    return FixedSixelImage
