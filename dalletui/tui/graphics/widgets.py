"""``ImageView``: an image fitted once to its cell box, drawn once, kept on screen.

Used for thumbnails in every mode and for the full preview in kitty mode. These rules keep the
bytes down and the picture right (a History page of thumbnails over SSH is the case that
matters):

- the image is scaled once per (file, box, cell size) and the encoded form (sixel string,
  half-cell strips, kitty transmission) is cached; kitty images are transmitted once per process;
- after the cells have been drawn, later redraws of the same place write *nothing* there: each
  image line is a "hole", a cursor-forward over the image's columns, so Textual leaves the
  terminal's pixels (or placeholder cells) alone when a parent repaints around them, e.g. when
  the selection highlight moves between list items;
- the cells are drawn again only when they may have been damaged: the widget moved, was
  resized or scrolled, was hidden and shown again, the screen changed (another screen covered
  it), the app resumed, the terminal was resized, or another widget overlapped it (a toast, a
  tooltip). When an overlap ends, the widget asks for a full repaint of itself so the whole
  image is drawn again;
- a frame counts as drawn only when Textual really writes it: while its output is held back
  (``switch_mode`` delays updates for 50 ms; ``batch_update``) the frame is dropped, so the
  image is drawn in full again in the next frame (issue 12: History's text stayed inside
  Compose's result card, because the switch back drew the card into a dropped frame).

The UI thread never decodes, scales or encodes: when a view knows its fit (it was resized,
which happens on mount, ahead of the first paint) and the encoded form for that fit is not
cached, a worker of the view has it decoded, fitted and encoded in a small thread pool of this
module's own (the sixel string of the part shown, the half-cell/unicode strips rendered on a
private Rich console of that thread, the kitty PNG; the kitty transmission stays on the UI
thread, in order with the frames). Until it is ready the view draws its background, which does
not count as drawn (so no hole is left), and refreshes itself when the worker ends. A result
for a file, fit or part the view no longer wants is not used (a new fit cancels the last
worker and its end is ignored; an unmounted view's workers are cancelled; a file replaced
while it was read is read again).

Headless runs (tests, snapshots) always draw the full cells, so screenshots show the image;
``wait_prepared`` waits until no view of an app is still preparing (the test harness does
before every screenshot).
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
import weakref
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions
from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from dalletui.tui.graphics import cache, kitty, sixel_fix

if TYPE_CHECKING:
    from textual.app import App

_epoch = [0]
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()
_strips: cache.LRU[list[Strip]] = cache.LRU(512)
_sixels: cache.LRU[str] = cache.LRU(64 * 1024 * 1024, cost=len)
_pngs: cache.LRU[bytes] = cache.LRU(32 * 1024 * 1024, cost=len)
_preparing: weakref.WeakSet[ImageView] = weakref.WeakSet()
_consoles = threading.local()
_GROUP = "image-prepare"
_pool: list[ThreadPoolExecutor] = []


def _executor() -> ThreadPoolExecutor:
    """The threads that prepare images (two: decoding and resizing release the GIL)."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="dalletui-image"))
    return _pool[0]


def _bump(*_: object) -> None:
    _epoch[0] += 1


def _hook(app: App[Any]) -> None:
    """Count events after which every image must be drawn again (once per app)."""
    if app in _hooked:
        return
    _hooked.add(app)
    for name in ("screen_change_signal", "app_resume_signal", "theme_changed_signal"):
        signal = getattr(app, name, None)
        if signal is not None:
            signal.subscribe(app, _bump, immediate=True)


def _output_held(app: App[Any]) -> bool:
    """True while Textual drops rendered frames instead of writing them (``App._display``
    returns early while a batch is open: ``batch_update``, ``delay_update``)."""
    return bool(getattr(app, "_batch_count", 0))


def redraw(app: App[Any]) -> None:
    """Draw the whole screen again, every image included (ctrl+l: another program may have
    written over the terminal, or a terminal bug left stale cells)."""
    _bump()
    for view in app.screen.query(ImageView):
        view._painted = None
    app.screen.refresh()


def preparing(app: App[Any]) -> bool:
    """True while some mounted ``ImageView`` of ``app`` waits for its worker."""
    for view in list(_preparing):
        try:
            if view._job is not None and view.is_attached and view.app is app:
                return True
        except Exception:  # noqa: BLE001 (NoActiveAppError while unmounting)
            continue
    return False


async def wait_prepared(app: App[Any], timeout: float = 30.0) -> None:
    """Wait (at most ``timeout`` seconds) until no view of ``app`` is preparing: tests and
    screenshots call it so they see the picture, as a user does a few milliseconds later."""
    deadline = time.monotonic() + timeout
    while preparing(app) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


@dataclass(frozen=True)
class _Job:
    """What a view needs prepared: one file, fitted one way, encoded one way."""

    source: cache.SourceKey
    placed: cache.Fit
    mode: str
    cell_size: tuple[int, int]
    part: Region | None = None  # sixel: the part shown, in image cells
    colors: int = 256  # sixel
    background: tuple[int, int, int] = (0, 0, 0)  # sixel

    def key(self) -> Hashable:
        placed = self.placed
        if self.mode == "sixel":
            return (self.source, placed, self.part, self.colors, self.background)
        if self.mode == "kitty":
            return (self.source, placed.pixel_width, placed.pixel_height, placed.cols, placed.rows)
        return (self.source, placed, self.mode)


def _thread_console(color_system: str | None) -> Console:
    """A Rich console of the calling thread's own (the app's console is the UI thread's)."""
    console: Console | None = getattr(_consoles, "console", None)
    if console is None or console.color_system != color_system:
        console = Console(
            file=io.StringIO(),
            force_terminal=True,
            color_system=color_system,  # type: ignore[arg-type]
            legacy_windows=False,
            markup=False,
            highlight=False,
            emoji=False,
        )
        _consoles.console = console
    return console


class _Replaced(Exception):
    """The file changed while it was being read: the result is for neither version."""


def _prepare(job: _Job, module: Any, options: ConsoleOptions, color_system: str | None) -> _Job:
    """Decode, fit and encode ``job`` into the caches (in a worker thread)."""
    placed = job.placed
    image = cache.fitted_image(job.source, (placed.pixel_width, placed.pixel_height))
    key = job.key()
    if job.mode == "sixel":
        _sixels.get(key, lambda: _encode_sixel(job, image))
    elif job.mode == "kitty":
        _pngs.get(key, lambda: kitty.png_bytes(image))
    else:
        _strips.get(key, lambda: _block_cells(image, placed, module, options, color_system))
    if cache.SourceKey.of(job.source.path) != job.source:
        cache.forget(job.source, (placed.pixel_width, placed.pixel_height))
        for store in (_sixels, _pngs, _strips):
            store.discard(key)
        raise _Replaced(job.source.path)
    return job


def _encode_sixel(job: _Job, image: Any) -> str:
    placed, part = job.placed, job.part
    cell_w, cell_h = job.cell_size
    if part is not None:
        box = (
            part.x * cell_w,
            part.y * cell_h,
            min(placed.pixel_width, part.right * cell_w),
            min(placed.pixel_height, part.bottom * cell_h),
        )
        if box != (0, 0, placed.pixel_width, placed.pixel_height):
            image = image.crop(box)
    red, green, blue = job.background
    return sixel_fix.encode(image, job.colors, (red, green, blue, 1.0))


def _block_cells(
    image: Any,
    placed: cache.Fit,
    module: Any,
    options: ConsoleOptions,
    color_system: str | None,
) -> list[Strip]:
    """Half-cell or unicode strips, one per image row (any thread)."""
    if image.mode == "RGBA":
        from PIL import Image

        flat = Image.new("RGB", image.size, (0, 0, 0))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    renderable = module.Image(image, placed.cols, placed.rows)
    console = _thread_console(color_system)
    lines = console.render_lines(renderable, options, pad=True, new_lines=False)
    return [Strip(line, placed.cols) for line in lines[: placed.rows]]


def _hole(width: int) -> Segment:
    """Move right over ``width`` cells without writing them (zero cells for Rich/Textual)."""
    return Segment(f"\x1b[{width}C", None, ((ControlType.CURSOR_FORWARD, width),))


class ImageView(Widget):
    """An image file fitted into the widget's box (or ``box`` cells), drawn with ``mode``."""

    DEFAULT_CSS = """
    ImageView {
        width: auto;
        height: auto;
    }
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mode: str,
        cell_size: tuple[int, int],
        box: tuple[int, int] | None = None,
        colors: int = 256,
        id: str | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.path = Path(path)
        self.image_mode = mode
        self.cell_size = cell_size
        self.box = box
        self.sixel_colors = colors
        self._source = cache.SourceKey.of(path)
        self._painted: Hashable | None = None
        self._was_covered = False
        self._job: _Job | None = None  # being prepared by ``self._worker``
        self._worker: Worker[Any] | None = None
        self._failed: _Job | None = None  # its worker failed (unreadable file): blank
        self.draws = 0  # how many times the cells were really drawn (tests, bench)
        if box is not None:
            self.styles.width = box[0]
            self.styles.height = box[1]

    # ------------------------------------------------------------------ sizing

    def _image_pixels(self) -> tuple[int, int]:
        if self._source is None:
            return (1, 1)
        try:
            return cache.image_size(self._source)
        except OSError:
            return (1, 1)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        if self.box is not None:
            return self.box[0]
        height = container.height or 10_000
        return cache.fit(self._image_pixels(), (container.width, height), self.cell_size).cols

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self.box is not None:
            return self.box[1]
        height = container.height or 10_000
        return cache.fit(self._image_pixels(), (width, height), self.cell_size).rows

    def on_mount(self) -> None:
        _hook(self.app)

    def on_resize(self, event: events.Resize) -> None:
        """The fit is known now, ahead of the paint: prepare it."""
        source = cache.SourceKey.of(self.path)
        if source != self._source:
            self._source = source
            self.refresh(layout=True)
        self._start(self._job_for(self._fit(), None))

    def on_unmount(self) -> None:
        # Textual cancels our workers; whatever they still produce is not ours to show.
        self._job = self._worker = None
        _preparing.discard(self)

    def reload(self) -> None:
        """Read the file again (it was replaced) and draw it once prepared."""
        self._source = cache.SourceKey.of(self.path)
        self._painted = None
        self._failed = None
        self.refresh(layout=True)
        if self.size.area:
            self._start(self._job_for(self._fit(), None))

    def on_hide(self) -> None:
        """Hidden (display off, scrolled away, switched out): whatever replaced us on screen
        has drawn over our cells, so the next time we are shown we must draw them again."""
        self._painted = None

    # ------------------------------------------------------------------ preparing

    def _job_for(self, placed: cache.Fit, part: Region | None) -> _Job | None:
        """What drawing ``part`` (sixel; the whole image when None) of ``placed`` needs."""
        if self._source is None:
            return None
        if self.image_mode != "sixel":
            return _Job(self._source, placed, self.image_mode, self.cell_size)
        if part is None:
            part = Region(0, 0, placed.cols, placed.rows)
        _, background = self.background_colors
        rgb = (background.r, background.g, background.b)
        return _Job(self._source, placed, "sixel", self.cell_size, part, self.sixel_colors, rgb)

    def _ready(self, job: _Job) -> Any:
        """The prepared form of ``job`` (kitty: True once sent), or None if not prepared."""
        key = job.key()
        if job.mode == "sixel":
            return _sixels.peek(key)
        if job.mode == "kitty":
            return True if kitty.registry.sent(key) else _pngs.peek(key)
        return _strips.peek(key)

    def _start(self, job: _Job | None) -> None:
        """Prepare ``job`` in a worker unless it is ready, being prepared, or failed."""
        if job is None or job == self._job or job == self._failed:
            return
        if job.placed.cols <= 0 or job.placed.rows <= 0 or self._ready(job) is not None:
            return
        module: Any = None
        console = self.app.console
        options = console.options.update(width=job.placed.cols, height=job.placed.rows)
        if job.mode not in ("sixel", "kitty"):
            from dalletui.tui.graphics import backend

            name = "unicode" if job.mode == "unicode" else "halfcell"
            module = backend.modules(self.cell_size)[name]
        self._job = job
        self._failed = None
        _preparing.add(self)
        work = partial(_prepare, job, module, options, console.color_system)

        async def prepare() -> _Job:
            # Our own small pool, not the loop's default executor: a page of thumbnails must
            # not queue in front of the database workers. Cancelling this worker (a newer
            # fit, an unmount, the app's exit) drops the job if it has not started yet.
            return await asyncio.get_running_loop().run_in_executor(_executor(), work)

        self._worker = self.run_worker(
            prepare,
            name=f"prepare {self.path.name}",
            group=_GROUP,
            exclusive=True,  # a newer fit supersedes the last one
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != _GROUP:
            return
        event.stop()  # ours alone: screens handle their own workers' failures
        if worker is not self._worker or not worker.is_finished:
            return  # a superseded worker, or still running
        state = worker.state  # now, not when the message was sent
        job, self._job, self._worker = self._job, None, None
        _preparing.discard(self)
        if state == WorkerState.CANCELLED:
            # Cancelled by someone else (all of an app's workers, say): the next paint asks
            # again.
            self.refresh()
            return
        if state == WorkerState.ERROR:
            if isinstance(worker.error, _Replaced):
                self.reload()
                return
            self._failed = job  # unreadable: the background stays
            self.log.warning(f"cannot prepare {self.path}: {worker.error!r}")
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def _fit(self) -> cache.Fit:
        return cache.fit(self._image_pixels(), (self.size.width, self.size.height), self.cell_size)

    def _background(self) -> Style:
        _, background = self.background_colors
        return Style(bgcolor=background.rich_color)

    def _covered(self, screen_rect: Region) -> bool:
        """True when a widget in front of us overlaps our image (a toast, a tooltip, a menu),
        or another widget's edge falls inside it (so a "hole" would not line up)."""
        try:
            compositor = self.screen._compositor
            in_front = compositor.visible_widgets  # front to back
            cuts = compositor.cuts
        except Exception:  # noqa: BLE001 (private API moved: be safe, draw everything)
            return True
        for widget, (region, clip) in in_front.items():
            if widget is self:
                break
            if region.intersection(clip).overlaps(screen_rect):
                return True
        left, right = screen_rect.x, screen_rect.right
        for y in range(screen_rect.y, min(screen_rect.bottom, len(cuts))):
            if any(left < cut < right for cut in cuts[y]):
                return True
        return False

    def render_lines(self, crop: Region) -> list[Strip]:
        try:
            return self._render_lines(crop)
        except OSError:
            # The file went away while shown (moved to the trash, deleted outside dalletui)
            # or cannot be read: draw the background; a missing picture never stops the app.
            self._painted = None
            blank = Strip([Segment(" " * crop.width, self._background())], crop.width)
            return [blank] * crop.height

    def _render_lines(self, crop: Region) -> list[Strip]:
        background = self._background()
        blank = Strip([Segment(" " * crop.width, background)], crop.width)
        if self._source is None or crop.width <= 0 or crop.height <= 0:
            return [blank] * crop.height
        try:
            if not self.screen.is_active:
                self._painted = None
                return [blank] * crop.height
            region = self.region
        except Exception:  # noqa: BLE001 (NoScreen while unmounting)
            return [blank] * crop.height
        placed = self._fit()
        image_rect = Region(placed.offset_x, placed.offset_y, placed.cols, placed.rows)
        visible = image_rect.intersection(crop)
        if not visible.area:
            return [blank] * crop.height
        screen_rect = visible.translate(region.offset)
        headless = self.app.is_headless
        covered = self._covered(screen_rect)
        sixel = self.image_mode == "sixel"
        key = (
            screen_rect,
            visible,
            placed,
            _epoch[0],
            self.app.size,
            self.image_mode,
            self._source,
        )
        if covered:
            self._painted = None
            if sixel:
                # A sixel would paint over whatever covers it (a toast, a tooltip): show the
                # background while covered and draw the whole image again afterwards.
                self._was_covered = True
                return self._lines(crop, visible, placed, background, cells=None, sixel=None)
        elif sixel and self._was_covered and not headless:
            # The overlap ended; this frame may repaint only some of our lines, and the sixel
            # rides on one of them. Blank the image now and draw it in a repaint of all lines.
            self._was_covered = False
            self.call_after_refresh(self.refresh)
            return self._lines(crop, visible, placed, background, cells=None, sixel=None)
        if not (headless or covered) and key == self._painted:
            return self._lines(crop, visible, placed, background, cells=None, sixel=None, hole=True)
        job = self._job_for(placed, visible.translate(-image_rect.offset) if sixel else None)
        prepared = None if job is None else self._ready(job)
        if prepared is None:
            # Not prepared yet (or unreadable): the background, not counted as drawn.
            self._painted = None
            self._start(job)
            return self._lines(crop, visible, placed, background, cells=None, sixel=None)
        self.draws += 1
        if covered or headless:
            self._painted = None
        elif _output_held(self.app):
            # Textual is holding its output back (``switch_mode`` delays updates for 50 ms,
            # ``batch_update``): this frame may never reach the terminal, so it does not count
            # as drawn. Ask for another frame, which is drawn once the output flows again;
            # holes there would keep whatever the previous screen left in our cells.
            self._painted = None
            self.call_later(self.refresh)
        else:
            self._painted = key
        if sixel:
            return self._lines(
                crop,
                visible,
                placed,
                background,
                cells=None,
                sixel=prepared,
                screen_rect=screen_rect,
            )
        kitty_mode = self.image_mode == "kitty"
        cells = self._kitty_cells(placed, prepared) if kitty_mode else prepared
        return self._lines(crop, visible, placed, background, cells=cells)

    def _lines(
        self,
        crop: Region,
        visible: Region,
        placed: cache.Fit,
        background: Style,
        *,
        cells: list[Strip] | None,
        sixel: str | None = None,
        hole: bool = False,
        screen_rect: Region | None = None,
    ) -> list[Strip]:
        """The crop's lines: background around the image, and the image part as cells/hole."""
        lines: list[Strip] = []
        left = visible.x - crop.x
        right = crop.right - visible.right
        for y in range(crop.y, crop.bottom):
            if not visible.y <= y < visible.bottom:
                lines.append(Strip([Segment(" " * crop.width, background)], crop.width))
                continue
            segments: list[Segment] = []
            if left:
                segments.append(Segment(" " * left, background))
            if hole:
                segments.append(_hole(visible.width))
            elif cells is not None:
                start = visible.x - placed.offset_x
                segments.extend(self._cell_row(cells, y - placed.offset_y, start, visible.width))
            else:
                segments.append(Segment(" " * visible.width, background))
                if sixel is not None and screen_rect is not None and y == visible.bottom - 1:
                    segments.extend(_sixel_segments(sixel, screen_rect))
            if right:
                segments.append(Segment(" " * right, background))
            lines.append(Strip(segments, crop.width))
        return lines

    # ------------------------------------------------------------------ encodings

    def _cell_row(self, cells: list[Strip], row: int, start: int, width: int) -> list[Segment]:
        """Columns ``start`` to ``start + width`` of image row ``row``."""
        if self.image_mode == "kitty":
            # Built per column rather than cropped: Rich's cell splitting could separate a
            # placeholder from its diacritics. Each cell names its own row and column.
            style = cells[row]._segments[0].style if cells[row]._segments else None
            return [Segment(kitty.placeholder_cells(row, start, width), style)]
        strip = cells[row]
        if start == 0 and width == strip.cell_length:
            return list(strip)
        return list(strip.crop(start, start + width))

    def _kitty_cells(self, placed: cache.Fit, png: bytes | bool) -> list[Strip]:
        """Placeholder cells; transmits the prepared ``png`` first if it was not sent yet."""
        driver = getattr(self.app, "_driver", None)
        write = None if driver is None or self.app.is_headless else driver.write
        key = (self._source, placed.pixel_width, placed.pixel_height, placed.cols, placed.rows)

        def prepared() -> bytes:
            # ``png`` is True only when the key was already sent, and keys are only sent
            # (and evicted) on this thread, so ``ensure`` asks for bytes only when we have them.
            assert isinstance(png, bytes)
            return png

        image_id = kitty.registry.ensure(key, placed.cols, placed.rows, prepared, write)
        _pngs.discard(key)  # sent: the terminal keeps it now (prepared again if evicted)
        style = Style.parse(kitty.id_color(image_id))
        return [
            Strip([Segment(kitty.placeholder_cells(row, 0, placed.cols), style)], placed.cols)
            for row in range(placed.rows)
        ]


def _sixel_segments(sixel: str, screen_rect: Region) -> list[Segment]:
    """Draw ``sixel`` at the rectangle's top-left; leave the cursor where the line continues."""
    null = Style()
    return [
        Segment(Control.move_to(screen_rect.x, screen_rect.y).segment.text, null),
        Segment(sixel, null, ((ControlType.CURSOR_FORWARD, 0),)),
        # Right of the image on its last row (not one row below: lnqs/textual-image#146).
        Segment(Control.move_to(screen_rect.right, screen_rect.bottom - 1).segment.text, null),
    ]


def clear_caches() -> None:
    _strips.clear()
    _sixels.clear()
    _pngs.clear()
    cache.clear()
