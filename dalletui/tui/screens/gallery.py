"""The gallery: the images of the prompts History shows, newest first, a screenful at a time.

Opened from History with ``g``, it keeps History's search, ★-only, model and period filters
(search "fox", press g: only the fox images). It opens at the highlighted prompt's newest image
with that card focused, so enter works at once; a resize re-flows the page around the focused
image; ``d`` trashes only the focused image and ``u`` brings it back. Pages come by keyset
through the same ``KeysetPager`` as History's prompt list.

``e`` edits the focused image in Compose and ``a`` adds it as a reference to the edit being
prepared; ``L`` shows its lineage (its first version and everything made from it, whatever the
prompts: "Lineage of #ID"), and escape or ``g`` goes back to the images shown before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Header
from textual.worker import Worker, WorkerState, get_current_worker

from dalletui.services.history import ImageScope, KeysetPager, PageAsk, reuse_params
from dalletui.services.trash import TrashRef
from dalletui.tui.messages import DataChanged, ReusePrompt, StartEdit
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
    from dalletui.services.history import GenerationRow, Page
    from dalletui.services.trash import TrashOutcome
    from dalletui.tui.history_state import UndoStack
    from dalletui.tui.widgets.history_filters import HistoryFilters

#: Worker groups whose failures this screen reports.
_GROUPS = ("gallery", "delete", "undo")


@dataclass(frozen=True)
class ShownImages:
    """What a gallery shows: the scope, how it is narrowed (for the title) and its heading;
    ``focus`` is the image focused when it was left for another (to come back to it)."""

    scope: ImageScope
    narrowed: str = ""
    heading: str = ""
    focus: int | None = None

    @classmethod
    def lineage(cls, generation_id: int) -> ShownImages:
        return cls(ImageScope(lineage_of=generation_id), heading=f"Lineage of #{generation_id}")


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
            "e",
            "edit",
            "Edit",
            id="gallery.edit",
            tooltip="Edit this image in Compose: it is the reference, its prompt prefilled "
            "(on an earlier version: a new branch, the later edits stay)",
        ),
        # The same keys twice: back to the images shown before a lineage, else to the prompts.
        Binding(
            "g,escape",
            "back_scope",
            "Back",
            id="gallery.back-scope",
            tooltip="Back to the images shown before this lineage",
        ),
        Binding(
            "g,escape",
            "back",
            "Prompts",
            id="gallery.back",
            tooltip="Back to the prompt list",
        ),
        Binding(
            "a",
            "add",
            "Add ref",
            id="gallery.add",
            tooltip="Add this image as one more reference to the edit Compose is preparing",
        ),
        Binding(
            "L",
            "lineage",
            "Lineage",
            id="gallery.lineage",
            tooltip="Only this image's lineage: its first version and everything made from it",
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
        self,
        owner: GalleryOwner,
        filters: HistoryFilters,
        *,
        focus_prompt: int | None = None,
        lineage_of: int | None = None,
    ) -> None:
        """The images ``filters`` keep, opened at ``focus_prompt``'s newest; with
        ``lineage_of``, the lineage of that image instead, opened at it."""
        super().__init__()
        self.owner = owner
        if lineage_of is not None:
            self.shown = ShownImages.lineage(lineage_of)
        else:
            self.shown = ShownImages(filters.scope(), filters.describe(with_text=True))
        #: What was shown before (``L`` pushes, escape pops).
        self._before: list[ShownImages] = []
        self.pager = KeysetPager()
        #: Open at this prompt's newest image (once, on the first layout).
        self._focus_prompt = focus_prompt
        self._focus_image = lineage_of
        self._stale = False

    @property
    def scope(self) -> ImageScope:
        return self.shown.scope

    @property
    def narrowed(self) -> str:
        return self.shown.narrowed

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
        self._show_heading()

    def _show_heading(self) -> None:
        self.gallery.narrowed = self.shown.narrowed
        self.gallery.heading = self.shown.heading
        self.sub_title = "History · Lineage" if self.scope.lineage_of else self.SUB_TITLE

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
            if entry and self._focus_image is not None:
                around, focus = self._focus_image, FocusImage(self._focus_image)
            self._load_page(self.scope, ask, focus, around, entry)

    @work(thread=True, exclusive=True, group="gallery", exit_on_error=False)
    def _load_page(
        self,
        scope: ImageScope,
        ask: PageAsk,
        focus: GalleryFocus,
        around: int | None,
        entry: bool,
    ) -> None:
        history = self.services.history
        if entry and self._focus_prompt is not None:
            around = history.newest_image(scope, self._focus_prompt)
            if around is not None:
                focus = FocusImage(around)
        page = history.image_page(scope, ask, around=around)
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
        if action == "back_scope":
            return bool(self._before)
        if action == "back":
            return not self._before
        if action == "lineage" and self.scope.lineage_of is not None:
            return False  # every image shown is of this lineage already
        if action in ("view", "favorite", "delete", "reuse", "edit", "add", "lineage"):
            try:
                return True if self.gallery.focused_card is not None else None
            except NoMatches:  # asked by the footer before the widgets exist
                return None
        if action == "undo":
            return bool(self.owner.undo)
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_back_scope(self) -> None:
        if self._before:
            shown = self._before.pop()
            self._show_images(shown, shown.focus)

    # -- lineage and edits ----------------------------------------------------------------------

    def action_lineage(self) -> None:
        card = self.gallery.focused_card
        if card is not None:
            self.show_lineage(card.generation_id)

    def show_lineage(self, generation_id: int) -> None:
        """Show the lineage of ``generation_id`` at it (escape comes back to what was shown)."""
        if self.scope.lineage_of is None:
            card = self.gallery.focused_card
            focus = card.generation_id if card is not None else None
            self._before.append(dataclasses.replace(self.shown, focus=focus))
        self._show_images(ShownImages.lineage(generation_id), generation_id)

    def _show_images(self, shown: ShownImages, focus_id: int | None) -> None:
        self.shown = shown
        self._show_heading()
        size = self.gallery.page_size()
        if focus_id is None:
            self._load(self.pager.first(size), "first")
        else:
            self._load(self.pager.first(size), FocusImage(focus_id), around=focus_id)
        self.refresh_bindings()

    def _start_edit(self, *, add: bool) -> None:
        card = self.gallery.focused_card
        if card is not None:
            params = reuse_params(card.generation)
            self.post_message(StartEdit(card.generation_id, card.prompt_text, params, add=add))

    def action_edit(self) -> None:
        self._start_edit(add=False)

    def action_add(self) -> None:
        self._start_edit(add=True)

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
        self.app.push_screen(ImageViewScreen(row, self.scope), self._viewed)

    def _viewed(self, lineage_of: int | None = None) -> None:
        """The image view closed; with an id, it asked for that image's lineage (``L``)."""
        if lineage_of is not None:
            self.show_lineage(lineage_of)

    def action_reuse(self) -> None:
        card = self.gallery.focused_card
        if card is not None:
            self.post_message(
                ReusePrompt(
                    card.prompt_text,
                    reuse_params(card.generation),
                    prompt_id=card.generation.prompt_id,
                )
            )

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
