"""``MaskPicker``: choose the part of an image an edit may change, with the keyboard.

A modal over the image's preview with the rectangle outlined in the picture itself (so it
shows the same in sixel, kitty, half-cell and unicode): arrows move it, shift+arrows size it
(shift+right/down grow, shift+left/up shrink), ``+``/``-`` make the step coarser or finer,
enter dismisses with the ``MaskRect`` (in image pixels), escape with ``None``.

Each change is drawn by a thread worker (``outline_preview`` on a copy already scaled to the
picture's cells, written as a PNG to a folder of the picker's own, removed when it closes); the
UI thread only moves numbers, so keys repeat at once, and only the newest picture is shown.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from dalletui.generation.masks import (
    DEFAULT_DIVISOR,
    STEP_DIVISORS,
    MaskRect,
    default_rect,
    move,
    outline_preview,
    resize,
    scaled_copy,
    step_for,
)
from dalletui.textsafe import printable
from dalletui.tui import graphics
from dalletui.tui.latest import Latest

if TYPE_CHECKING:
    from PIL import Image

_GROUP = "mask-preview"
#: Half-cell draws two picture pixels a cell (one above the other), unicode one.
_PIXELS_PER_CELL = {"halfcell": (1, 2), "unicode": (1, 1)}


def _move(name: str, key: str, dx: int, dy: int, description: str) -> Binding:
    return Binding(
        key,
        f"move({dx}, {dy})",
        description,
        show=False,
        id=f"mask.{name}",
        tooltip=f"Move the edit area {name.removeprefix('move_')} by one step",
    )


def _size(name: str, key: str, dw: int, dh: int, description: str, tooltip: str) -> Binding:
    return Binding(
        key, f"resize({dw}, {dh})", description, show=False, id=f"mask.{name}", tooltip=tooltip
    )


class MaskPicker(ModalScreen[MaskRect | None]):
    """The image with a rectangle to edit; dismisses with that ``MaskRect``, or None.

    ``image_path`` may be a smaller copy of the image (its thumbnail): the rectangle is in
    pixels of ``image_size``, the image the mask is for, and the preview is scaled to match.
    """

    DEFAULT_CSS = """
    MaskPicker {
        align: center middle;
    }
    MaskPicker > #mask-dialog {
        width: 90%;
        height: 90%;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        background: $surface;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
    }
    MaskPicker #mask-frame {
        width: 100%;
        height: 1fr;
        align: center middle;
    }
    MaskPicker #mask-frame > * {
        width: auto;
        height: auto;
    }
    MaskPicker #mask-hint {
        width: 100%;
        height: auto;
        color: $foreground-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        _move("move_left", "left", -1, 0, "Left"),
        _move("move_right", "right", 1, 0, "Right"),
        _move("move_up", "up", 0, -1, "Up"),
        _move("move_down", "down", 0, 1, "Down"),
        _size("wider", "shift+right", 1, 0, "Wider", "Make the edit area one step wider"),
        _size("narrower", "shift+left", -1, 0, "Narrower", "Make the edit area one step narrower"),
        _size("taller", "shift+down", 0, 1, "Taller", "Make the edit area one step taller"),
        _size("shorter", "shift+up", 0, -1, "Shorter", "Make the edit area one step shorter"),
        Binding(
            "plus,equals_sign",
            "step(1)",
            "Coarser",
            key_display="+",
            id="mask.coarser",
            tooltip="Move and size in bigger steps",
        ),
        Binding(
            "minus",
            "step(-1)",
            "Finer",
            key_display="-",
            id="mask.finer",
            tooltip="Move and size in smaller steps",
        ),
        Binding("enter", "accept", "Use", id="mask.accept", tooltip="Edit inside this area"),
        Binding("escape", "cancel", "Cancel", id="mask.cancel", tooltip="Close without a mask"),
    ]

    def __init__(
        self,
        image_path: Path,
        image_size: tuple[int, int],
        rect: MaskRect | None = None,
    ) -> None:
        """``image_size`` is the full image's in pixels; ``rect`` the area to start from."""
        super().__init__()
        self.image_path = Path(image_path)
        self.image_size = (max(1, image_size[0]), max(1, image_size[1]))
        self.rect = (rect or default_rect(self.image_size)).clamped(self.image_size)
        self.divisor = DEFAULT_DIVISOR
        #: The folder of this picker's preview files (made on mount, removed on unmount).
        self.folder: Path | None = None
        #: The preview file shown now, and how many pictures were shown (tests).
        self.preview_path: Path | None = None
        self.previews_shown = 0
        self._tickets = Latest()
        self._max_side = 0
        self._line: int | None = None
        self._small: tuple[int, Image.Image] | None = None  # the picture scaled for _max_side
        self._failed = False

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="mask-dialog") as dialog:
            name = printable(self.image_path.name, single_line=True)
            dialog.border_title = Content(f"Edit area of {name}")
            yield Container(id="mask-frame")
            yield Static(self._hint(), id="mask-hint")

    def on_mount(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dalletui-mask-"))
        self._show_step()

    def on_unmount(self) -> None:
        self._tickets.take()  # whatever a worker still draws is not shown
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def on_resize(self, event: events.Resize) -> None:
        # The frame is laid out after the screen's resize: measure it then.
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        frame = self.query_one("#mask-frame", Container)
        self._fit_to(frame.content_size.width, frame.content_size.height)

    def _fit_to(self, columns: int, rows: int) -> None:
        """Draw the preview as large as ``columns`` × ``rows`` cells show it, pixel for pixel."""
        if columns <= 0 or rows <= 0:
            return
        from dalletui.tui.graphics import cache

        layer = graphics.of(self)
        cell = layer.decision.cell_size
        placed = cache.fit(self.image_size, (columns, rows), cell)
        per_cell = _PIXELS_PER_CELL.get(layer.mode)
        if per_cell is None:  # sixel, kitty: the cells' own pixels
            width, height = placed.pixel_width, placed.pixel_height
        else:
            width, height = placed.cols * per_cell[0], placed.rows * per_cell[1]
        max_side = max(width, height, 1)
        if max_side != self._max_side:
            self._max_side = max_side
            # Sixel and kitty show the cells' pixels: three rings (a third of a cell). In
            # half-cell and unicode a picture pixel is half or all of a cell: two rings do.
            self._line = 2 if per_cell is not None else None
            self._redraw()

    # -- the rectangle --------------------------------------------------------------------------

    @property
    def step(self) -> tuple[int, int]:
        """One step across and down, in image pixels."""
        return step_for(self.image_size, self.divisor)

    def _hint(self) -> Content:
        return Content.assemble(
            ("Edit area: ", "bold"),
            self.rect.describe(self.image_size),
            " · arrows move · shift+arrows size · enter use · esc cancel",
        )

    def _show_step(self) -> None:
        step_x, step_y = self.step
        step = f"{step_x} px" if step_x == step_y else f"{step_x}×{step_y} px"
        dialog = self.query_one("#mask-dialog", Vertical)
        dialog.border_subtitle = f"step {step} · + coarser · - finer"

    def _changed(self, rect: MaskRect) -> None:
        if rect == self.rect:
            return
        self.rect = rect
        self.query_one("#mask-hint", Static).update(self._hint())
        self._redraw()

    def action_move(self, dx: int, dy: int) -> None:
        self._changed(move(self.rect, dx, dy, self.image_size, self.step))

    def action_resize(self, dw: int, dh: int) -> None:
        self._changed(resize(self.rect, dw, dh, self.image_size, self.step))

    def action_step(self, direction: int) -> None:
        """Coarser (1) or finer (-1): the next step of ``STEP_DIVISORS``."""
        index = STEP_DIVISORS.index(self.divisor) + direction
        if not 0 <= index < len(STEP_DIVISORS):
            self.app.bell()
            return
        self.divisor = STEP_DIVISORS[index]
        self._show_step()

    def action_accept(self) -> None:
        self.dismiss(self.rect)

    def action_cancel(self) -> None:
        self.dismiss(None)

    # -- the picture ----------------------------------------------------------------------------

    def _redraw(self) -> None:
        if not self._max_side or self.folder is None or self._failed:
            return
        self._draw(self._tickets.take(), self.rect, self._max_side, self._line, self.folder)

    @work(thread=True, exclusive=True, group=_GROUP, exit_on_error=False)
    def _draw(
        self, ticket: int, rect: MaskRect, max_side: int, line: int | None, folder: Path
    ) -> None:
        """Outline ``rect`` on the picture scaled to ``max_side`` and write it into ``folder``."""
        try:
            small = self._small
            if small is None or small[0] != max_side:
                # Decoded and scaled once per size: later keys only draw on this copy.
                small = self._small = (max_side, scaled_copy(self.image_path, max_side))
            picture = outline_preview(
                small[1], rect, max_side, image_size=self.image_size, line=line
            )
        except Exception as error:  # noqa: BLE001 (PIL raises many kinds for a bad file)
            self.app.call_from_thread(self._cannot_show, error)
            return
        if get_current_worker().is_cancelled:
            return
        path = folder / f"preview-{ticket}.png"
        try:
            picture.save(path, format="PNG", compress_level=1)
        except OSError:
            return  # the picker closed and its folder is gone
        self.app.call_from_thread(self._drawn, ticket, path)

    def _drawn(self, ticket: int, path: Path) -> None:
        if not self._tickets.is_newest(ticket) or not self.is_attached:
            path.unlink(missing_ok=True)
            return
        frame = self.query_one("#mask-frame", Container)
        old = self.preview_path
        self.preview_path = path
        self.previews_shown += 1
        from dalletui.tui.graphics.widgets import ImageView

        shown = frame.children[0] if frame.children else None
        if isinstance(shown, ImageView):
            shown.path = path
            shown.reload()
        else:
            frame.remove_children()
            frame.mount(graphics.of(self).preview(path, id="mask-preview"))
        if old is not None and old != path:
            old.unlink(missing_ok=True)

    def _cannot_show(self, error: BaseException) -> None:
        """The picture cannot be drawn: say why where it would be (keys still work)."""
        if self._failed or not self.is_attached:
            return
        self._failed = True
        frame = self.query_one("#mask-frame", Container)
        frame.remove_children()
        name = printable(self.image_path.name, single_line=True)
        detail = printable(str(error) or type(error).__name__, single_line=True)
        frame.mount(Static(f"cannot show {name}: {detail}", id="mask-error", markup=False))
