"""The Compose screen's results: a live slot while generating, then one slot per image or failure.

Slots only display values handed to them and post ``ResultSlot.Action`` up; the screen does the
work (open, copy, regenerate, send a possibly billed request again, favourite) through services.
An image's ``e`` (edit it) and ``a`` (add it as a reference) post ``StartEdit``, which the app
routes to Compose like the same keys of the gallery and the image view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, LoadingIndicator, Static

from dalletui.formatting import format_money, shorten
from dalletui.generation.catalog import parse_size
from dalletui.textsafe import printable, printable_message
from dalletui.tui import graphics
from dalletui.tui.messages import StartEdit

if TYPE_CHECKING:
    from dalletui.generation.retry import RetryWait
    from dalletui.generation.types import GenerationRequest
    from dalletui.services.history import Generation

ActionName = Literal["open", "copy", "regenerate", "retry", "favorite"]

#: Older slots beyond this many are dropped (each holds an image widget).
MAX_SLOTS = 24


def kind_label(kind: str | None) -> str:
    """``rate_limit`` -> ``Rate limit``."""
    return printable((kind or "unknown").replace("_", " ").capitalize(), single_line=True)


def wait_text(wait: RetryWait, remaining: float) -> str:
    """``rate limited, retrying in 12 s, 2 of 3``, counting down; once sent, says so."""
    if remaining <= 0:
        return f"{wait.reason}, retry {wait.attempt} of {wait.of} sent"
    # Whole seconds count down calmly; a short backoff keeps its tenths.
    seconds = math.ceil(remaining) if wait.seconds >= 1 else remaining
    return replace(wait, seconds=seconds).describe()


def aspect_of(width: int | None, height: int | None, size: str | None) -> float:
    """Width / height of an image from its pixels, else its requested size, else square."""
    if width and height:
        return width / height
    pair = parse_size(size or "")
    return pair[0] / pair[1] if pair else 1.0


class ImageBox(Container):
    """Holds a preview; as tall as the image at full width, up to the CSS max-height."""

    def __init__(self, aspect: float, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="slot-image")
        self.aspect = aspect

    def on_resize(self) -> None:
        # Terminal cells are about twice as tall as wide.
        rows = max(3, round(self.size.width / 2 / self.aspect))
        if self.styles.height is None or self.styles.height.value != rows:
            self.styles.height = rows


class ResultSlot(Widget, can_focus=True):
    """One finished image, failure or cancellation; keys act on it when it is focused."""

    BINDINGS = [
        Binding(
            "o",
            "act('open')",
            "Open",
            id="result.open",
            show=True,
            tooltip="Open the full image in the system viewer",
        ),
        Binding(
            "y",
            "act('copy')",
            "Copy path",
            id="result.copy",
            show=True,
            tooltip="Copy the image file path to the clipboard",
        ),
        Binding(
            "r",
            "act('regenerate')",
            "Again",
            id="result.regenerate",
            show=True,
            tooltip="Generate the same request again",
        ),
        # The same key on a possibly billed result: only one of the two is ever active.
        Binding(
            "r",
            "act('retry')",
            "Send again",
            id="result.retry",
            show=True,
            tooltip="Send this possibly billed request again, as a new request",
        ),
        Binding(
            "f",
            "act('favorite')",
            "Favourite",
            id="result.favorite",
            show=True,
            tooltip="Star or unstar this prompt",
        ),
    ]

    @dataclass
    class Action(Message):
        """The user asked for ``action`` on ``slot``."""

        slot: ResultSlot
        action: ActionName

    favorite: reactive[bool] = reactive(False)

    def __init__(
        self,
        *,
        prompt_text: str,
        request: GenerationRequest | None,
        prompt_id: int | None = None,
        favorite: bool = False,
        generation: Generation | None = None,
        retry_id: int | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(classes=classes)
        self.prompt_text = prompt_text
        self.request = request
        self.prompt_id = prompt_id
        self.generation = generation
        #: The recorded generation that ``r`` sends again (a possibly billed request), if any.
        self.retry_id = retry_id
        self.set_reactive(ResultSlot.favorite, favorite)

    @property
    def file_path(self) -> str | None:
        g = self.generation
        return g.file_path if g is not None and g.status == "succeeded" else None

    def on_mount(self) -> None:
        self._update_title()

    def watch_favorite(self) -> None:
        self._update_title()

    def _update_title(self) -> None:
        star = "★ " if self.favorite else ""
        title = shorten(printable(self.prompt_text, single_line=True), 60)
        self.border_title = Content(f"{star}{title}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "act" or not parameters:
            return True
        what = parameters[0]
        if what in ("open", "copy"):
            return self.file_path is not None
        if what == "favorite":
            return self.prompt_id is not None
        if what == "regenerate":
            return self.request is not None and self.retry_id is None
        if what == "retry":
            return self.retry_id is not None
        return True

    def action_act(self, what: ActionName) -> None:
        self.post_message(self.Action(self, what))


class ImageSlot(ResultSlot):
    """A finished image: preview, size, cost, time, provider."""

    BINDINGS = [
        Binding(
            "e",
            "edit",
            "Edit",
            id="result.edit",
            tooltip="Edit this image: it becomes the reference, its prompt prefilled",
        ),
        Binding(
            "a",
            "edit(True)",
            "Add ref",
            id="result.add",
            show=False,  # the footer keeps room for ctrl+g; Help and the palette list it
            tooltip="Add this image as one more reference to the edit being prepared",
        ),
    ]

    def __init__(
        self,
        generation: Generation,
        *,
        prompt_text: str,
        prompt_id: int,
        favorite: bool,
        request: GenerationRequest | None,
        cost: Decimal | None,
        made_from: str | None = None,
    ) -> None:
        classes = "-offline" if generation.offline else "-online"
        super().__init__(
            prompt_text=prompt_text,
            request=request,
            prompt_id=prompt_id,
            favorite=favorite,
            generation=generation,
            classes=classes,
        )
        self.cost = cost
        #: ``#12`` or a file name: what an edit was made from (None for a generation).
        self.made_from = made_from

    def compose(self) -> ComposeResult:
        g = self.generation
        assert g is not None
        with ImageBox(aspect_of(g.width, g.height, g.size)):
            yield graphics.of(self).preview(g.thumbnail_path or g.file_path)
        yield Static(self.details(), classes="slot-details", markup=False)
        yield Static(self.origin(), classes="slot-origin", markup=False)
        if g.offline:
            yield Static("OFFLINE · drawn locally", classes="slot-offline", markup=False)

    def details(self) -> str:
        """Size, cost and time: the line a user scans first."""
        g = self.generation
        assert g is not None
        details = f"{g.dimensions} · {format_money(self.cost)} · {g.duration_display}"
        return printable(details, single_line=True)

    def origin(self) -> str:
        """Model, quality and (for real API calls) the provider."""
        g = self.generation
        assert g is not None
        origin = f"{g.model} · {g.quality}" + ("" if g.offline else f" · {g.provider}")
        return printable(origin, single_line=True)

    def on_mount(self) -> None:
        super().on_mount()
        if self.generation is not None:
            made = f"edit of {self.made_from} · " if self.made_from else ""
            self.border_subtitle = printable(f"{made}#{self.generation.id}", single_line=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            return self.file_path is not None
        return super().check_action(action, parameters)

    def action_edit(self, add: bool = False) -> None:
        # Here, not at the top: Compose (the first screen) paints before the services load.
        from dalletui.services.history import reuse_params

        g = self.generation
        if g is not None and self.file_path is not None:
            self.post_message(StartEdit(g.id, self.prompt_text, reuse_params(g), add=add))


class ProblemSlot(ResultSlot):
    """A failure (with its error kind) or a cancellation; the prompt stays in the editor."""

    def __init__(
        self,
        *,
        heading: str,
        message: str,
        prompt_text: str,
        request: GenerationRequest | None,
        prompt_id: int | None = None,
        favorite: bool = False,
        cancelled: bool = False,
    ) -> None:
        super().__init__(
            prompt_text=prompt_text,
            request=request,
            prompt_id=prompt_id,
            favorite=favorite,
            classes="-cancelled" if cancelled else "-failed",
        )
        self.heading = printable(heading)
        self.message = printable_message(message)

    def compose(self) -> ComposeResult:
        yield Static(self.heading, classes="slot-heading", markup=False)
        yield Static(self.message, classes="slot-message", markup=False)
        yield Static("r tries again · the prompt is still in the editor", classes="slot-hint")


HINT_POSSIBLY_BILLED = "Usage counts it apart, cost unknown"


class PossiblyBilledSlot(ResultSlot):
    """A request that may have reached the API: the outcome is unknown, so is its cost.

    Nothing is sent again on its own; ``r`` here sends generation ``retry_id``'s request again.
    """

    def __init__(
        self,
        *,
        generation_id: int,
        message: str,
        request_id: str | None,
        images: int,
        prompt_text: str,
        request: GenerationRequest | None,
        prompt_id: int | None = None,
        favorite: bool = False,
    ) -> None:
        super().__init__(
            prompt_text=prompt_text,
            request=request,
            prompt_id=prompt_id,
            favorite=favorite,
            retry_id=generation_id,
            classes="-possibly-billed",
        )
        # The message says what happened (a timeout, a cut-off answer); the heading what it means.
        self.heading = "! Possibly billed" + ("" if images == 1 else f" ({images} images)")
        self.message = printable_message(message)
        self.request_id = printable(request_id, single_line=True) if request_id else None

    def compose(self) -> ComposeResult:
        yield Static(self.heading, classes="slot-heading", markup=False)
        yield Static(self.message, classes="slot-message", markup=False)
        if self.request_id:
            yield Static(f"request id {self.request_id}", classes="slot-request", markup=False)
        # The message already says how to send it again (r here, or `dalletui retry`).
        yield Static(HINT_POSSIBLY_BILLED, classes="slot-hint", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.border_subtitle = f"#{self.retry_id}"

    def sent_again(self, generation_id: int) -> None:
        """Say that this request was sent again as generation ``generation_id``."""
        self.query_one(".slot-hint", Static).update(
            f"Sent again as #{generation_id} · r sends it once more"
        )


class LiveSlot(Widget):
    """Shown while a request runs: spinner, elapsed seconds, any retry wait, the latest draft."""

    elapsed: reactive[float] = reactive(0.0)
    partials: reactive[int] = reactive(0)
    #: The announced wait before an automatic retry, counting down ("" when not waiting).
    waiting: reactive[str] = reactive("")

    def __init__(self, request: GenerationRequest) -> None:
        super().__init__(id="live-slot")
        self.request = request

    def compose(self) -> ComposeResult:
        with Horizontal(classes="live-progress"):
            yield LoadingIndicator()
            yield Label(self._text(), id="live-text", markup=False)
        yield Label("", id="live-wait", markup=False)
        yield ImageBox(aspect_of(None, None, self.request.size), id="live-partial")

    def on_mount(self) -> None:
        self.border_title = Content(shorten(printable(self.request.prompt, single_line=True), 60))

    def _text(self) -> str:
        r = self.request
        parts = [f"{self.elapsed:.1f}s"]
        if r.n > 1:
            parts.insert(0, f"{r.n} images")
        if r.partial_images:
            parts.append(f"draft {self.partials}/{r.partial_images}")
        parts.append("esc cancels")
        return " · ".join(parts)

    def _refresh_text(self) -> None:
        if self.is_mounted:
            self.query_one("#live-text", Label).update(self._text())

    def watch_elapsed(self) -> None:
        self._refresh_text()

    def watch_partials(self) -> None:
        self._refresh_text()

    def watch_waiting(self) -> None:
        self._show_wait()

    def on_resize(self) -> None:
        self._show_wait()  # the first wait may be announced before the slot is laid out

    def _show_wait(self) -> None:
        if not self.is_mounted:
            return
        label = self.query_one("#live-wait", Label)
        shown = printable(self.waiting, single_line=True)
        if len(shown) > self.content_size.width:
            # Too narrow for one line: break after the reason, not inside "4 s" or "1 of 3".
            shown = shown.replace(", ", ",\n", 1)
        label.update(shown)
        label.display = bool(shown)

    async def show_partial(self, index: int, path: Path) -> None:
        """Replace the shown draft with partial image ``index`` (0-based) at ``path``."""
        box = self.query_one("#live-partial", ImageBox)
        await box.remove_children()
        await box.mount(graphics.of(self).preview(path, classes="partial-preview"))
        self.partials = index + 1


class ResultsPanel(VerticalScroll):
    """Newest results first; a hint while there are none."""

    def compose(self) -> ComposeResult:
        yield Static(
            "No images yet.\n\n"
            "Write a prompt and press ctrl+g.\n"
            "Then tab to a result:\n"
            "o open · y copy path\n"
            "r again · f favourite",
            id="results-empty",
            markup=False,
        )

    @property
    def live(self) -> LiveSlot | None:
        found = self.query("#live-slot")
        return found.first(LiveSlot) if found else None

    @property
    def slots(self) -> list[ResultSlot]:
        return list(self.query_children(ResultSlot))

    async def start(self, request: GenerationRequest) -> LiveSlot:
        """Show a live slot at the top for ``request``."""
        await self.end_live()
        self.query_one("#results-empty").display = False
        live = LiveSlot(request)
        await self.mount(live, before=0)
        self.scroll_home(animate=False)
        return live

    async def end_live(self) -> None:
        live = self.live
        if live is not None:
            await live.remove()

    async def add(self, slots: list[ResultSlot]) -> None:
        """Put ``slots`` at the top (replacing the live slot) and drop the oldest beyond a limit."""
        await self.end_live()
        if not slots:
            self._update_empty()
            return
        self.query_one("#results-empty").display = False
        await self.mount_all(slots, before=0)
        stale = self.slots[MAX_SLOTS:]
        if stale:
            await self.remove_children(stale)
        self.scroll_home(animate=False)

    def _update_empty(self) -> None:
        self.query_one("#results-empty").display = not self.slots and self.live is None

    def set_favorite(self, prompt_id: int, on: bool) -> None:
        for slot in self.slots:
            if slot.prompt_id == prompt_id:
                slot.favorite = on
