"""The image view: one image large, beside everything known about it.

Opened from the gallery (enter on a card) or History's detail pane (enter on an image, or
``v``). It shows the prompt and the revised prompt, model, the quality, size, background and
format asked for and those the response says it applied ("quality auto → high"), seed, tokens,
cost, time and file; ``y`` copies the path, ``o`` opens the file full size in the system viewer,
←/→ (or [ and ]) step to the newer and older image of the same gallery or prompt. Everything
from outside (prompt texts, paths, model names) goes through ``printable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from dalletui.formatting import humanize_age
from dalletui.services.history import reuse_params
from dalletui.textsafe import printable
from dalletui.tui import graphics
from dalletui.tui.latest import Latest
from dalletui.tui.messages import ReusePrompt
from dalletui.tui.notices import show_failure
from dalletui.tui.styles import css_paths
from dalletui.tui.viewer import copy_path, show_in_viewer
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.history_detail import MUTED, cost_text
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.history import GenerationRow, ImagePlace, ImageScope

#: The parameters shown as "asked → applied", in this order, with their labels.
PARAMETERS = (
    ("quality", "Quality"),
    ("size", "Size"),
    ("background", "Background"),
    ("output_format", "Format"),
)
#: Width of the label column of the facts.
LABEL_WIDTH = 11


def parameter_text(asked: str | None, applied: str | None) -> Content:
    """``auto → high`` when the response applied something else than asked, else the value."""
    asked_text = printable(asked or "—", single_line=True)
    if applied and applied != asked:
        return Content.assemble(
            (asked_text, MUTED), (" → ", MUTED), (printable(applied, single_line=True), "bold")
        )
    return Content(asked_text)


def tokens_text(row: GenerationRow) -> Content:
    """``1,056 in (text 56, image 1,000) · 4,160 out · 5,216 total``, or why there are none."""
    usage = row.usage
    g = row.generation
    if g.offline or g.imported:
        return Content.styled("none: drawn locally" if g.offline else "none: imported", MUTED)
    if usage is None:
        return Content.styled("none recorded", MUTED)
    parts = [
        f"{usage.input_text_tokens:,} text in",
        f"{usage.input_image_tokens:,} image in" if usage.input_image_tokens else "",
        f"{usage.output_image_tokens:,} image out",
        f"{usage.output_text_tokens:,} text out" if usage.output_text_tokens else "",
    ]
    shown = " · ".join(part for part in parts if part)
    return Content.assemble(shown, (f" · {usage.total_tokens:,} total", MUTED))


def _facts(lines: list[tuple[str, Content]]) -> Content:
    return Content("\n").join(
        Content.assemble((label.ljust(LABEL_WIDTH), MUTED), value) for label, value in lines
    )


def image_facts(row: GenerationRow) -> Content:
    """What was asked and applied, and what it cost, one fact a line: ``Label      value``."""
    g = row.generation
    applied = row.applied
    asked = row.asked_params
    lines: list[tuple[str, Content]] = [("Model", Content(printable(g.model, single_line=True)))]
    for key, label in PARAMETERS:
        lines.append((label, parameter_text(asked.get(key), applied.get(key))))
    lines.append(("Seed", Content("—" if g.seed is None else str(g.seed))))
    cost = cost_text(g, row.usage)
    lines.append(("Cost", cost if cost.plain else Content.styled("—", MUTED)))
    lines.append(("Tokens", tokens_text(row)))
    return _facts(lines)


def more_facts(row: GenerationRow) -> Content:
    """Where it came from and when: provider, pixels, time taken, age, ids."""
    g = row.generation
    lines: list[tuple[str, Content]] = [
        ("Provider", Content(printable(g.provider, single_line=True)))
    ]
    if g.width and g.height:
        lines.append(("Pixels", Content(f"{g.width}×{g.height}")))
    lines.append(("Took", Content(g.duration_display)))
    lines.append(("Made", Content(humanize_age(g.created_at))))
    lines.append(("Image", Content(f"#{g.id} of prompt #{row.prompt_id}")))
    if g.request_id:
        lines.append(("Request", Content(printable(g.request_id, single_line=True))))
    return _facts(lines)


class ImageViewScreen(Screen[None]):
    """One image as large as the terminal allows, with its parameters, cost and file."""

    CSS_PATH = css_paths("image_view.tcss")

    SUB_TITLE = "Image"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            "open",
            "Open",
            id="image.open",
            tooltip="Open the image full size in the system image viewer",
        ),
        Binding(
            "y",
            "copy",
            "Copy path",
            id="image.copy",
            tooltip="Copy the image file's path to the clipboard",
        ),
        Binding(
            "left,left_square_bracket",
            "step(-1)",
            "Newer",
            id="image.newer",
            key_display="←",
            tooltip="The newer image (the one before, in the gallery's order)",
        ),
        Binding(
            "right,right_square_bracket",
            "step(1)",
            "Older",
            id="image.older",
            key_display="→",
            tooltip="The older image (the one after, in the gallery's order)",
        ),
        Binding(
            "enter",
            "reuse",
            "Compose",
            id="image.reuse",
            tooltip="Open the prompt in Compose with this image's parameters",
        ),
        Binding("escape", "back", "Back", id="image.back", tooltip="Back where you came from"),
    ]

    def __init__(self, row: GenerationRow, scope: ImageScope) -> None:
        super().__init__()
        self.row = row
        self.scope = scope
        self.place: ImagePlace | None = None
        self._steps = Latest()

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="image-view"):
            yield Container(id="image-frame")
            with VerticalScroll(id="image-about"):
                yield Static(id="image-prompt", classes="image-section")
                yield Static(id="image-revised", classes="image-section")
                yield Static(id="image-facts", classes="image-section")
                yield Static(id="image-file", classes="image-section")
                yield Static(id="image-more", classes="image-section")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show(self.row)
        self._locate(self._steps.take(), self.row.id)

    # -- showing one image --------------------------------------------------------------------

    def _show(self, row: GenerationRow) -> None:
        self.row = row
        g = row.generation
        frame = self.query_one("#image-frame", Container)
        with self.app.batch_update():
            frame.remove_children()
            picture = g.file_path or g.thumbnail_path
            frame.mount(graphics.of(self).preview(picture, classes="image-large"))
            star = "★ " if row.prompt_favorite else ""
            self.query_one("#image-prompt", Static).update(
                Content.assemble((f"{star}Prompt\n", "bold"), printable(row.prompt_text))
            )
            revised = self.query_one("#image-revised", Static)
            revised.display = bool(row.revised_prompt)
            revised.update(
                Content.assemble(
                    ("Revised prompt", "bold"),
                    (" (as the model rewrote it)\n", MUTED),
                    printable(row.revised_prompt or ""),
                )
            )
            self.query_one("#image-facts", Static).update(image_facts(row))
            self.query_one("#image-file", Static).update(
                Content.assemble(
                    ("File".ljust(LABEL_WIDTH), MUTED),
                    printable(g.file_path or "—", single_line=True),
                    ("\ny copies the path · o opens it in the image viewer", MUTED),
                )
            )
            self.query_one("#image-more", Static).update(more_facts(row))
            self.query_one("#image-about", VerticalScroll).scroll_home(animate=False)
        self._title()
        self.refresh_bindings()

    def _title(self) -> None:
        place = self.place
        where = ""
        if place is not None and place.row.id == self.row.id:
            scope = " of this prompt" if self.scope.prompt_id is not None else ", newest first"
            where = f" · {place.position + 1:,} of {place.total:,}{scope}"
        frame = self.query_one("#image-frame", Container)
        frame.border_title = f"Image #{self.row.id}{where}"
        frame.border_subtitle = "← newer · older →"

    # -- stepping -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="image", exit_on_error=False)
    def _locate(self, ticket: int, generation_id: int) -> None:
        place = self.services.history.image_place(self.scope, generation_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._located, ticket, place, False)

    @work(thread=True, exclusive=True, group="image", exit_on_error=False)
    def _step(self, ticket: int, generation_id: int, direction: int) -> None:
        place = self.services.history.step(self.scope, generation_id, direction)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._located, ticket, place, True)

    def _located(self, ticket: int, place: ImagePlace | None, moved: bool) -> None:
        if not self._steps.is_newest(ticket):
            return
        if place is None:
            if moved:
                self.app.bell()
            return
        self.place = place
        if moved:
            self._show(place.row)
        else:
            self._title()
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "step":
            place = self.place
            if place is None or not parameters:
                return True
            return (place.has_older if parameters[0] == 1 else place.has_newer) or None
        if action in ("open", "copy"):
            return True if self.row.generation.file_path else None
        return True

    def action_step(self, direction: int) -> None:
        self._step(self._steps.take(), self.row.id, direction)

    # -- actions ------------------------------------------------------------------------------

    def action_open(self) -> None:
        if self.row.generation.file_path:
            show_in_viewer(self.app, self.row.generation.file_path)

    def action_copy(self) -> None:
        if self.row.generation.file_path:
            copy_path(self.app, self.row.generation.file_path)

    def action_reuse(self) -> None:
        self.post_message(ReusePrompt(self.row.prompt_text, reuse_params(self.row.generation)))

    def action_back(self) -> None:
        self.dismiss()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group != "image":
            return
        error = event.worker.error
        show_failure(self, error, "Image")
