"""The gallery: the images of the prompts History shows, newest first, a screenful at a time.

Opened from History with ``g``, it keeps History's search, ★-only, model and period filters
(search "fox", press g: only the fox images). It opens at the highlighted prompt's newest image
with that card focused, so enter works at once; a resize re-flows the page around the focused
image; ``d`` trashes only the focused image and ``u`` brings it back. Pages come by keyset
through the same ``KeysetPager`` as History's prompt list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Header
from textual.worker import Worker, WorkerState, get_current_worker

from dalletui.services.history import KeysetPager, PageAsk, reuse_params
from dalletui.services.trash import TrashRef
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.notices import show_failure, show_restored, show_trashed
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.history_gallery import (
    FocusImage,
    Gallery,
    GalleryCard,
    GalleryFocus,
)
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.history import GenerationRow, ImageScope, Page
    from dalletui.services.trash import TrashOutcome
    from dalletui.tui.history_state import UndoStack
    from dalletui.tui.widgets.history_filters import HistoryFilters

#: Worker groups whose failures this screen reports.
_GROUPS = ("gallery", "delete", "undo")


class GalleryOwner(Protocol):
    """What the gallery needs from the History screen that opened it."""

    undo: UndoStack

    def star(self, prompt_id: int, on: bool) -> None: ...

    def history_changed(self) -> None: ...


class GalleryScreen(Screen[None]):
    """A grid of image cards for History's current search and filters."""

    CSS_PATH = css_paths("history.tcss", "gallery.tcss")

    SUB_TITLE = "History · Gallery"
    AUTO_FOCUS = None  # the card to focus is known once the page is in

    BINDINGS = [
        Binding(
            "enter",
            "view",
            "View",
            id="gallery.view",
            tooltip="Open the image: large, with its parameters, cost and file",
        ),
        Binding(
            "f",
            "favorite",
            "Star",
            id="gallery.favorite",
            tooltip="Star or unstar the image's prompt",
        ),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="gallery.delete",
            tooltip="Move this image (only this one) to the trash; u undoes it",
        ),
        Binding(
            "u",
            "undo",
            "Undo",
            id="gallery.undo",
            tooltip="Bring back what was just moved to the trash",
        ),
        Binding(
            "c",
            "reuse",
            "Compose",
            id="gallery.reuse",
            tooltip="Open the image's prompt in Compose with its parameters",
        ),
        Binding(
            "g,escape",
            "back",
            "Prompts",
            id="gallery.back",
            tooltip="Back to the prompt list",
        ),
        Binding(
            "r,ctrl+r",
            "refresh",
            "Refresh",
            id="gallery.refresh",
            show=False,
            tooltip="Load the page again",
        ),
    ]

    def __init__(
        self, owner: GalleryOwner, filters: HistoryFilters, *, focus_prompt: int | None = None
    ) -> None:
        super().__init__()
        self.owner = owner
        self.scope: ImageScope = filters.scope()
        self.narrowed = filters.describe(with_text=True)
        self.pager = KeysetPager()
        #: Open at this prompt's newest image (once, on the first layout).
        self._focus_prompt = focus_prompt
        self._stale = False

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Gallery(id="gallery")
        yield StatusLine(id="status")
        yield KeyFooter()

    @property
    def gallery(self) -> Gallery:
        return self.query_one("#gallery", Gallery)

    def on_mount(self) -> None:
        self.gallery.narrowed = self.narrowed

    # -- loading pages ----------------------------------------------------------------------

    def _load(
        self,
        ask: PageAsk | None,
        focus: GalleryFocus,
        *,
        around: int | None = None,
        entry: bool = False,
    ) -> None:
        if ask is not None:
            self._load_page(ask, focus, around, entry)

    @work(thread=True, exclusive=True, group="gallery", exit_on_error=False)
    def _load_page(
        self, ask: PageAsk, focus: GalleryFocus, around: int | None, entry: bool
    ) -> None:
        history = self.services.history
        if entry and self._focus_prompt is not None:
            around = history.newest_image(self.scope, self._focus_prompt)
            if around is not None:
                focus = FocusImage(around)
        page = history.image_page(self.scope, ask, around=around)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, ask, page, focus)

    def _show(self, ask: PageAsk, page: Page[GenerationRow], focus: GalleryFocus) -> None:
        if not self.pager.take(ask, page):
            return
        if not page.items and page.total:
            # Everything from here on went away (trashed): show the last images there are.
            self._load(self.pager.first(ask.limit, start=None), focus)
            return
        self.gallery.show_page(page, focus=focus)
        self.refresh_bindings()

    @on(Gallery.Resized)
    def _resized(self, event: Gallery.Resized) -> None:
        """First layout: the opening page. A new size: the page re-flows around the focus."""
        size = event.page_size
        if not self.gallery.loaded:  # (a newer size supersedes a first load still out)
            self._load(self.pager.first(size), "first", entry=True)
            return
        card = self.gallery.focused_card
        if card is None:
            self._load(self.pager.again(size), "none")
        else:
            focus = FocusImage(card.generation_id)
            self._load(self.pager.again(size), focus, around=card.generation_id)

    @on(Gallery.PageRequest)
    def _page_request(self, event: Gallery.PageRequest) -> None:
        size = self.gallery.page_size()
        if event.direction > 0:
            self._load(self.pager.next(size), event.focus)
        else:
            self._load(self.pager.previous(size), event.focus)

    def data_arrived(self) -> None:
        """New images elsewhere (a batch): reload now if shown, else when shown again."""
        if self.is_current:
            self._reload()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self._reload()

    def _reload(self, focus: GalleryFocus | None = None) -> None:
        card = self.gallery.focused_card
        if focus is None:
            focus = (
                FocusImage(card.generation_id, self.gallery.cards.index(card)) if card else "none"
            )
        self._load(self.pager.again(self.gallery.page_size()), focus)

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("view", "favorite", "delete", "reuse"):
            try:
                return True if self.gallery.focused_card is not None else None
            except NoMatches:  # asked by the footer before the widgets exist
                return None
        if action == "undo":
            return bool(self.owner.undo)
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_refresh(self) -> None:
        self._reload()

    def action_view(self) -> None:
        card = self.gallery.focused_card
        if card is not None:
            self._view(card)

    @on(GalleryCard.Chosen)
    def _card_chosen(self, event: GalleryCard.Chosen) -> None:
        event.card.focus()
        self._view(event.card)

    def _view(self, card: GalleryCard) -> None:
        row = card.row.with_favorite(card.favorite)
        self.app.push_screen(ImageViewScreen(row, self.scope))

    def action_reuse(self) -> None:
        card = self.gallery.focused_card
        if card is not None:
            self.post_message(ReusePrompt(card.prompt_text, reuse_params(card.generation)))

    def action_favorite(self) -> None:
        card = self.gallery.focused_card
        if card is not None:
            on = not card.favorite
            self.gallery.set_favorite(card.prompt_id, on)
            self.owner.star(card.prompt_id, on)

    # -- trash and undo -----------------------------------------------------------------------

    def action_delete(self) -> None:
        """Move the focused image, and only it, to the trash; u undoes it."""
        card = self.gallery.focused_card
        if card is None:
            return
        ref = TrashRef("generation", card.generation_id)
        if self.owner.undo.begin(ref):
            self._trash(ref, self.gallery.cards.index(card))

    @work(thread=True, group="delete", exit_on_error=False)
    def _trash(self, ref: TrashRef, place: int) -> None:
        outcome = self.services.trash.trash_generation(ref.id)
        self.app.call_from_thread(self._trashed, outcome, place)

    def _trashed(self, outcome: TrashOutcome, place: int) -> None:
        ref = outcome.item.ref
        self.owner.undo.done(ref)
        self.owner.history_changed()
        self._reload(place)  # the card after it takes its place, and the focus
        show_trashed(self, outcome)
        self.refresh_bindings()
        self.post_message(DataChanged("trash"))

    def action_undo(self) -> None:
        ref = self.owner.undo.pop()
        if ref is not None:
            self.refresh_bindings()
            self._restore(ref)

    @work(thread=True, group="undo", exit_on_error=False)
    def _restore(self, ref: TrashRef) -> None:
        outcome = self.services.trash.restore(ref)
        self.app.call_from_thread(self._restored, outcome)

    def _restored(self, outcome: TrashOutcome) -> None:
        item = outcome.item
        self.owner.history_changed()
        focus = FocusImage(item.ref.id) if item.ref.kind == "generation" else None
        self._reload(focus)
        show_restored(self, outcome)
        self.post_message(DataChanged("trash"))

    # -- one error path -----------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in _GROUPS:
            return
        error = event.worker.error
        show_failure(self, error, "Gallery")
        if event.worker.group == "gallery":
            self.pager.failed()
        elif event.worker.group == "delete":
            self.owner.undo.failed()
