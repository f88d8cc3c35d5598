"""The History screen's detail pane: one prompt in full, with its generations as thumbnails.

The pane shows what it is handed. The prompt's own fields come with the list row (instant);
its generations arrive later from a worker, for the prompt still shown, or are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from dalletui.formatting import format_money, humanize_age
from dalletui.textsafe import printable, printable_message
from dalletui.tui import graphics
from dalletui.tui.widgets.results import kind_label

if TYPE_CHECKING:
    from dalletui.services.history import Generation, Prompt

MUTED = "$foreground-muted"
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


def cost_text(generation: Generation) -> Content:
    """Cost of one generation: offline is free, unknown stays visibly unknown."""
    usage = getattr(generation, "usage_row", None)
    if generation.offline:
        return Content.styled("offline", MUTED)
    if getattr(generation, "imported", False):  # another tool's image: no cost of ours
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


def generation_lines(generation: Generation) -> Content:
    """The text beside a thumbnail: what was asked, what happened, what it cost."""
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
        cost = cost_text(generation)
        when = Content.styled(humanize_age(generation.created_at), MUTED)
        tail = Content.assemble(cost, (" · ", MUTED), when) if cost.plain else when
        return Content("\n").join([head, facts, tail])
    label = generation.status.capitalize()
    if generation.status == "failed" or generation.error_kind:
        label = kind_label(generation.error_kind) if generation.error_kind else label
    lines = [
        head,
        Content.assemble((f"{mark} {label}", f"bold {colour}")),
    ]
    if generation.error_message:
        # Server text: rows written before redaction existed may still echo a key.
        lines.append(Content.styled(printable_message(generation.error_message), colour))
    lines.append(Content.styled(humanize_age(generation.created_at), MUTED))
    return Content("\n").join(lines)


class GenerationCard(Horizontal):
    """One generation: its thumbnail (when there is an image) beside its facts."""

    def __init__(self, generation: Generation) -> None:
        classes = f"generation-card -{generation.status}"
        super().__init__(classes=classes)
        self.generation = generation

    def compose(self) -> ComposeResult:
        generation = self.generation
        if generation.status == "succeeded":
            with Vertical(classes="thumb-box"):
                yield graphics.preview(generation.thumbnail_path, classes="thumb", box=THUMB_BOX)
        yield Static(generation_lines(generation), classes="generation-facts")


class PromptDetail(VerticalScroll):
    """Full text, use, favourite and generations of the highlighted prompt."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.prompt_id: int | None = None
        self.generations: list[Generation] = []

    def compose(self) -> ComposeResult:
        yield Static(id="detail-text", classes="detail-text")
        yield Static(id="detail-meta", classes="detail-meta")
        yield Static(id="detail-generations-title", classes="detail-section")
        yield Vertical(id="detail-generations")

    def on_mount(self) -> None:
        self.border_title = "Prompt"

    # -- the prompt (instant) -------------------------------------------------------------

    def show_prompt(self, prompt: Prompt | None, empty: str = "") -> None:
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
            return
        self.border_title = f"Prompt #{prompt.id}"
        text.update(Content(printable(prompt.text)))
        meta.update(self._meta(prompt))
        count = getattr(prompt, "generation_count", 0) or 0
        if changed:
            self.scroll_home(animate=False)
            if count == 0:
                self._clear_generations()
                title.update(Content.styled("No images yet: enter opens it in Compose.", MUTED))
            else:
                self.query_one("#detail-generations").set_class(True, "-stale")
                title.update(Content.styled(f"{plural(count, 'generation')} · loading…", MUTED))

    def show_favorite(self, prompt: Prompt) -> None:
        if prompt.id == self.prompt_id:
            self.query_one("#detail-meta", Static).update(self._meta(prompt))

    @staticmethod
    def _meta(prompt: Prompt) -> Content:
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

    # -- its generations (after a worker) ------------------------------------------------

    def show_generations(self, prompt_id: int, generations: Sequence[Generation]) -> None:
        """Show the generations of ``prompt_id`` if it is still the prompt on display."""
        if prompt_id != self.prompt_id:
            return
        self.generations = list(generations)
        title = self.query_one("#detail-generations-title", Static)
        box = self.query_one("#detail-generations", Vertical)
        if not generations:
            title.update(Content.styled("No images yet: enter opens it in Compose.", MUTED))
        else:
            failed = sum(1 for g in generations if g.status != "succeeded")
            parts: list[str | tuple[str, str]] = [(plural(len(generations), "generation"), "bold")]
            if failed:
                parts.append((f" · {failed:,} without image", MUTED))
            if len(generations) > MAX_GENERATIONS:
                parts.append((f" · newest {MAX_GENERATIONS} shown, g for all", MUTED))
            title.update(Content.assemble(*parts))
        cards: list[Widget] = [GenerationCard(g) for g in generations[:MAX_GENERATIONS]]
        with self.app.batch_update():
            box.remove_children()
            box.set_class(False, "-stale")
            if cards:
                box.mount_all(cards)

    def _clear_generations(self) -> None:
        self.generations = []
        box = self.query_one("#detail-generations", Vertical)
        box.set_class(False, "-stale")
        box.remove_children()
