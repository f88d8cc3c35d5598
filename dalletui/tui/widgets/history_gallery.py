"""The gallery's grid: images, newest first, one screenful (page) at a time.

Paging rather than scrolling keeps terminal graphics cheap (a sixel image is re-sent on every
redraw) and the number of image widgets bounded. The gallery asks its screen for pages with
``PageRequest`` and says when the number of cards that fit changes with ``Resized``; the screen
loads pages by keyset and hands them back with ``show_page``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from dalletui.formatting import humanize_age, shorten
from dalletui.textsafe import printable
from dalletui.tui import graphics
from dalletui.tui.widgets.history_detail import MUTED, THUMB_BOX, cost_text

if TYPE_CHECKING:
    from dalletui.services.history import Generation, GenerationRow, Page


@dataclass(frozen=True)
class FocusImage:
    """Focus the card of this image when it is on the page shown (else the nearest place)."""

    generation_id: int
    index: int = 0


#: Which card gets the focus when a page is shown: the first, the last, none, a place on the
#: page (after the card there was trashed; clamped to the cards shown), or one image.
GalleryFocus = Literal["first", "last", "none"] | int | FocusImage

#: Outer size of one card in cells (thumbnail, two lines of prompt, two of facts, border).
CARD_WIDTH = 24
CARD_HEIGHT = 16
GUTTER = 1


class GalleryCard(Vertical, can_focus=True):
    """One image: thumbnail, the start of its prompt, model, size and cost.

    The card keeps its own favourite state (``favorite``); the row it shows is never changed.
    """

    HELP_TITLE: ClassVar[str] = "Gallery card"

    @dataclass
    class Chosen(Message):
        """The card was double-clicked."""

        card: GalleryCard

    def __init__(self, row: GenerationRow) -> None:
        super().__init__(classes="gallery-card")
        self.row = row
        self.favorite = row.prompt_favorite

    @property
    def generation(self) -> Generation:
        return self.row.generation

    @property
    def generation_id(self) -> int:
        return self.row.id

    @property
    def prompt_id(self) -> int:
        return self.row.prompt_id

    @property
    def prompt_text(self) -> str:
        return self.row.prompt_text

    def compose(self) -> ComposeResult:
        generation = self.row.generation
        with Vertical(classes="thumb-box"):
            layer = graphics.of(self)
            yield layer.preview(generation.thumbnail_path, classes="thumb", box=THUMB_BOX)
        flat = printable(self.prompt_text, single_line=True)
        yield Static(Content(shorten(flat, 2 * (CARD_WIDTH - 4))), classes="card-prompt")
        cost = cost_text(generation, self.row.usage)
        facts = Content.assemble(
            (printable(generation.model, single_line=True), "bold"),
            "\n",
            (printable(generation.dimensions, single_line=True), MUTED),
            (" · ", MUTED) if cost.plain else "",
            cost,
        )
        yield Static(facts, classes="card-facts")

    def on_mount(self) -> None:
        self._titles()

    def set_favorite(self, on: bool) -> None:
        self.favorite = on
        self._titles()

    def _titles(self) -> None:
        self.border_title = "★" if self.favorite else ""
        self.border_subtitle = humanize_age(self.row.generation.created_at)
        self.set_class(self.favorite, "-favorite")

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(self.Chosen(self))


class Gallery(Vertical):
    """A title line over a grid of cards sized to the space available."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="gallery.left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="gallery.right"),
        Binding("up,k", "move(0, -1)", "Up", show=False, id="gallery.up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="gallery.down"),
        Binding(
            "pagedown",
            "page(1)",
            "Next page",
            show=False,
            id="gallery.next-page",
            tooltip="Older images",
        ),
        Binding(
            "pageup",
            "page(-1)",
            "Previous page",
            show=False,
            id="gallery.previous-page",
            tooltip="Newer images",
        ),
    ]

    @dataclass
    class PageRequest(Message):
        """Show the next (``1``) or previous (``-1``) page; focus its first or last card."""

        gallery: Gallery
        direction: int
        focus: Literal["first", "last"] = "first"

    @dataclass
    class Resized(Message):
        """The number of cards that fit changed (also sent when first laid out)."""

        gallery: Gallery
        page_size: int

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._page_size = 0
        self.page: Page[GenerationRow] | None = None
        self.narrowed = ""
        #: The title's head instead of "Images" ("Lineage of #12"); set by the screen.
        self.heading = ""
        self._columns = 1

    def compose(self) -> ComposeResult:
        yield Static(id="gallery-title")
        yield Grid(id="gallery-grid")
        yield Static(id="gallery-empty")

    # -- geometry ---------------------------------------------------------------------------

    def page_size(self) -> int:
        """How many cards fit in the grid now (at least one)."""
        columns, rows = self._fit()
        return columns * rows

    def _fit(self) -> tuple[int, int]:
        # The grid is everything under the one-line title.
        width, height = self.content_size.width, self.content_size.height - 1
        columns = max(1, (width + GUTTER) // (CARD_WIDTH + GUTTER))
        rows = max(1, height // CARD_HEIGHT)
        return columns, rows

    @property
    def measured(self) -> bool:
        """True once the gallery has been laid out (its page size means something)."""
        return self.content_size.area > 0

    def on_resize(self) -> None:
        size = self.page_size()
        if size != self._page_size:
            self._page_size = size
            self.post_message(self.Resized(self, size))

    # -- content ----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.page is not None

    @property
    def rows(self) -> list[GenerationRow]:
        return list(self.page.items) if self.page is not None else []

    @property
    def has_more(self) -> bool:
        return self.page is not None and self.page.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.page is not None and self.page.previous_cursor is not None

    def show_page(
        self,
        page: Page[GenerationRow],
        *,
        focus: GalleryFocus = "first",
    ) -> None:
        """Replace the cards with one page."""
        self.page = page
        columns, _ = self._fit()
        self._columns = columns
        grid = self.query_one("#gallery-grid", Grid)
        grid.styles.grid_size_columns = columns
        cards = [GalleryCard(row) for row in page.items]
        had_focus = self.has_focus_within
        with self.app.batch_update():
            grid.remove_children()
            if cards:
                grid.mount_all(cards)
            self._title()
            grid.display = bool(cards)
            empty = self.query_one("#gallery-empty", Static)
            empty.display = not cards
            empty.update(self._empty_text())
        target = self._focus_target(cards, focus)
        if target is not None and (focus != "none" or had_focus):
            self.call_after_refresh(target.focus)

    @staticmethod
    def _focus_target(cards: list[GalleryCard], focus: GalleryFocus) -> GalleryCard | None:
        if not cards:
            return None
        if isinstance(focus, FocusImage):
            for card in cards:
                if card.generation_id == focus.generation_id:
                    return card
            return cards[max(0, min(focus.index, len(cards) - 1))]
        if isinstance(focus, int):
            return cards[max(0, min(focus, len(cards) - 1))]
        return cards[-1] if focus == "last" else cards[0]

    def _empty_text(self) -> Content:
        page = self.page
        if page is not None and page.total:
            return Content.styled("No more images here: pgup goes back.", MUTED)
        if self.heading:
            return Content.styled("No image left here (in the trash?).\nescape goes back.", MUTED)
        if self.narrowed:
            return Content.styled(
                "No image matches the search and filters.\nescape goes back to change them.",
                MUTED,
            )
        return Content.styled(
            "No images yet.\nGenerate one in Compose (F2); it will show here.", MUTED
        )

    def _title(self) -> None:
        page = self.page
        head = Content.styled(f"{self.heading or 'Images'}, newest first", "bold")
        narrowed = (
            Content.styled(f" · {printable(self.narrowed, single_line=True)}", "$text-accent")
            if self.narrowed
            else Content("")
        )
        if page is None or not page.items:
            text = Content.assemble(head, narrowed)
        else:
            first = page.offset + 1
            last = page.offset + len(page.items)
            total = f" of {page.total:,}" if page.total is not None else ""
            keys = "←↑↓→ move · enter view · pgup/pgdn pages"
            text = Content.assemble(
                head,
                narrowed,
                (f" · {first:,}–{last:,}{total}", MUTED),
                ("  " + keys, MUTED),
            )
        self.query_one("#gallery-title", Static).update(text)

    @property
    def cards(self) -> list[GalleryCard]:
        return list(self.query(GalleryCard))

    @property
    def focused_card(self) -> GalleryCard | None:
        focused = self.screen.focused
        return focused if isinstance(focused, GalleryCard) and focused in self.cards else None

    def set_favorite(self, prompt_id: int, on: bool) -> None:
        for card in self.cards:
            if card.prompt_id == prompt_id:
                card.set_favorite(on)

    def focus_cards(self) -> None:
        cards = self.cards
        if cards:
            cards[0].focus()

    # -- keys --------------------------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        cards = self.cards
        if not cards:
            return
        card = self.focused_card
        index = cards.index(card) if card is not None else 0
        target = index + dx + dy * self._columns
        if target < 0:
            if self.has_previous:
                self.post_message(self.PageRequest(self, -1, "last"))
        elif target >= len(cards):
            if self.has_more:
                self.post_message(self.PageRequest(self, 1, "first"))
            elif dy and index // self._columns < (len(cards) - 1) // self._columns:
                self._focus(cards[-1])  # a short last row: down lands on its last card
        else:
            self._focus(cards[target])

    def _focus(self, card: GalleryCard) -> None:
        # At once: ``focus()`` waits for the next idle, and the next arrow key of a quick burst
        # (a held key, keys over SSH) would start again from the card it was meant to leave.
        self.screen.set_focus(card)

    def action_page(self, direction: int) -> None:
        if direction > 0 and self.has_more:
            self.post_message(self.PageRequest(self, 1, "first"))
        elif direction < 0 and self.has_previous:
            self.post_message(self.PageRequest(self, -1, "first"))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_page(1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_page(-1)
