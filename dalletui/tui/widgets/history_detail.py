"""The History screen's detail pane: one prompt in full, with its generations as thumbnails.

The pane shows what it is handed. The prompt's own fields come with the list row (instant);
its generations arrive later from a worker, for the prompt still shown, or are ignored. Each
image is a card that takes the focus; enter on it opens the image view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from dalletui.formatting import format_money, humanize_age
from dalletui.services.organize import Labels
from dalletui.textsafe import printable, printable_message
from dalletui.tui import graphics
from dalletui.tui.widgets.results import kind_label

if TYPE_CHECKING:
    from dalletui.services.history import Generation, GenerationRow, PromptRow, UsageStat
    from dalletui.services.prompt_diff import DiffSegment
    from dalletui.services.versions import FamilyView

MUTED = "$foreground-muted"
#: How a word diff against the parent is drawn (never colour alone: struck, and underlined).
DELETED = "strike $text-error"
INSERTED = "underline $text-success"
#: Cells a thumbnail occupies (square at the usual 1:2 cell shape); the box never changes,
#: so the image is scaled once and not redrawn while the selection moves.
THUMB_BOX = (20, 10)
#: A prompt may have hundreds of images; the pane shows the newest and points to the gallery.
MAX_GENERATIONS = 12
_STATUS_MARK = {
    "succeeded": ("✓", "$text-success"),
    "failed": ("✗", "$text-error"),
    "cancelled": ("■", "$text-warning"),
    "interrupted": ("!", "$text-warning"),
    "pending": ("…", MUTED),
}


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def cost_text(generation: Generation, usage: UsageStat | None = None) -> Content:
    """Cost of one generation (``usage``: its ledger row): offline is free, unknown says so."""
    if generation.offline:
        return Content.styled("offline", MUTED)
    if generation.imported:  # another tool's image: no cost of ours
        return Content.styled(
            f"imported from {printable(generation.provider, single_line=True)}", MUTED
        )
    if usage is None:
        if generation.status != "succeeded":
            return Content("")
        return Content.styled("cost unknown", "$text-warning")
    if usage.cost is None:
        return Content.styled("cost unknown", "$text-warning")
    return Content(format_money(usage.cost))


def _status_label(row: GenerationRow) -> str:
    """``Cancelled · 10 images asked``, ``Rate limit · 2 of 4 images not returned``."""
    generation = row.generation
    label = generation.status.replace("_", " ").capitalize()
    if generation.status == "failed" or generation.error_kind:
        label = kind_label(generation.error_kind) if generation.error_kind else label
    if row.partial:
        return f"{label} · {row.rows:,} of {row.asked:,} images not returned"
    if row.asked > 1:
        return f"{label} · {plural(row.asked, 'image')} asked"
    return label


def generation_lines(row: GenerationRow) -> Content:
    """The text beside a thumbnail: what was asked, what happened, what it cost."""
    generation = row.generation
    mark, colour = _STATUS_MARK.get(generation.status, ("?", MUTED))
    head = Content.assemble(
        (printable(generation.model, single_line=True), "bold"),
        ("  ", ""),
        (printable(generation.dimensions, single_line=True), MUTED),
    )
    if generation.status == "succeeded":
        facts = Content.assemble(
            (f"{mark} ", colour),
            printable(f"{generation.quality} · {generation.output_format}", single_line=True),
            (f" · {generation.duration_display}", MUTED),
        )
        cost = cost_text(generation, row.usage)
        when = Content.styled(humanize_age(generation.created_at), MUTED)
        tail = Content.assemble(cost, (" · ", MUTED), when) if cost.plain else when
        return Content("\n").join([head, facts, tail])
    lines = [head, Content.assemble((f"{mark} {_status_label(row)}", f"bold {colour}"))]
    said = (generation.error_message or "").strip().rstrip(".").lower()
    if said and said != generation.status.replace("_", " "):  # not "Cancelled" twice
        # Server text: rows written before redaction existed may still echo a key.
        lines.append(Content.styled(printable_message(generation.error_message), colour))
    lines.append(Content.styled(humanize_age(generation.created_at), MUTED))
    return Content("\n").join(lines)


def generations_title(rows: Sequence[GenerationRow]) -> Content:
    """``2 generations · 1 cancelled request``: images, then requests without one, by status."""
    images = sum(1 for row in rows if row.is_image)
    parts: list[str | tuple[str, str]] = [(plural(images, "generation"), "bold")]
    without: dict[str, int] = {}
    for row in rows:
        if not row.is_image:
            word = "under way" if row.status == "pending" else row.status.replace("_", " ")
            without[word] = without.get(word, 0) + 1
    for word, count in without.items():
        if word == "under way":
            parts.append((f" · {plural(count, 'request')} under way", MUTED))
        else:
            parts.append((f" · {count:,} {word} request{'' if count == 1 else 's'}", MUTED))
    if len(rows) > MAX_GENERATIONS:
        parts.append((f" · newest {MAX_GENERATIONS} shown, g for all", MUTED))
    return Content.assemble(*parts)


class GenerationCard(Horizontal):
    """One generation: its thumbnail (when there is an image) beside its facts.

    An image's card takes the focus; enter (or a double click) asks for the image view.
    """

    HELP_TITLE: ClassVar[str] = "Image in the detail pane"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "choose",
            "View",
            id="history-detail.view",
            tooltip="Open the image: large, with its parameters, cost and file",
        ),
    ]

    @dataclass
    class Chosen(Message):
        """The user asked to view this card's image."""

        card: GenerationCard

    def __init__(self, row: GenerationRow) -> None:
        super().__init__(classes=f"generation-card -{row.status}")
        self.row = row
        self.can_focus = row.is_image

    @property
    def generation(self) -> Generation:
        return self.row.generation

    def compose(self) -> ComposeResult:
        row = self.row
        if row.is_image:
            with Vertical(classes="thumb-box"):
                yield graphics.of(self).preview(
                    row.generation.thumbnail_path, classes="thumb", box=THUMB_BOX
                )
        yield Static(generation_lines(row), classes="generation-facts")

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self))

    def on_click(self, event: events.Click) -> None:
        if self.row.is_image and event.chain == 2:
            self.post_message(self.Chosen(self))


class PromptDetail(VerticalScroll):
    """Full text, use, favourite and generations of the highlighted prompt."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.prompt_id: int | None = None
        self.rows: list[GenerationRow] = []
        #: The versions around the prompt shown (None until loaded, or when it has none).
        self.family: FamilyView | None = None
        #: Its tags, collections and note, and the prompt they belong to (None: not loaded).
        self.labels = Labels([], [], "")
        self.labels_of: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-text", classes="detail-text")
        yield Static(id="detail-meta", classes="detail-meta")
        yield Static(id="detail-labels", classes="detail-family")
        yield Static(id="detail-family", classes="detail-family")
        yield Static(id="detail-generations-title", classes="detail-section")
        yield Vertical(id="detail-generations")

    def on_mount(self) -> None:
        self.border_title = "Prompt"

    # -- the prompt (instant) -------------------------------------------------------------

    def show_prompt(self, prompt: PromptRow | None, empty: str = "") -> None:
        """Show a prompt's own fields at once; its generations follow via ``show_generations``."""
        changed = prompt is None or prompt.id != self.prompt_id
        self.prompt_id = None if prompt is None else prompt.id
        text = self.query_one("#detail-text", Static)
        meta = self.query_one("#detail-meta", Static)
        title = self.query_one("#detail-generations-title", Static)
        if prompt is None:
            self.border_title = "Prompt"
            self.border_subtitle = ""
            text.update(Content.styled(empty or "Nothing selected.", MUTED))
            meta.update("")
            title.update("")
            self._clear_generations()
            self.show_family(None, None)
            self.show_labels(None, None)
            return
        self.border_title = f"Prompt #{prompt.id}"
        text.update(Content(printable(prompt.text)))
        meta.update(self._meta(prompt))
        if changed:
            self.show_family(prompt.id, None)
            self.show_labels(prompt.id, None)
            self.scroll_home(animate=False)
            if not prompt.has_generations:
                self._clear_generations()
                title.update(Content.styled("No images yet: enter opens it in Compose.", MUTED))
            else:
                self.query_one("#detail-generations").set_class(True, "-stale")
                title.update(Content.styled(f"{_counted(prompt)} · loading…", MUTED))

    def show_favorite(self, prompt: PromptRow) -> None:
        if prompt.id == self.prompt_id:
            self.query_one("#detail-meta", Static).update(self._meta(prompt))

    @staticmethod
    def _meta(prompt: PromptRow) -> Content:
        star = (
            Content.styled("★ Favourite", "bold $text-warning")
            if prompt.is_favorite
            else Content.styled("☆ Not a favourite (f)", MUTED)
        )
        used = Content.assemble(
            (f"Used {plural(prompt.use_count, 'time')}", ""),
            (" · first ", MUTED),
            humanize_age(prompt.created_at),
            (" · last ", MUTED),
            humanize_age(prompt.last_used_at),
        )
        return Content("\n").join([star, used])

    # -- its versions (after a worker) ---------------------------------------------------

    def show_family(self, prompt_id: int | None, family: FamilyView | None) -> None:
        """Show the parent, children and word diff of ``prompt_id`` if it is still shown."""
        if prompt_id != self.prompt_id:
            return
        self.family = family if family is not None and family.has_family else None
        box = self.query_one("#detail-family", Static)
        box.update(family_content(self.family) if self.family is not None else "")
        box.display = self.family is not None

    def show_labels(self, prompt_id: int | None, labels: Labels | None) -> None:
        """Show the tags, collections and note of ``prompt_id`` if it is still shown."""
        if prompt_id != self.prompt_id:
            return
        self.labels = labels if labels is not None else Labels([], [], "")
        self.labels_of = prompt_id if labels is not None else None
        box = self.query_one("#detail-labels", Static)
        box.update(labels_content(self.labels) if self.labels else "")
        box.display = bool(self.labels)

    # -- its generations (after a worker) ------------------------------------------------

    def show_generations(self, prompt_id: int, rows: Sequence[GenerationRow]) -> None:
        """Show the generations of ``prompt_id`` if it is still the prompt on display."""
        if prompt_id != self.prompt_id:
            return
        self.rows = list(rows)
        title = self.query_one("#detail-generations-title", Static)
        box = self.query_one("#detail-generations", Vertical)
        if not rows:
            title.update(Content.styled("No images yet: enter opens it in Compose.", MUTED))
        else:
            title.update(generations_title(rows))
        cards: list[Widget] = [GenerationCard(row) for row in rows[:MAX_GENERATIONS]]
        with self.app.batch_update():
            box.remove_children()
            box.set_class(False, "-stale")
            if cards:
                box.mount_all(cards)

    @property
    def images(self) -> list[GenerationRow]:
        """The images of the prompt shown (all loaded, not only the cards on display)."""
        return [row for row in self.rows if row.is_image]

    @property
    def focused_card(self) -> GenerationCard | None:
        focused = self.screen.focused
        if isinstance(focused, GenerationCard) and self in focused.ancestors:
            return focused
        return None

    def _clear_generations(self) -> None:
        self.rows = []
        box = self.query_one("#detail-generations", Vertical)
        box.set_class(False, "-stale")
        box.remove_children()


def _counted(prompt: PromptRow) -> str:
    """What the list row already knows: ``2 generations · 1 request without image``."""
    text = plural(prompt.generation_count, "generation")
    failed = prompt.failed_requests + prompt.pending_requests
    if failed:
        text += f" · {plural(failed, 'request')} without image"
    return text


def labels_content(labels: Labels) -> Content:
    """``Tags portrait · fox`` / ``In Client work`` / ``Note …``, one line each, muted names."""
    lines = []
    for name, values in (
        ("Tags ", labels.tags),
        ("In ", labels.collections),
        ("Note ", [labels.note] if labels.note else []),
    ):
        if values:
            text = " · ".join(printable(v, single_line=name != "Note ") for v in values)
            lines.append(Content.assemble((name, MUTED), (text, "")))
    return Content("\n").join(lines)


def diff_content(segments: Sequence[DiffSegment]) -> Content:
    """A word diff drawn: deletions struck through in red, insertions underlined in green."""
    style = {"delete": DELETED, "insert": INSERTED, "equal": ""}
    parts: list[tuple[str, str]] = []
    for index, segment in enumerate(segments):
        parts.append((printable(segment.text), style[segment.kind]))
        after = segments[index + 1] if index + 1 < len(segments) else None
        if segment.kind == "delete" and after is not None and after.kind == "insert":
            parts.append((" ", ""))  # "storm at dawn", not "stormat dawn"
    return Content.assemble(*parts)


def family_content(family: FamilyView) -> Content:
    """``Version of #12 · 2 children (#15, #18) · p parent · n child`` and the diff."""
    parts: list[Content] = []
    parent = family.parent
    if parent is not None:
        parts.append(Content.assemble(("Version of ", MUTED), (f"#{parent.id}", "bold")))
        if len(family.ancestors) > 1:
            parts.append(Content.styled(f"{len(family.ancestors)} versions before it", MUTED))
    elif family.parent_trashed:
        parts.append(Content.styled("Made from a prompt in the trash", MUTED))
    else:
        parts.append(Content.styled("First version", MUTED))
    if family.child_count:
        shown = ", ".join(f"#{child.id}" for child in family.children[:5])
        more = "…" if family.child_count > 5 else ""
        children = "child" if family.child_count == 1 else "children"
        parts.append(
            Content.assemble(
                (f"{family.child_count:,} {children}", ""),
                (f" ({shown}{more})", MUTED),
            )
        )
    keys = [key for key, ok in (("p parent", parent), ("n child", family.children)) if ok]
    if keys:
        parts.append(Content.styled(" · ".join(keys), MUTED))
    line = Content(" · ").join(parts)
    if parent is None or not family.prompt.diff:
        return line
    return Content("\n").join(
        [line, Content.assemble(("Changed: ", MUTED), diff_content(family.prompt.diff))]
    )
