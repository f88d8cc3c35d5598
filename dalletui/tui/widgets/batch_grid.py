"""A batch's prompts as a grid of small cards that fill in as their images arrive.

One screenful (page) at a time, as in the History gallery: terminal graphics stay cheap and the
number of image widgets bounded. Cards are updated in place when an item moves on (only a card
whose image changed gets a new image widget), so a running batch does not flicker. Thumbnails
are decoded and scaled off the UI thread by the image widgets themselves (``ImageView``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from dalletui.formatting import shorten
from dalletui.textsafe import printable
from dalletui.tui import graphics

if TYPE_CHECKING:
    from dalletui.services.batches import BatchItem, Generation


#: The thumbnail's box in cells, and a card's outer size (box, two caption lines, the border).
THUMB_BOX = (16, 8)
CARD_WIDTH = THUMB_BOX[0] + 2
CARD_HEIGHT = THUMB_BOX[1] + 4
GUTTER = 1
MUTED = "$foreground-muted"

#: How each item status is shown on its card: a mark, a word, and a style.
STATUS_LOOK: dict[str, tuple[str, str, str]] = {
    "planned": ("·", "waiting", MUTED),
    "running": ("…", "sending", "bold $accent"),
    "succeeded": ("✓", "done", "$success"),
    "failed": ("✗", "failed", "bold $error"),
    "possibly_billed": ("?", "maybe billed", "bold $warning"),
    "interrupted": ("!", "interrupted", "bold $warning"),
}


def status_look(status: str) -> tuple[str, str, str]:
    return STATUS_LOOK.get(status, ("·", status, MUTED))


@dataclass(frozen=True)
class BatchEntry:
    """What one card shows: an item of the batch and the image to show for it."""

    item_id: int
    position: int
    text: str
    choice: dict[str, str]
    status: str
    error: str | None
    generation_id: int | None
    thumbnail: str | None

    @classmethod
    def of(
        cls, item: BatchItem, generation: Generation | None, order: Sequence[str] = ()
    ) -> BatchEntry:
        """``order``: the names in the body's order (the stored choice is sorted by name)."""
        choice = _choice(item.choice)
        ranked = {name: index for index, name in enumerate(order)}
        choice = dict(sorted(choice.items(), key=lambda pair: ranked.get(pair[0], len(ranked))))
        good = generation is not None and generation.status == "succeeded"
        path = (generation.thumbnail_path or generation.file_path) if good else None
        return cls(
            item_id=int(item.id),
            position=int(item.position),
            text=str(item.text),
            choice=choice,
            status=str(item.status),
            error=item.error,
            generation_id=int(generation.id) if generation is not None else None,
            thumbnail=str(path) if path else None,
        )

    @property
    def caption(self) -> str:
        """The values that make this prompt differ from its neighbours, else its start."""
        values = [value for value in self.choice.values() if value]
        return " · ".join(values) if values else self.text


def names_in_order(body: str) -> list[str]:
    """The placeholders and alternatives (``#1``...) of ``body``, first appearance first."""
    from dalletui.services.templates import scan

    return list(dict.fromkeys(t.value for t in scan(body) if t.kind in ("placeholder", "choice")))


def _choice(value: object) -> dict[str, str]:
    """An item's choice (name -> value) as text."""
    if not isinstance(value, dict):
        return {}
    return {str(name): str(chosen) for name, chosen in value.items()}


class BatchCard(Vertical, can_focus=True):
    """One prompt of the batch: its image (or where it stands) and what makes it differ."""

    @dataclass
    class Chosen(Message):
        """Enter or a double click: put this card's prompt into Compose."""

        card: BatchCard

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "choose",
            "Use prompt",
            id="batch-card.use",
            tooltip="Open Compose with this prompt",
        ),
    ]

    def __init__(self, entry: BatchEntry) -> None:
        super().__init__(classes="batch-card")
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical(classes="batch-thumb-box"):
            yield self._picture()
        yield Static(classes="batch-card-caption")

    def on_mount(self) -> None:
        self._labels()

    def _picture(self) -> Static:
        entry = self.entry
        if entry.thumbnail:
            return graphics.of(self).preview(entry.thumbnail, classes="thumb", box=THUMB_BOX)  # type: ignore[return-value]
        mark, word, style = status_look(entry.status)
        return Static(Content.styled(f"{mark} {word}", style), classes="batch-thumb-state")

    def _labels(self) -> None:
        entry = self.entry
        mark, word, style = status_look(entry.status)
        self.border_title = f"#{entry.position + 1}"
        self.border_subtitle = Content.styled(f"{mark} {word}", style)
        caption = shorten(printable(entry.caption, single_line=True), 2 * THUMB_BOX[0])
        self.query_one(".batch-card-caption", Static).update(Content(caption))
        tip = printable(entry.text)
        if entry.error:
            tip += "\n\n" + printable(entry.error)
        self.tooltip = tip
        for status in STATUS_LOOK:
            self.set_class(entry.status == status, f"-{status.replace('_', '-')}")

    def set_entry(self, entry: BatchEntry) -> None:
        """Show ``entry`` (the same item, moved on): a new image widget only if it changed."""
        old, self.entry = self.entry, entry
        if (old.thumbnail, old.status if not old.thumbnail else "") != (
            entry.thumbnail,
            entry.status if not entry.thumbnail else "",
        ):
            box = self.query_one(".batch-thumb-box", Vertical)
            box.remove_children()
            box.mount(self._picture())
        self._labels()

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self))

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(self.Chosen(self))


class BatchGrid(Vertical):
    """A title line over as many cards as fit; pgup/pgdn (or the arrows at an edge) page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="batch-grid.left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="batch-grid.right"),
        Binding("up,k", "move(0, -1)", "Up", show=False, id="batch-grid.up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="batch-grid.down"),
        Binding("pagedown", "page(1)", "Next page", show=False, id="batch-grid.next-page"),
        Binding("pageup", "page(-1)", "Previous page", show=False, id="batch-grid.previous-page"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.entries: list[BatchEntry] = []
        self.start = 0
        self._columns = 1
        self._page_len = 0
        self._batch_id: int | None = None
        self._page_cards: list[BatchCard] = []

    def compose(self) -> ComposeResult:
        yield Static(id="batch-grid-title")
        yield Grid(id="batch-grid-cards")

    # -- geometry ---------------------------------------------------------------------------

    def _fit(self) -> tuple[int, int]:
        width, height = self.content_size.width, self.content_size.height - 1
        columns = max(1, (width + GUTTER) // (CARD_WIDTH + GUTTER))
        rows = max(1, height // CARD_HEIGHT)
        return columns, rows

    def page_size(self) -> int:
        columns, rows = self._fit()
        return columns * rows

    def on_resize(self) -> None:
        size = self.page_size()
        if size != self._page_len and self.entries:
            self._show_page(keep_focus=False)

    # -- content ----------------------------------------------------------------------------

    def show(self, batch_id: int, entries: Sequence[BatchEntry]) -> None:
        """Show ``entries`` of ``batch_id``; the same batch keeps its page and focus."""
        if batch_id != self._batch_id:
            self._batch_id = batch_id
            self.start = 0
        self.entries = list(entries)
        self._show_page(keep_focus=True)

    def clear(self) -> None:
        self._batch_id = None
        self.entries = []
        self.start = 0
        self._show_page(keep_focus=False)

    def _show_page(self, *, keep_focus: bool) -> list[BatchCard]:
        """Show the page that starts at ``self.start``; returns its cards."""
        size = self.page_size()
        self._page_len = size
        if self.start >= len(self.entries):
            self.start = max(0, (len(self.entries) - 1) // size * size)
        page = self.entries[self.start : self.start + size]
        columns, _ = self._fit()
        self._columns = columns
        grid = self.query_one("#batch-grid-cards", Grid)
        grid.styles.grid_size_columns = columns
        cards = self._page_cards
        if [card.entry.item_id for card in cards] == [entry.item_id for entry in page]:
            for card, entry in zip(cards, page, strict=True):
                if card.entry != entry:
                    card.set_entry(entry)
        else:
            focused = self.focused_card
            index = cards.index(focused) if focused is not None else None
            cards = [BatchCard(entry) for entry in page]
            self._page_cards = cards
            with self.app.batch_update():
                grid.remove_children()
                if cards:
                    grid.mount_all(cards)
            if keep_focus and index is not None and cards:
                self.call_after_refresh(cards[max(0, min(index, len(cards) - 1))].focus)
        grid.display = bool(page)
        self._title(len(page))
        return cards

    def _title(self, shown: int) -> None:
        count = len(self.entries)
        if not count:
            self.query_one("#batch-grid-title", Static).update("")
            return
        first = self.start + 1
        pages = max(1, -(-count // max(1, self._page_len)))
        page = self.start // max(1, self._page_len) + 1
        text = Content.assemble(
            ("Prompts", "bold"),
            (f" · {first:,}–{first + shown - 1:,} of {count:,}", MUTED),
            (f" · page {page} of {pages}" if pages > 1 else "", MUTED),
            ("  ←↑↓→ move · enter use · pgup/pgdn pages" if pages > 1 else "", MUTED),
        )
        self.query_one("#batch-grid-title", Static).update(text)

    @property
    def cards(self) -> list[BatchCard]:
        """The cards of the page shown."""
        return list(self._page_cards)

    @property
    def focused_card(self) -> BatchCard | None:
        focused = self.screen.focused
        return focused if isinstance(focused, BatchCard) and focused in self.cards else None

    def focus_cards(self) -> bool:
        cards = self.cards
        if cards:
            cards[0].focus()
        return bool(cards)

    # -- keys --------------------------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        cards = self.cards
        if not cards:
            return
        card = self.focused_card
        index = cards.index(card) if card is not None else 0
        target = index + dx + dy * self._columns
        if target < 0:
            if self.start > 0:
                self._turn(-1, last=True)
        elif target >= len(cards):
            if self.start + len(cards) < len(self.entries):
                self._turn(1)
            elif dy and index // self._columns < (len(cards) - 1) // self._columns:
                cards[-1].focus()
        else:
            cards[target].focus()

    def action_page(self, direction: int) -> None:
        self._turn(direction)

    def _turn(self, direction: int, *, last: bool = False) -> None:
        size = max(1, self._page_len)
        start = self.start + direction * size
        if start < 0 or start >= len(self.entries):
            return
        self.start = start
        cards = self._show_page(keep_focus=False)
        if cards:
            target = cards[-1] if last else cards[0]
            self.call_after_refresh(target.focus)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._turn(1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._turn(-1)
