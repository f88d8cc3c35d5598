"""History: every prompt ever used, searchable, beside the highlighted prompt's generations.

The screen holds the widgets and keys; all data comes from ``app.services.history`` in thread
workers. The prompt list is fed keyset pages (a ``KeysetPager``, never the whole table), the
search is debounced into an exclusive ``search`` worker group, and the detail pane loads once
the selection settles, so moving through a hundred thousand prompts stays instant. ``g`` opens
the gallery (its own screen, narrowed by the same search and filters); enter on an image in the
detail pane, or ``v``, opens the image view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Header, Input, Select
from textual.worker import Worker, WorkerState, get_current_worker

from dalletui.services.history import ImageScope, KeysetPager, PageAsk, PromptTotal
from dalletui.services.organize import ItemRef
from dalletui.services.trash import TrashRef
from dalletui.textsafe import printable
from dalletui.tui.history_state import FavoriteWishes, UndoStack
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.notices import show_failure, show_restored, show_trashed
from dalletui.tui.screens.gallery import GalleryScreen
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.history_detail import GenerationCard, PromptDetail, plural
from dalletui.tui.widgets.history_filters import FilterBar, HistoryFilters
from dalletui.tui.widgets.history_list import PromptList
from dalletui.tui.widgets.organize_dialogs import AskTextModal, split_tags
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.history import GenerationRow, Page, PromptRow
    from dalletui.services.organize import Added, Labels
    from dalletui.services.trash import TrashOutcome
    from dalletui.services.versions import FamilyView

#: Rows in the first page (paints fast) and in each page after it.
FIRST_PAGE = 100
NEXT_PAGE = 250
#: Quiet time after a keystroke before searching: none, the search starts on the key itself
#: (the old 0.2 s debounce was most of the keystroke-to-results time); a burst of keys that
#: arrives while one search runs is coalesced into one search for the newest text.
SEARCH_DELAY = 0.0
#: Quiet time after a move before loading details.
DETAIL_DELAY = 0.12
#: A search's matches are counted up to this many; past it the title says "10,000+ prompts".
TOTAL_CAP = 10_000

#: Worker groups whose failures this screen reports.
_GROUPS = (
    "search",
    "page",
    "detail",
    "favorite",
    "reuse",
    "delete",
    "undo",
    "models",
    "organize",
    "variants",
)


class HistoryScreen(Screen[None]):
    """Prompts newest first beside the selected prompt's details; ``g`` opens the gallery."""

    CSS_PATH = css_paths("history.tcss")

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
            tooltip="Move the prompt (or the image focused in the detail pane) to the trash; "
            "u undoes it",
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
            "gallery",
            "Gallery",
            id="history.gallery",
            tooltip="The images of the prompts shown (same search and filters), newest first",
        ),
        Binding(
            "v",
            "view",
            "View",
            id="history.view",
            tooltip="Open the prompt's newest image (or the one focused): large, with its "
            "parameters, cost and file",
        ),
        Binding(
            "p",
            "version_parent",
            "Parent",
            id="history.version-parent",
            tooltip="The prompt this one was made from (reused and changed, or an edit's)",
        ),
        Binding(
            "n",
            "version_child",
            "Child",
            id="history.version-child",
            tooltip="A prompt made from this one (back to the one you came from, if any)",
        ),
        Binding(
            "t",
            "tag",
            "Tag",
            id="history.tag",
            tooltip="Tag the prompt (comma-separated, completed from your tags; -name "
            "takes one off)",
        ),
        Binding(
            "c",
            "collect",
            "Collect",
            id="history.collect",
            tooltip="Add the prompt (or the image focused in the detail pane) to a "
            "collection; a new name makes one",
        ),
        Binding(
            "N",
            "note",
            "Note",
            id="history.note",
            tooltip="Write a note on the prompt (or on the image focused in the detail pane)",
        ),
        Binding(
            "x",
            "variants",
            "Variants",
            id="history.variants",
            tooltip="Show the near-duplicates folded under this prompt, or fold them back",
        ),
        Binding(
            "z",
            "toggle_fold",
            "Fold",
            id="history.fold",
            tooltip="Fold near-duplicate prompts under their most-used member, or list each",
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
            tooltip="Leave the search box",
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
        #: How many prompts match (None while counting); not ``exact`` past the search's cap.
        self.total: PromptTotal | None = None
        self.pager = KeysetPager()
        #: Shared with the gallery this screen opens.
        self.undo = UndoStack()
        self.favorites = FavoriteWishes()
        #: Search workers running (counted on the UI thread when they start and end).
        self._searching = 0
        #: Keys were typed while it ran: search again with the newest text when it ends.
        self._search_pending = False
        self._detail_timer: Timer | None = None
        #: The prompt ``p`` left (so ``n`` from its parent goes back to it).
        self._walked_from: int | None = None
        self._stale = True
        self._empty_hint = ""
        #: The gallery opened from here, while it is open (told when a batch adds images).
        self._gallery: GalleryScreen | None = None
        #: Tag and collection names, for the dialogs' completion (loaded with the pickers).
        self._tag_names: list[str] = []
        self._collection_names: list[str] = []

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="history-filters")
        with Horizontal(id="history-prompts"):
            yield PromptList(id="prompt-list")
            yield PromptDetail(id="prompt-detail")
        yield StatusLine(id="status")
        yield KeyFooter()

    @property
    def prompt_list(self) -> PromptList:
        return self.query_one("#prompt-list", PromptList)

    @property
    def detail(self) -> PromptDetail:
        return self.query_one("#prompt-detail", PromptDetail)

    def on_mount(self) -> None:
        self.prompt_list.border_title = "Prompts"
        self._fold_families()

    @work(thread=True, exclusive=True, group="fold", exit_on_error=False)
    def _fold_families(self) -> None:
        """Fold new prompts into near-duplicate families, in the background (issue 15).

        The first pass over a large history takes a second or two; later ones find nothing
        to do in one indexed query. A failure only leaves prompts unfolded until next time.
        """
        worker = get_current_worker()
        self.services.families.fold(cancelled=lambda: worker.is_cancelled)

    def on_screen_suspend(self) -> None:
        # A screen on top (gallery, image view, a modal) leaves the data alone; another mode
        # may generate.
        if self not in self.app.screen_stack:
            self._stale = True

    def data_arrived(self) -> None:
        """Prompts or images were added elsewhere (a batch): reload now if shown, else later."""
        self._stale = True
        self._fold_families()
        if self._gallery is not None:
            self._gallery.data_arrived()
        if self.is_current:
            self.on_screen_resume()

    def history_changed(self) -> None:
        """The gallery changed what the list shows (an image trashed or restored)."""
        self._stale = True

    def on_screen_resume(self) -> None:
        if not self._stale:
            return
        self._stale = False
        self.reload(keep_selection=True)
        self._load_models()  # Compose may have used a model the filter does not offer yet
        self._load_labels()

    # -- the prompt list ------------------------------------------------------------------

    def reload(self, *, keep_selection: bool = False, keep_id: int | None = None) -> None:
        """Run the current filters again from the first page."""
        if keep_selection and keep_id is None:
            chosen = self.prompt_list.highlighted
            keep_id = chosen.id if chosen is not None else None
        self._searching += 1
        self._search(self.filters, self.pager.first(FIRST_PAGE), keep_id)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, filters: HistoryFilters, ask: PageAsk, keep_id: int | None) -> None:
        history = self.services.history
        try:
            page = history.prompt_page(filters.query(), ask)
            if get_current_worker().is_cancelled:
                return
            if filters.active:
                # A search is counted up to a cap ("10,000+" past it; counting every match of
                # a common prefix took longer than finding the page), cheaply (the plan's FTS
                # count is reused), so rows and count reach the screen in one frame: a second
                # trip waited for the UI thread to paint the rows first (~30 ms a key).
                total = None if self._search_pending else history.total(filters.query(), TOTAL_CAP)
                self.app.call_from_thread(self._show_results, ask, filters, page, keep_id, total)
                return
            self.app.call_from_thread(self._show_first_page, ask, filters, page, keep_id)
            if self._search_pending:
                return  # newer text waits: its page matters more than this count
            # The whole history is counted exactly, once per load, after its first page.
            total = PromptTotal(history.count(filters.query()), exact=True)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._show_total, ask, total)
        finally:
            self.app.call_from_thread(self._search_done, ask)

    def _search_done(self, _ask: PageAsk) -> None:
        """A search worker ended: run the one the keys typed meanwhile asked for."""
        self._searching = max(0, self._searching - 1)
        if self._search_pending and not self._searching:
            self._search_pending = False
            if self.query_one(FilterBar).filters != self.filters:
                self._apply_filters()
            elif self.total is None:
                self.reload(keep_selection=True)  # the search ended without its count

    def _show_first_page(
        self, ask: PageAsk, filters: HistoryFilters, page: Page[PromptRow], keep_id: int | None
    ) -> None:
        if not self.pager.take(ask, page):
            return
        query = filters.query()
        if filters.active:
            empty = "No prompt matches."
            self._empty_hint = "No prompt matches: change the search or the filters."
            if query.problems:  # an operator left out (a date that is none): say which
                empty = self._empty_hint = f"{empty} {query.problems[0]}"
        else:
            empty = "No prompts yet."
            self._empty_hint = "No prompts yet. Write one in Compose (F2); it will show here."
        self.prompt_list.replace(
            page.items,
            has_more=page.next_cursor is not None,
            keep_id=keep_id,
            search=query.text,  # the words, not the operators, are highlighted
            empty_text=empty,
            folded=filters.fold,
        )

    def _show_results(
        self,
        ask: PageAsk,
        filters: HistoryFilters,
        page: Page[PromptRow],
        keep_id: int | None,
        total: PromptTotal | None,
    ) -> None:
        """A search's page and (unless newer keys wait) its count, in one go."""
        self._show_first_page(ask, filters, page, keep_id)
        if total is not None:
            self._show_total(ask, total)

    def _show_total(self, ask: PageAsk, total: PromptTotal) -> None:
        if not self.pager.same_query(ask):
            return
        self.total = total
        self._title()

    def _title(self) -> None:
        total = self.total
        if total is None:
            count = "…"
        else:
            count = f"{total.label()} {'prompt' if total.exact and total.count == 1 else 'prompts'}"
        narrowed = self.filters.describe()
        title = f"{count} · {narrowed}" if narrowed else count
        self.prompt_list.border_title = Content(printable(title, single_line=True))
        problems = self.filters.query().problems
        self.prompt_list.border_subtitle = (
            Content(printable(problems[0], single_line=True))
            if problems
            else f"{len(self.prompt_list):,} loaded"
            if total and len(self.prompt_list) < total.count
            else ""
        )

    @on(PromptList.NearEnd)
    def _near_end(self) -> None:
        ask = self.pager.next(NEXT_PAGE, extend=True)
        if ask is not None:
            self._load_page(self.filters, ask)

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def _load_page(self, filters: HistoryFilters, ask: PageAsk) -> None:
        page = self.services.history.prompt_page(filters.query(), ask)
        self.app.call_from_thread(self._show_next_page, ask, page)

    def _show_next_page(self, ask: PageAsk, page: Page[PromptRow]) -> None:
        if self.pager.take(ask, page):
            self.prompt_list.extend(page.items, has_more=page.next_cursor is not None)
            self._title()

    # -- search and filters ---------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _search_typed(self) -> None:
        """Search now; while a search is still running, once more when it is done (with the
        newest text), so keys typed faster than the database answers cost one search each
        burst, not one per key."""
        if self.query_one(FilterBar).filters == self.filters:
            return  # the text a running search already asks for (its change came late)
        if self._searching:
            self._search_pending = True
        else:
            self._apply_filters()

    @on(Select.Changed, "#history-filters Select")
    @on(Checkbox.Changed, "#filter-favorites")
    @on(Checkbox.Changed, "#filter-fold")
    def _filter_changed(self) -> None:
        self._apply_filters()

    def _apply_filters(self) -> None:
        filters = self.query_one(FilterBar).filters
        if filters == self.filters:
            return
        self.filters = filters
        self.total = None
        self.reload()

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        if not self._searching:
            self._apply_filters()  # no-op when the text was already searched
        self.prompt_list.focus()

    @work(thread=True, exclusive=True, group="models", exit_on_error=False)
    def _load_models(self) -> None:
        """The user's models by use, then the rest of the current catalogue."""
        choices = self.services.history.model_choices(self.services.generation.catalog)
        self.app.call_from_thread(self.query_one(FilterBar).set_models, choices)

    @work(thread=True, exclusive=True, group="labels", exit_on_error=False)
    def _load_labels(self) -> None:
        """The tags and collections the pickers offer (and the dialogs complete from)."""
        organize = self.services.organize
        tags = [(t.name, t.count) for t in organize.tags()]
        collections = [(c.name, c.count) for c in organize.collections()]
        self.app.call_from_thread(self._show_labels_choices, tags, collections)

    def _show_labels_choices(
        self, tags: list[tuple[str, int]], collections: list[tuple[str, int]]
    ) -> None:
        bar = self.query_one(FilterBar)
        bar.set_tags(tags)
        bar.set_collections(collections)
        self._tag_names = [name for name, _ in tags]
        self._collection_names = [name for name, _ in collections]

    # -- details --------------------------------------------------------------------------

    @on(PromptList.Highlighted)
    def _highlighted(self, event: PromptList.Highlighted) -> None:
        prompt = event.prompt
        self.detail.show_prompt(prompt, empty=self._empty_hint)
        self.refresh_bindings()
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if prompt is None:
            return
        prompt_id, images = prompt.id, prompt.has_generations
        self._detail_timer = self.set_timer(
            DETAIL_DELAY, lambda: self._load_more_detail(prompt_id, images)
        )

    def _load_more_detail(self, prompt_id: int, images: bool) -> None:
        """The list rested on a prompt: load its versions, and its images when it has some."""
        self._load_family(prompt_id)
        if images:
            self._load_detail(prompt_id)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _load_detail(self, prompt_id: int) -> None:
        rows = self.services.history.entries(prompt_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_detail, prompt_id, rows)

    @work(thread=True, exclusive=True, group="family", exit_on_error=False)
    def _load_family(self, prompt_id: int) -> None:
        """The prompt's versions, and its tags, collections and note."""
        family = self.services.history.family(prompt_id)
        labels = self.services.organize.labels(ItemRef.of_prompt(prompt_id))
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_family, prompt_id, family, labels)

    def _show_family(self, prompt_id: int, family: FamilyView, labels: Labels) -> None:
        self.detail.show_family(prompt_id, family)
        self.detail.show_labels(prompt_id, labels)
        self.refresh_bindings()

    def action_version_parent(self) -> None:
        family = self.detail.family
        if family is not None and family.parent is not None:
            self._walked_from = family.prompt.id
            self._walk_to(family.parent.id)

    def action_version_child(self) -> None:
        family = self.detail.family
        if family is None or not family.children:
            return
        ids = [child.id for child in family.children]
        came_from = self._walked_from
        target = came_from if came_from in ids else ids[0]
        self._walked_from = None
        self._walk_to(target)

    def _walk_to(self, prompt_id: int) -> None:
        """Move the list to ``prompt_id`` when it is loaded; otherwise say why not."""
        index = self.prompt_list.index_of(prompt_id)
        if index is not None:
            self.prompt_list.move_to(index)
            return
        hidden = "the search or filters hide it" if self.filters.active else "it is further down"
        self.notify(
            f"Prompt #{prompt_id} is not in the list: {hidden}.",
            title="Versions",
            severity="warning",
        )

    def _show_detail(self, prompt_id: int, rows: list[GenerationRow]) -> None:
        self.detail.show_generations(prompt_id, rows)
        self.refresh_bindings()

    @on(PromptList.Selected)
    def _double_clicked(self) -> None:
        self.action_reuse()

    # -- gallery and image view -----------------------------------------------------------

    def action_gallery(self) -> None:
        """The gallery of the images the list's search and filters keep, at the highlighted
        prompt's newest image."""
        prompt = self.prompt_list.highlighted
        focus = prompt.id if prompt is not None and prompt.generation_count else None
        self._open_gallery(GalleryScreen(self, self.filters, focus_prompt=focus))

    def _open_gallery(self, gallery: GalleryScreen) -> None:
        self._gallery = gallery
        self.app.push_screen(gallery, self._gallery_closed)

    def _gallery_closed(self, _result: object = None) -> None:
        self._gallery = None

    def action_view(self) -> None:
        card = self.detail.focused_card
        images = self.detail.images
        if card is not None:
            self._view(card.row)
        elif images:
            self._view(images[0])

    @on(GenerationCard.Chosen)
    def _card_chosen(self, event: GenerationCard.Chosen) -> None:
        event.stop()
        self._view(event.card.row)

    def _view(self, row: GenerationRow) -> None:
        self.app.push_screen(
            ImageViewScreen(row, ImageScope(prompt_id=row.prompt_id)), self._viewed
        )

    def _viewed(self, lineage_of: int | None = None) -> None:
        """The image view closed; with an id, it asked for that image's lineage (``L``)."""
        if lineage_of is not None:
            self._open_gallery(GalleryScreen(self, self.filters, lineage_of=lineage_of))

    # -- checks ---------------------------------------------------------------------------

    def _highlighted_prompt(self) -> PromptRow | None:
        try:
            return self.prompt_list.highlighted
        except NoMatches:  # asked by the footer before the widgets exist
            return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reuse", "favorite", "delete"):
            return True if self._highlighted_prompt() is not None else None
        if action == "view":
            try:
                return True if self.detail.images else None
            except NoMatches:
                return None
        if action == "undo":
            return bool(self.undo)
        if action in ("tag", "collect", "note"):
            return True if self._highlighted_prompt() is not None else None
        if action == "variants":
            prompt = self._highlighted_prompt()
            if prompt is None or not self.filters.fold:
                return None
            return True if prompt.variants or self.prompt_list.head_of(prompt.id) else None
        if action in ("version_parent", "version_child"):
            try:
                family = self.detail.family
            except NoMatches:
                return None
            if family is None:
                return False
            found = family.parent if action == "version_parent" else family.children
            return True if found else None
        return True

    # -- actions --------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one(FilterBar).focus_search()

    def action_escape(self) -> None:
        focused = self.focused
        bar = self.query_one(FilterBar)
        in_bar = focused is not None and (focused is bar or bar in focused.ancestors)
        if in_bar or isinstance(focused, GenerationCard):
            self.prompt_list.focus()

    def action_toggle_favorites(self) -> None:
        self.query_one(FilterBar).toggle_favorites()

    def action_toggle_fold(self) -> None:
        self.query_one(FilterBar).toggle_fold()

    # -- variants (folded near-duplicates) --------------------------------------------------

    def action_variants(self) -> None:
        """Expand the highlighted family's variants under it, or fold them back."""
        prompt = self.prompt_list.highlighted
        if prompt is None:
            return
        head = self.prompt_list.head_of(prompt.id)
        if head is not None or self.prompt_list.is_expanded(prompt.id):
            self.prompt_list.collapse(head if head is not None else prompt.id)
            self.refresh_bindings()
            return
        if prompt.variants:
            self._load_variants(prompt.id)

    @work(thread=True, exclusive=True, group="variants", exit_on_error=False)
    def _load_variants(self, prompt_id: int) -> None:
        rows = self.services.history.variants(prompt_id)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_variants, prompt_id, rows)

    def _show_variants(self, prompt_id: int, rows: list[PromptRow]) -> None:
        self.prompt_list.expand(prompt_id, rows)
        self.refresh_bindings()

    # -- tags, collections, notes -----------------------------------------------------------

    def _organize_target(self) -> tuple[ItemRef, str] | None:
        """The focused image of the detail pane, else the highlighted prompt (and its label)."""
        card = self.detail.focused_card
        if card is not None:
            return ItemRef("generation", card.row.id), f"image #{card.row.id}"
        prompt = self.prompt_list.highlighted
        if prompt is None:
            return None
        return ItemRef.of_prompt(prompt.id), f"prompt #{prompt.id}"

    def action_tag(self) -> None:
        prompt = self.prompt_list.highlighted
        if prompt is None:
            return
        tags = self.detail.labels.tags if self.detail.labels_of == prompt.id else []
        shown = ", ".join(tags) if tags else "none yet"
        ask = AskTextModal(
            f"Tag prompt #{prompt.id}",
            Content.assemble(("Tags now: ", "$foreground-muted"), (printable(shown), "")),
            placeholder="portrait, fox, -old",
            hint="Comma-separated; → takes the completion; -name takes a tag off. "
            "enter saves, escape cancels.",
            names=self._tag_names,
            separator=",",
        )
        self.app.push_screen(ask, lambda text: self._tag_answered(prompt.id, text))

    def _tag_answered(self, prompt_id: int, text: str | None) -> None:
        if text is None or not text.strip():
            return
        add, remove = split_tags(text)
        self._save_tags(prompt_id, add, remove)

    @work(thread=True, group="organize", exit_on_error=False)
    def _save_tags(self, prompt_id: int, add: list[str], remove: list[str]) -> None:
        tags = self.services.organize.retag(prompt_id, add, remove)
        self.app.call_from_thread(self._organized, prompt_id, f"Prompt #{prompt_id}", tags)

    def _organized(self, prompt_id: int, title: str, tags: list[str]) -> None:
        shown = ", ".join(tags) if tags else "no tags"
        self.notify(Content(printable(f"Tags: {shown}.")), title=title)
        self._after_organizing(prompt_id)

    def _after_organizing(self, prompt_id: int) -> None:
        """Tags or collections changed: new pickers, the detail again, the list if filtered."""
        self._load_labels()
        if self.prompt_list.highlighted is not None and self.prompt_list.highlighted.id == (
            prompt_id
        ):
            self._load_family(prompt_id)
        if self.filters.tag or self.filters.collection or self.filters.text:
            self.reload(keep_selection=True)
        self.post_message(DataChanged("organize"))

    def action_collect(self) -> None:
        target = self._organize_target()
        if target is None:
            return
        ref, label = target
        names = self._collection_names
        shown = ", ".join(names[:6]) + ("…" if len(names) > 6 else "") if names else "none yet"
        ask = AskTextModal(
            f"Add {label} to a collection",
            Content.assemble(("Collections: ", "$foreground-muted"), (printable(shown), "")),
            placeholder="collection name",
            hint="→ takes the completion; a new name makes a new collection. "
            "enter adds, escape cancels.",
            names=names,
        )
        self.app.push_screen(ask, lambda name: self._collect_answered(ref, label, name))

    def _collect_answered(self, ref: ItemRef, label: str, name: str | None) -> None:
        if name is not None and name.strip():
            self._add_to_collection(ref, label, name)

    @work(thread=True, group="organize", exit_on_error=False)
    def _add_to_collection(self, ref: ItemRef, label: str, name: str) -> None:
        added = self.services.organize.add_to(name, ref)
        self.app.call_from_thread(self._collected, ref, label, added)

    def _collected(self, ref: ItemRef, label: str, added: Added) -> None:
        made = "the new collection" if added.created else "collection"
        where = added.collection
        self.notify(
            Content(
                printable(
                    f"{label.capitalize()} is number {added.position + 1} of {made} "
                    f"“{where.name}” ({plural(where.count, 'item')})."
                )
            ),
            title="Collections",
        )
        prompt = self.prompt_list.highlighted
        self._after_organizing(prompt.id if prompt is not None else 0)

    def action_note(self) -> None:
        target = self._organize_target()
        if target is None:
            return
        self._load_note(*target)

    @work(thread=True, group="organize", exit_on_error=False)
    def _load_note(self, ref: ItemRef, label: str) -> None:
        note = self.services.organize.note(ref)
        self.app.call_from_thread(self._ask_note, ref, label, note)

    def _ask_note(self, ref: ItemRef, label: str, note: str) -> None:
        ask = AskTextModal(
            f"Note on {label}",
            "Anything worth remembering about it (empty clears the note).",
            value=note,
            hint="ctrl+s saves, escape cancels.",
            multiline=True,
        )
        self.app.push_screen(ask, lambda text: self._note_answered(ref, label, note, text))

    def _note_answered(self, ref: ItemRef, label: str, old: str, text: str | None) -> None:
        if text is not None and text.strip() != old.strip():
            self._save_note(ref, label, text)

    @work(thread=True, group="organize", exit_on_error=False)
    def _save_note(self, ref: ItemRef, label: str, text: str) -> None:
        stored = self.services.organize.set_note(ref, text)
        self.app.call_from_thread(self._noted, ref, label, stored)

    def _noted(self, ref: ItemRef, label: str, stored: str) -> None:
        said = "saved" if stored else "cleared"
        self.notify(f"The note on {label} is {said}.", title="Notes")
        prompt = self.prompt_list.highlighted
        if prompt is not None:
            self._after_organizing(prompt.id)

    def action_refresh(self) -> None:
        self.reload(keep_selection=True)

    def action_reuse(self) -> None:
        prompt = self.prompt_list.highlighted
        if prompt is not None:
            self._reuse(prompt.id, prompt.text)

    @work(thread=True, exclusive=True, group="reuse", exit_on_error=False)
    def _reuse(self, prompt_id: int, text: str) -> None:
        params = self.services.history.reuse(prompt_id)
        self.app.call_from_thread(self.post_message, ReusePrompt(text, params, prompt_id=prompt_id))

    def action_favorite(self) -> None:
        prompt = self.prompt_list.highlighted
        if prompt is not None:
            self.star(prompt.id, not prompt.is_favorite)

    def star(self, prompt_id: int, on: bool) -> None:
        """Star (or unstar) a prompt: shown at once in the list, saved by a worker."""
        row = self.prompt_list.set_favorite(prompt_id, on)
        if row is not None:
            self.detail.show_favorite(row)
        self.favorites.want(prompt_id, on)
        self._save_favorite(prompt_id)

    @work(thread=True, group="favorite", exit_on_error=False)
    def _save_favorite(self, prompt_id: int) -> None:
        self.favorites.save(prompt_id, self.services.history.set_favorite)
        self.app.call_from_thread(self.post_message, DataChanged("favorite"))

    # -- trash and undo ---------------------------------------------------------------------

    def action_delete(self) -> None:
        """Move the prompt (or the focused image of the detail pane) to the trash; u undoes."""
        card = self.detail.focused_card
        prompt = self.prompt_list.highlighted
        if card is not None:
            ref = TrashRef("generation", card.row.id)
        elif prompt is not None:
            ref = TrashRef("prompt", prompt.id)
        else:
            return
        if not self.undo.begin(ref):
            return  # a second press before the first has landed
        if ref.kind == "prompt" and ref.id in self.prompt_list:
            self.prompt_list.remove(ref.id)  # at once; the worker confirms it
            if self.total and self.total.exact:  # "10,000+" stays: more still match
                self.total = PromptTotal(self.total.count - 1, exact=True)
            self._title()
        else:
            self.prompt_list.focus()
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
        self.undo.done(ref)
        if ref.kind == "generation":
            self.reload(keep_selection=True)  # its prompt has one image fewer
        show_trashed(self, outcome)
        self.refresh_bindings()
        self.post_message(DataChanged("trash"))

    def action_undo(self) -> None:
        """Take the last thing deleted here (or in the gallery) out of the trash."""
        ref = self.undo.pop()
        if ref is not None:
            self.refresh_bindings()
            self._restore(ref)

    @work(thread=True, group="undo", exit_on_error=False)
    def _restore(self, ref: TrashRef) -> None:
        outcome = self.services.trash.restore(ref)
        self.app.call_from_thread(self._restored, outcome)

    def _restored(self, outcome: TrashOutcome) -> None:
        item = outcome.item
        self.reload(keep_id=item.prompt_id)  # back, and selected
        show_restored(self, outcome)
        self.post_message(DataChanged("trash"))

    # -- one error path ---------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in _GROUPS:
            return
        if event.worker.node is not self:
            return
        error = event.worker.error
        show_failure(self, error, "History")
        group = event.worker.group
        if group == "search":
            self.pager.failed()
            self.prompt_list.replace([], has_more=False, empty_text="Could not load: r retries.")
        elif group == "page":
            self.pager.failed()
        elif group == "favorite":
            self.reload(keep_selection=True)  # show what the database really holds
        elif group == "delete":
            self.undo.failed()
            self.reload(keep_selection=True)  # the row removed at once may still be there
