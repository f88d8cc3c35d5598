"""History: every prompt ever used, searchable, with its images; and a gallery of all images.

The screen holds the widgets and keys; all data comes from ``app.services.history`` in thread
workers. The prompt list is fed keyset pages (never the whole table), the search is debounced
into an exclusive ``search`` worker group, and the detail pane loads once the selection settles,
so moving through a hundred thousand prompts stays instant.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, ContentSwitcher, Footer, Header, Input, Select
from textual.worker import Worker, WorkerState, get_current_worker

from dalletui.errors import DalleTuiError
from dalletui.services.trash import TrashRef
from dalletui.textsafe import printable, printable_message
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.widgets.history_detail import PromptDetail, plural
from dalletui.tui.widgets.history_filters import FilterBar, HistoryFilters
from dalletui.tui.widgets.history_gallery import Gallery, GalleryCard, GalleryFocus
from dalletui.tui.widgets.history_list import PromptList
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.history import Generation, PromptPage
    from dalletui.services.trash import TrashOutcome

#: Rows in the first page (paints fast) and in each page after it.
FIRST_PAGE = 100
NEXT_PAGE = 250
#: Quiet time after a keystroke before searching, and after a move before loading details.
SEARCH_DELAY = 0.2
DETAIL_DELAY = 0.12

PROMPTS_VIEW = "history-prompts"
GALLERY_VIEW = "gallery"
#: Worker groups whose failures this screen reports.
_GROUPS = (
    "search",
    "page",
    "detail",
    "favorite",
    "reuse",
    "delete",
    "undo",
    "gallery",
    "models",
)
#: How many deletes ``u`` can take back, newest first.
UNDO_DEPTH = 20


def reuse_params(generation: Generation | None) -> dict[str, Any]:
    """The parameters Compose should start from: those of the prompt's newest generation."""
    if generation is None:
        return {}
    params: dict[str, Any] = {
        "model": generation.model,
        "size": generation.size,
        "quality": generation.quality,
        "n": (generation.params or {}).get("n"),
        "output_format": generation.output_format,
    }
    return {key: value for key, value in params.items() if value is not None}


@dataclass(frozen=True)
class Target:
    """The prompt an action applies to: the highlighted row, or the focused gallery card."""

    prompt_id: int
    text: str
    favorite: bool
    generation_count: int | None
    generation: Generation | None = None


class HistoryScreen(Screen[None]):
    """Prompts newest first beside the selected prompt's details; ``g`` shows the gallery."""

    SUB_TITLE = "History"
    AUTO_FOCUS = "#prompt-list"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding(
            "slash",
            "focus_search",
            "Search",
            id="history.search",
            tooltip="Type to search prompts (escape returns to the list)",
        ),
        Binding(
            "enter",
            "reuse",
            "Reuse",
            id="history.reuse",
            tooltip="Open the prompt in Compose with its last parameters",
        ),
        Binding(
            "f",
            "favorite",
            "Star",
            id="history.favorite",
            tooltip="Star or unstar the prompt",
        ),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="history.delete",
            tooltip="Move the prompt (in the gallery: the image) to the trash; u undoes it",
        ),
        Binding(
            "u",
            "undo",
            "Undo",
            id="history.undo",
            tooltip="Bring back what was just moved to the trash",
        ),
        Binding(
            "g",
            "show_view('gallery')",
            "Gallery",
            id="history.gallery",
            tooltip="Every image, newest first",
        ),
        Binding(
            "g",
            "show_view('history-prompts')",
            "Prompts",
            id="history.prompts",
            tooltip="Back to the prompt list",
        ),
        Binding(
            "asterisk",
            "toggle_favorites",
            "★ only",
            id="history.favorites-only",
            tooltip="Show only favourite prompts, or all",
        ),
        Binding(
            "escape",
            "escape",
            "Back",
            id="history.back",
            show=False,
            tooltip="Leave the search box or the gallery",
        ),
        Binding(
            "r,ctrl+r",
            "refresh",
            "Refresh",
            id="history.refresh",
            show=False,
            tooltip="Load the list again",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = HistoryFilters()
        self.total: int | None = None
        self._serial = 0
        self._next_cursor: Any = None
        self._loading_more = False
        self._search_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self._stale = True
        self._gallery_stale = True
        self._gallery_starts: list[tuple[int | None, int]] = [(None, 0)]
        self._gallery_loading = False
        self._empty_hint = ""
        self._favorite_lock = threading.Lock()
        self._wanted_favorite: dict[int, bool] = {}
        #: What ``u`` takes back out of the trash, the latest last.
        self._undo: list[TrashRef] = []
        self._trashing: set[TrashRef] = set()
        #: Where a trashed gallery card was, so undo can focus it there again.
        self._card_places: dict[int, int] = {}

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="history-filters")
        with ContentSwitcher(initial=PROMPTS_VIEW, id="history-views"):
            with Horizontal(id=PROMPTS_VIEW):
                yield PromptList(id="prompt-list")
                yield PromptDetail(id="prompt-detail")
            yield Gallery(id=GALLERY_VIEW)
        yield StatusLine(id="status")
        yield Footer()

    @property
    def prompt_list(self) -> PromptList:
        return self.query_one("#prompt-list", PromptList)

    @property
    def detail(self) -> PromptDetail:
        return self.query_one("#prompt-detail", PromptDetail)

    @property
    def gallery(self) -> Gallery:
        return self.query_one("#gallery", Gallery)

    @property
    def view(self) -> str:
        return self.query_one("#history-views", ContentSwitcher).current or PROMPTS_VIEW

    def on_mount(self) -> None:
        self.prompt_list.border_title = "Prompts"

    def on_screen_suspend(self) -> None:
        # A modal on top of this screen leaves the data alone; another mode may generate.
        if self not in self.app.screen_stack:
            self._stale = True
            self._gallery_stale = True

    def data_arrived(self) -> None:
        """Prompts or images were added elsewhere (a batch): reload now if shown, else later."""
        if self.is_current:
            self._stale = True
            self.on_screen_resume()
        else:
            self._stale = True
            self._gallery_stale = True

    def on_screen_resume(self) -> None:
        if not self._stale:
            return
        self._stale = False
        self.reload(keep_selection=True)
        self._load_models()  # Compose may have used a model the filter does not offer yet
        if self.view == GALLERY_VIEW:
            self._reload_gallery_page()

    # -- the prompt list ------------------------------------------------------------------

    def reload(self, *, keep_selection: bool = False) -> None:
        """Run the current filters again from the first page."""
        self._serial += 1
        chosen = self.prompt_list.highlighted if keep_selection else None
        self._loading_more = False
        self._search(self.filters, self._serial, chosen.id if chosen else None)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, filters: HistoryFilters, serial: int, keep_id: int | None) -> None:
        history = self.services.history
        page = history.search(filters.query(limit=FIRST_PAGE))
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_first_page, serial, filters, page, keep_id)
        total = history.count(filters.query())
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_total, serial, total)

    def _show_first_page(
        self, serial: int, filters: HistoryFilters, page: PromptPage, keep_id: int | None
    ) -> None:
        if serial != self._serial:
            return
        self._next_cursor = page.next_cursor
        self._loading_more = False
        if filters.active:
            empty = "No prompt matches."
            self._empty_hint = "No prompt matches: change the search or the filters."
        else:
            empty = "No prompts yet."
            self._empty_hint = "No prompts yet. Write one in Compose (F2); it will show here."
        self.prompt_list.replace(
            page.items,
            has_more=page.next_cursor is not None,
            keep_id=keep_id,
            search=filters.text,
            empty_text=empty,
        )

    def _show_total(self, serial: int, total: int) -> None:
        if serial != self._serial:
            return
        self.total = total
        self._title()

    def _title(self) -> None:
        count = "…" if self.total is None else plural(self.total, "prompt")
        narrowed = self.filters.describe()
        title = f"{count} · {narrowed}" if narrowed else count
        self.prompt_list.border_title = Content(printable(title, single_line=True))
        self.prompt_list.border_subtitle = (
            f"{len(self.prompt_list):,} loaded"
            if self.total and len(self.prompt_list) < self.total
            else ""
        )

    @on(PromptList.NearEnd)
    def _near_end(self) -> None:
        if self._loading_more or self._next_cursor is None:
            return
        self._loading_more = True
        self._load_page(self.filters, self._serial, self._next_cursor)

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def _load_page(self, filters: HistoryFilters, serial: int, after: Any) -> None:
        page = self.services.history.search(filters.query(limit=NEXT_PAGE, after=after))
        self.app.call_from_thread(self._show_next_page, serial, page)

    def _show_next_page(self, serial: int, page: PromptPage) -> None:
        if serial != self._serial:
            return
        self._loading_more = False
        self._next_cursor = page.next_cursor
        self.prompt_list.extend(page.items, has_more=page.next_cursor is not None)
        self._title()

    # -- search and filters ---------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _search_typed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_filters)

    @on(Select.Changed, "#history-filters Select")
    @on(Checkbox.Changed, "#filter-favorites")
    def _filter_changed(self) -> None:
        self._apply_filters()

    def _apply_filters(self) -> None:
        self._search_timer = None
        filters = self.query_one(FilterBar).filters
        if filters == self.filters:
            return
        self.filters = filters
        self.total = None
        self.reload(keep_selection=False)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._apply_filters()
        self.prompt_list.focus()

    @work(thread=True, exclusive=True, group="models", exit_on_error=False)
    def _load_models(self) -> None:
        """Models in the catalogue and in the usage records, for the model filter."""
        catalog = self.services.generation.catalog
        used = [totals.label for totals in self.services.usage.by_model() if totals.label]
        labels: dict[str, str] = {}
        for spec in catalog.models():
            labels[spec.name] = f"{spec.name} (retired)" if spec.is_retired else spec.name
        for name in used:
            labels.setdefault(name, name)
        choices = sorted(((label, name) for name, label in labels.items()), key=lambda c: c[1])
        self.app.call_from_thread(self.query_one(FilterBar).set_models, choices)

    # -- details --------------------------------------------------------------------------

    @on(PromptList.Highlighted)
    def _highlighted(self, event: PromptList.Highlighted) -> None:
        prompt = event.prompt
        self.detail.show_prompt(prompt, empty=self._empty_hint)
        self.refresh_bindings()
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if prompt is None or not getattr(prompt, "generation_count", 0):
            return
        prompt_id = prompt.id
        self._detail_timer = self.set_timer(DETAIL_DELAY, lambda: self._load_detail(prompt_id))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _load_detail(self, prompt_id: int) -> None:
        generations = self.services.history.generations(prompt_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.detail.show_generations, prompt_id, generations)

    @on(PromptList.Selected)
    def _double_clicked(self) -> None:
        self.action_reuse()

    # -- the gallery ----------------------------------------------------------------------

    def action_show_view(self, view: str) -> None:
        self.query_one("#history-views", ContentSwitcher).current = view
        self.query_one(FilterBar).display = view == PROMPTS_VIEW
        self.sub_title = "History · Gallery" if view == GALLERY_VIEW else "History"
        if view == GALLERY_VIEW:
            if not self.gallery.measured:
                pass  # its first layout sends Gallery.Resized, which loads the page
            elif self._gallery_stale or not self.gallery.loaded:
                self._reload_gallery_page("first")
            else:
                self.gallery.focus_cards()
        else:
            self.prompt_list.focus()
        self.refresh_bindings()

    def _reload_gallery_page(self, focus: GalleryFocus = "none") -> None:
        before_id, start = self._gallery_starts[-1]
        self._gallery_stale = False
        self._gallery_loading = True
        page = len(self._gallery_starts)
        self._load_gallery(before_id, start, page, self.gallery.page_size(), focus)

    @work(thread=True, exclusive=True, group="gallery", exit_on_error=False)
    def _load_gallery(
        self,
        before_id: int | None,
        start: int,
        page: int,
        size: int,
        focus: GalleryFocus,
    ) -> None:
        items = self.services.history.gallery(size + 1, before_id, succeeded_only=True)
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_gallery, items, page, start, size, focus)

    def _show_gallery(
        self,
        items: list[Generation],
        page: int,
        start: int,
        size: int,
        focus: GalleryFocus,
    ) -> None:
        self._gallery_loading = False
        if not items and page > 1:
            # Everything on this page went away (deleted): step back one page.
            self._gallery_starts.pop()
            self._reload_gallery_page(focus)
            return
        self.gallery.show_page(
            items[:size], page=page, start=start, has_more=len(items) > size, focus=focus
        )
        self.refresh_bindings()

    @on(Gallery.PageRequest)
    def _gallery_page(self, event: Gallery.PageRequest) -> None:
        if self._gallery_loading:
            return
        gallery = self.gallery
        if event.direction > 0:
            if not gallery.has_more or not gallery.generations:
                return
            last = gallery.generations[-1]
            self._gallery_starts.append((last.id, gallery.start + len(gallery.generations)))
        else:
            if len(self._gallery_starts) <= 1:
                return
            self._gallery_starts.pop()
        self._reload_gallery_page(event.focus)

    @on(Gallery.Resized)
    def _gallery_resized(self) -> None:
        """First layout, or a new terminal size: (re)load the page so the cards fill it."""
        if self.view == GALLERY_VIEW:
            self._reload_gallery_page("none" if self.gallery.loaded else "first")

    @on(GalleryCard.Chosen)
    def _card_chosen(self, event: GalleryCard.Chosen) -> None:
        card = event.card
        card.focus()
        self._reuse_target(
            Target(card.prompt_id, card.prompt_text, card.favorite, None, card.generation)
        )

    # -- the target of an action ----------------------------------------------------------

    def target(self) -> Target | None:
        """The highlighted prompt, or the prompt of the focused gallery card."""
        try:
            if self.view == GALLERY_VIEW:
                card = self.gallery.focused_card
                if card is None:
                    return None
                return Target(
                    card.prompt_id, card.prompt_text, card.favorite, None, card.generation
                )
            prompt = self.prompt_list.highlighted
        except NoMatches:  # asked by the footer before the widgets exist
            return None
        if prompt is None:
            return None
        count = getattr(prompt, "generation_count", 0) or 0
        return Target(prompt.id, prompt.text, bool(prompt.is_favorite), int(count))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        try:
            view = self.view
        except NoMatches:
            view = PROMPTS_VIEW
        if action == "show_view":
            return parameters[0] != view
        if action == "toggle_favorites":
            return view == PROMPTS_VIEW
        if action in ("reuse", "favorite", "delete"):
            return True if self.target() is not None else None
        if action == "undo":
            return bool(self._undo)
        return True

    # -- actions --------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        if self.view != PROMPTS_VIEW:
            self.action_show_view(PROMPTS_VIEW)
        self.query_one(FilterBar).focus_search()

    def action_escape(self) -> None:
        focused = self.focused
        bar = self.query_one(FilterBar)
        if focused is not None and (focused is bar or bar in focused.ancestors):
            self.prompt_list.focus()
        elif self.view == GALLERY_VIEW:
            self.action_show_view(PROMPTS_VIEW)

    def action_toggle_favorites(self) -> None:
        self.query_one(FilterBar).toggle_favorites()

    def action_refresh(self) -> None:
        self.reload(keep_selection=True)
        if self.view == GALLERY_VIEW:
            self._reload_gallery_page()
        else:
            self._gallery_stale = True

    def action_reuse(self) -> None:
        target = self.target()
        if target is not None:
            self._reuse_target(target)

    def _reuse_target(self, target: Target) -> None:
        if target.generation is not None:
            self.post_message(ReusePrompt(target.text, reuse_params(target.generation)))
        else:
            self._reuse(target.prompt_id, target.text)

    @work(thread=True, exclusive=True, group="reuse", exit_on_error=False)
    def _reuse(self, prompt_id: int, text: str) -> None:
        params = reuse_params(self.services.history.last_generation(prompt_id))
        self.app.call_from_thread(self.post_message, ReusePrompt(text, params))

    def action_favorite(self) -> None:
        target = self.target()
        if target is None:
            return
        on_now = not target.favorite
        self._show_favorite(target.prompt_id, on_now)
        self._wanted_favorite[target.prompt_id] = on_now
        self._save_favorite(target.prompt_id)

    def _show_favorite(self, prompt_id: int, on: bool) -> None:
        """Star (or unstar) everywhere the prompt shows, before the database has answered."""
        prompt = self.prompt_list.set_favorite(prompt_id, on)
        if prompt is not None:
            self.detail.show_favorite(prompt)
        self.gallery.set_favorite(prompt_id, on)

    @work(thread=True, group="favorite", exit_on_error=False)
    def _save_favorite(self, prompt_id: int) -> None:
        # Workers may run out of order; each writes the latest wish, so the last press wins.
        with self._favorite_lock:
            on = self._wanted_favorite[prompt_id]
            self.services.history.set_favorite(prompt_id, on)
        self.app.call_from_thread(self.post_message, DataChanged("favorite"))

    # -- trash and undo ---------------------------------------------------------------------

    def action_delete(self) -> None:
        """Move the prompt (in the gallery: the focused image) to the trash at once; u undoes."""
        target = self.target()
        if target is None:
            return
        if self.view == GALLERY_VIEW and target.generation is not None:
            ref = TrashRef("generation", target.generation.id)
            card = self.gallery.focused_card
            if card is not None:
                self._card_places[ref.id] = self.gallery.cards.index(card)
        else:
            ref = TrashRef("prompt", target.prompt_id)
        if ref in self._trashing:
            return  # a second press before the first has landed
        self._trashing.add(ref)
        if ref.kind == "prompt" and ref.id in self.prompt_list:
            self.prompt_list.remove(ref.id)  # at once; the worker confirms it
            if self.total:
                self.total -= 1
            self._title()
        self._trash(ref)

    @work(thread=True, group="delete", exit_on_error=False)
    def _trash(self, ref: TrashRef) -> None:
        trash = self.services.trash
        if ref.kind == "prompt":
            outcome = trash.trash_prompt(ref.id)
        else:
            outcome = trash.trash_generation(ref.id)
        self.app.call_from_thread(self._trashed, outcome)

    def _trashed(self, outcome: TrashOutcome) -> None:
        ref = outcome.item.ref
        self._trashing.discard(ref)
        self._undo.append(ref)
        del self._undo[:-UNDO_DEPTH]
        if ref.kind == "generation":
            self.reload(keep_selection=True)  # its prompt has one image fewer
        if self.view == GALLERY_VIEW:
            self._reload_gallery_page(self._card_places.get(ref.id, "none"))
        else:
            self._gallery_stale = True
        self.notify(f"Moved {ref.label} to the trash · u undo", title="Trash", timeout=6)
        for problem in outcome.problems:
            self.notify(problem, title="Trash", severity="warning", timeout=8, markup=False)
        self.refresh_bindings()
        self.post_message(DataChanged("trash"))

    def action_undo(self) -> None:
        """Take the last thing deleted here out of the trash, back where it was."""
        if self._undo:
            ref = self._undo.pop()
            self.refresh_bindings()
            self._restore(ref)

    @work(thread=True, group="undo", exit_on_error=False)
    def _restore(self, ref: TrashRef) -> None:
        outcome = self.services.trash.restore(ref)
        self.app.call_from_thread(self._restored, outcome)

    def _restored(self, outcome: TrashOutcome) -> None:
        item = outcome.item
        self._serial += 1
        self._search(self.filters, self._serial, item.prompt_id)  # back, and selected
        if self.view == GALLERY_VIEW:
            self._reload_gallery_page(self._card_places.pop(item.ref.id, "none"))
        else:
            self._gallery_stale = True
        also = f" and prompt #{item.prompt_id}" if item.prompt_trashed else ""
        self.notify(f"Restored {item.ref.label}{also}.", title="Trash", timeout=4)
        for problem in outcome.problems:
            self.notify(problem, title="Trash", severity="warning", timeout=8, markup=False)
        self.post_message(DataChanged("trash"))

    # -- one error path ---------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in _GROUPS:
            return
        error = event.worker.error
        title = error.title if isinstance(error, DalleTuiError) else "History"
        self.notify(
            printable_message(error), title=title, severity="error", timeout=8, markup=False
        )
        group = event.worker.group
        if group == "search":
            self.prompt_list.replace([], has_more=False, empty_text="Could not load: r retries.")
        elif group == "page":
            self._loading_more = False
        elif group == "gallery":
            self._gallery_loading = False
        elif group == "favorite":
            self.reload(keep_selection=True)  # show what the database really holds
        elif group == "delete":
            self._trashing.clear()
            self.reload(keep_selection=True)  # the row removed at once may still be there
            self._gallery_stale = True
