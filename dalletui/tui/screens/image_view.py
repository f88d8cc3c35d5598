"""The image view: one image large, beside everything known about it.

Opened from the gallery (enter on a card) or History's detail pane (enter on an image, or
``v``). It shows the prompt and the revised prompt, model, the quality, size, background and
format asked for and those the response says it applied ("quality auto → high"), seed, tokens,
cost, time and file; ``y`` copies the path, ``o`` opens the file full size in the system viewer,
←/→ (or [ and ]) step to the newer and older image of the same gallery or prompt.

Its lineage shows beside the facts (``#12 ← #15 ← #18 this → #21, #24``, the inputs when there
is more than the parent): ``p`` steps to the parent, ``n`` to a child (again: the next child),
``e`` edits the image in Compose (on an earlier version: a new branch, the later edits stay),
``a`` adds it as a reference to the edit being prepared, ``L`` shows its lineage in the gallery
(the screen is dismissed with the image's id; whoever opened it shows that gallery). Everything
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
from dalletui.services.history import ImageScope, reuse_params
from dalletui.textsafe import printable
from dalletui.tui import graphics
from dalletui.tui.latest import Latest
from dalletui.tui.messages import ReusePrompt, StartEdit
from dalletui.tui.notices import show_failure
from dalletui.tui.styles import css_paths
from dalletui.tui.viewer import copy_path, show_in_viewer
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.history_detail import MUTED, cost_text
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.history import GenerationRow, ImagePlace, InputRow, LineageView

#: The parameters shown as "asked → applied", in this order, with their labels.
PARAMETERS = (
    ("quality", "Quality"),
    ("size", "Size"),
    ("background", "Background"),
    ("output_format", "Format"),
)
#: Width of the label column of the facts.
LABEL_WIDTH = 11
#: A chain longer than this shows its oldest image, "…", and the nearest ancestors.
CHAIN_SHOWN = 6
#: Children listed by id before "+N more".
CHILDREN_SHOWN = 5


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
    note = g.note or ""
    if note.strip():  # written in History (N on the image) or with dalletui note gen:ID
        lines.append(("Note", Content(printable(" ".join(note.split())))))
    return _facts(lines)


def _ref(row: GenerationRow, *, bold: bool = False) -> Content:
    """``#15``, with its kind when it is neither the first image nor an edit (a variation)."""
    kind = str(row.generation.kind or "generate")
    label = Content.styled(f"#{row.id}", "bold" if bold else "")
    if kind in ("generate", "edit"):
        return label
    return Content.assemble(label, (f" {printable(kind, single_line=True)}", MUTED))


def image_children(view: LineageView) -> list[GenerationRow]:
    """The children one can step to: those that brought an image (not failed or pending)."""
    return [row for row in view.children if row.is_image]


def _input_text(item: InputRow) -> Content:
    label = printable(item.label, single_line=True)
    role = "" if item.role == "image" else f"{printable(item.role, single_line=True)}: "
    missing = ("" if item.available else " (missing)", MUTED)
    return Content.assemble((role, MUTED), label, missing)


def lineage_text(view: LineageView, next_child: int | None = None) -> Content:
    """``#12 ← #15 ← #18 this → #21, #24``: the ancestors oldest first, this image, its children
    (the one ``n`` goes to next underlined); the inputs when there is more than the parent."""
    chain = view.chain
    if len(chain) > CHAIN_SHOWN:
        chain = [chain[0], *chain[-(CHAIN_SHOWN - 1) :]]
    parts: list[Content] = []
    for index, row in enumerate(chain[:-1]):
        parts.append(_ref(row))
        skipped = index == 0 and len(chain) < len(view.chain)
        parts.append(Content.styled(" ← … ← " if skipped else " ← ", MUTED))
    parts.append(Content.assemble(_ref(view.row, bold=True), (" this", "bold $text-accent")))
    children = image_children(view)
    if children:
        parts.append(Content.styled(" → ", MUTED))
        shown: list[Content] = []
        for index, row in enumerate(children[:CHILDREN_SHOWN]):
            ref = _ref(row)
            shown.append(ref.stylize("underline") if index == next_child else ref)
        parts.append(Content(", ").join(shown))
        if len(children) > CHILDREN_SHOWN:
            parts.append(Content.styled(f" +{len(children) - CHILDREN_SHOWN:,} more", MUTED))
    kind = printable(view.kind, single_line=True)
    parent = view.parent
    made = f" · {kind} of #{parent.id}" if parent is not None else ""
    if parent is None and view.kind != "generate":
        made = f" · {kind}"
    lines = [Content.assemble(("Lineage", "bold"), (made, MUTED)), Content("").join(parts)]
    primary = parent.id if parent is not None else None
    extra = [item for item in view.inputs if item.generation_id != primary or item.role != "image"]
    if extra:
        lines.append(
            Content.assemble(
                ("Inputs ", MUTED), Content(" · ").join(_input_text(i) for i in view.inputs)
            )
        )
    hints = []
    if parent is not None:
        hints.append("p parent")
    if children:
        hints.append("n child" if len(children) == 1 else "n next child")
        hints.append("e branches (edits stay)")
    else:
        hints.append("e edits")
    lines.append(Content.styled(" · ".join(hints), MUTED))
    return Content("\n").join(lines)


def shows_lineage(view: LineageView | None) -> bool:
    """True when there is something to show: a parent, a child or an input."""
    return view is not None and (view.has_family or bool(view.inputs))


class ImageViewScreen(Screen["int | None"]):
    """One image as large as the terminal allows, with its parameters, cost, file and lineage.

    Dismissed with None (back), or with a generation id: show that image's lineage in the
    gallery (``L``).
    """

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
        # The same key twice: "Edit" on the newest version, "Branch" on one edited since.
        Binding(
            "e",
            "edit",
            "Edit",
            id="image.edit",
            tooltip="Edit this image in Compose: it is the reference, its prompt prefilled",
        ),
        Binding(
            "e",
            "branch",
            "Branch",
            id="image.branch",
            tooltip=(
                "Edit this earlier version in Compose: a new branch, the edits already made "
                "from it stay (undo an edit without losing it)"
            ),
        ),
        Binding(
            "p",
            "parent",
            "Parent",
            id="image.parent",
            tooltip="The image this one was made from",
        ),
        Binding(
            "n",
            "child",
            "Child",
            id="image.child",
            tooltip="An image made from this one (again: the next one)",
        ),
        Binding(
            "a",
            "add",
            "Add ref",
            id="image.add",
            tooltip="Add this image as one more reference to the edit Compose is preparing",
        ),
        Binding(
            "L",
            "lineage",
            "Lineage",
            id="image.lineage",
            tooltip="Show this image's lineage in the gallery: its first version and all made "
            "from it",
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
        #: The lineage of the image shown (None until it is in, or for another image).
        self.lineage: LineageView | None = None
        #: Per image, the child visited last (``n`` goes on to the next one).
        self._child_visited: dict[int, int] = {}
        self._steps = Latest()
        self._lineages = Latest()

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
                yield Static(id="image-lineage", classes="image-section")
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
        if self.lineage is not None and self.lineage.row.id != row.id:
            self.lineage = None
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
            self._show_lineage()
            self.query_one("#image-about", VerticalScroll).scroll_home(animate=False)
        self._title()
        self.refresh_bindings()
        if self.lineage is None:
            self._load_lineage(self._lineages.take(), row.id)

    def _show_lineage(self) -> None:
        section = self.query_one("#image-lineage", Static)
        view = self.lineage
        section.display = shows_lineage(view)
        if view is not None and section.display:
            section.update(lineage_text(view, self._next_child_index(view)))

    def _title(self) -> None:
        place = self.place
        where = ""
        if place is not None and place.row.id == self.row.id:
            if self.scope.lineage_of is not None:
                scope = " of this lineage"
            elif self.scope.prompt_id is not None:
                scope = " of this prompt"
            else:
                scope = ", newest first"
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

    # -- lineage ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="lineage", exit_on_error=False)
    def _load_lineage(self, ticket: int, generation_id: int) -> None:
        view = self.services.history.lineage(generation_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._lineage_loaded, ticket, view)

    def _lineage_loaded(self, ticket: int, view: LineageView) -> None:
        if not self._lineages.is_newest(ticket) or view.row.id != self.row.id:
            return
        self.lineage = view
        self._show_lineage()
        self.refresh_bindings()

    def _next_child_index(self, view: LineageView) -> int | None:
        """Where ``n`` goes: the child after the one visited last (the first, at first)."""
        ids = [row.id for row in image_children(view)]
        if not ids:
            return None
        visited = self._child_visited.get(view.row.id)
        return (ids.index(visited) + 1) % len(ids) if visited in ids else 0

    def _current_lineage(self) -> LineageView | None:
        view = self.lineage
        return view if view is not None and view.row.id == self.row.id else None

    @work(thread=True, exclusive=True, group="image", exit_on_error=False)
    def _walk(self, ticket: int, scope: ImageScope, generation_id: int) -> None:
        """Go to ``generation_id`` in the scope shown, or else in its lineage's (so ←/→ still
        step through something that holds it)."""
        history = self.services.history
        place = history.image_place(scope, generation_id)
        if place is None and scope.lineage_of is None:
            scope = ImageScope(lineage_of=generation_id)
            place = history.image_place(scope, generation_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._walked, ticket, scope, place)

    def _walked(self, ticket: int, scope: ImageScope, place: ImagePlace | None) -> None:
        if not self._steps.is_newest(ticket):
            return
        if place is None:
            self.app.bell()
            return
        self.scope = scope
        self.place = place
        self._show(place.row)

    def action_parent(self) -> None:
        view = self._current_lineage()
        parent = view.parent if view is not None else None
        if view is None or parent is None:
            return
        # Back down, n goes on to the next sibling of the image left: p, n, p, n cycles them.
        self._child_visited[parent.id] = view.row.id
        self._walk(self._steps.take(), self.scope, parent.id)

    def action_child(self) -> None:
        view = self._current_lineage()
        index = self._next_child_index(view) if view is not None else None
        if view is None or index is None:
            return
        child = image_children(view)[index]
        self._child_visited[view.row.id] = child.id
        self._walk(self._steps.take(), self.scope, child.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("parent", "child", "lineage", "edit", "branch"):
            return self._check_lineage_action(action)
        if action == "add":
            return True if self.row.is_image else None
        if action == "step":
            place = self.place
            if place is None or not parameters:
                return True
            return (place.has_older if parameters[0] == 1 else place.has_newer) or None
        if action in ("open", "copy"):
            return True if self.row.generation.file_path else None
        return True

    def _check_lineage_action(self, action: str) -> bool | None:
        view = self._current_lineage()
        if action == "parent":
            return view is not None and view.parent is not None
        if action == "child":
            return view is not None and bool(image_children(view))
        if action == "lineage":
            return shows_lineage(view)
        branched = view is not None and bool(image_children(view))
        if (action == "branch") != branched:
            return False  # the other of the two e bindings is the one shown
        return True if self.row.is_image else None

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
        self.post_message(
            ReusePrompt(
                self.row.prompt_text,
                reuse_params(self.row.generation),
                prompt_id=self.row.prompt_id,
            )
        )

    def _start_edit(self, *, add: bool) -> None:
        if self.row.is_image:
            params = reuse_params(self.row.generation)
            self.post_message(StartEdit(self.row.id, self.row.prompt_text, params, add=add))

    def action_edit(self) -> None:
        self._start_edit(add=False)

    def action_branch(self) -> None:
        self._start_edit(add=False)

    def action_add(self) -> None:
        self._start_edit(add=True)

    def action_lineage(self) -> None:
        self.dismiss(self.row.id)

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in ("image", "lineage"):
            return
        error = event.worker.error
        show_failure(self, error, "Image")
