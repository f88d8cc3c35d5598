"""Prompt history: search, favourites, reuse, delete (to the trash), import; the gallery.

The UI gets typed values from here, never Peewee rows with attributes bolted on: a ``PromptRow``
(a prompt with its generation count and newest thumbnail), a ``GenerationRow`` (a generation
with its ledger row, cost and applied parameters), and ``Page``s of them. One ``KeysetPager``
pages both the prompt list and the gallery.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

from dalletui.errors import ValidationError
from dalletui.generation.files import ImageStore
from dalletui.services.trash import TrashOutcome, TrashService
from dalletui.services.versions import FamilyView, family_view
from dalletui.storage import DatabaseManager, ImportSummary, PromptPage, PromptQuery
from dalletui.storage.counts import GenerationEntry
from dalletui.storage.models import (
    CONTROL_CHARS,
    PROMPT_MAX_CHARS,
    Generation,
    Prompt,
    UsageStat,
    normalize_prompt,
)
from dalletui.storage.prompt_import import (
    PROGRESS_EVERY_S,
    ImportProgress,
    ProgressCallback,
)
from dalletui.storage.prompts import PromptTotal
from dalletui.storage.search_syntax import name_key

if TYPE_CHECKING:
    from dalletui.generation.catalog import ModelCatalog

__all__ = [
    "Generation",
    "GenerationRow",
    "HistoryService",
    "ImagePlace",
    "ImageScope",
    "KeysetPager",
    "Page",
    "PageAsk",
    "Prompt",
    "PromptPage",
    "PromptQuery",
    "PromptTotal",
    "PromptRow",
    "model_choices",
    "name_key",
    "reuse_params",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


# -- typed values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptRow:
    """A prompt as the history list shows it: its own fields, its counts, its newest thumbnail.

    ``generation_count`` counts images (succeeded, with a file); ``failed_requests`` the
    requests that brought none (a cancelled n=10 is one), ``pending_requests`` those under way.
    Frozen: a widget that shows a new state (a star) keeps a changed copy (``with_favorite``);
    it never changes a shared row.
    """

    id: int
    text: str
    is_favorite: bool
    use_count: int
    created_at: dt.datetime
    last_used_at: dt.datetime
    generation_count: int = 0
    failed_requests: int = 0
    pending_requests: int = 0
    latest_thumbnail: str | None = None
    #: The other live members of its near-duplicate family (folded away while folding).
    variants: int = 0

    @classmethod
    def of(cls, prompt: Prompt) -> PromptRow:
        """The row for a prompt from ``search_prompts``, which selects its counts as columns."""
        columns = vars(prompt)  # the counts arrive as extra selected columns of the row
        images = columns.get("image_count", columns.get("generation_count"))
        return cls(
            id=prompt.id,
            text=prompt.text,
            is_favorite=bool(prompt.is_favorite),
            use_count=int(prompt.use_count or 0),
            created_at=prompt.created_at,
            last_used_at=prompt.last_used_at,
            generation_count=int(images or 0),
            failed_requests=int(columns.get("failed_request_count") or 0),
            pending_requests=int(columns.get("pending_request_count") or 0),
            latest_thumbnail=columns.get("latest_thumbnail"),
            variants=int(columns.get("variant_count") or 0),
        )

    @property
    def has_generations(self) -> bool:
        """True when the detail pane has something to list: images or requests without one."""
        return bool(self.generation_count or self.failed_requests or self.pending_requests)

    def with_favorite(self, on: bool) -> PromptRow:
        return dataclasses.replace(self, is_favorite=on)

    @property
    def star(self) -> str:
        return "★" if self.is_favorite else " "


@dataclass(frozen=True)
class GenerationRow:
    """One generation as History, the gallery and the image view show it.

    ``generation`` is the stored row (read it, never change it); ``usage`` its ledger row
    (tokens and cost; None when nothing was recorded: offline, imported, failed before sending).
    A request that brought no image is one row however many it asked: ``rows`` of its
    ``asked`` images ended so (``request_images`` is how many it did bring).
    """

    generation: Generation
    usage: UsageStat | None
    prompt_text: str
    prompt_favorite: bool
    rows: int = 1
    asked: int = 1
    request_images: int = 0

    @classmethod
    def of(
        cls, generation: Generation, prompt_text: str | None = None, favorite: bool | None = None
    ) -> GenerationRow:
        """The row for a listed generation (usage joined; without the two, its prompt too)."""
        if prompt_text is None or favorite is None:
            prompt = generation.prompt  # joined by the gallery's query: no query here
            prompt_text, favorite = prompt.text, bool(prompt.is_favorite)
        return cls(generation, _usage(generation), prompt_text, favorite)

    @classmethod
    def of_entry(cls, entry: GenerationEntry, prompt_text: str, favorite: bool) -> GenerationRow:
        """The row for one entry of ``prompt_entries`` (an image, or a request without one)."""
        generation = entry.generation
        return cls(
            generation,
            _usage(generation),
            prompt_text,
            favorite,
            rows=entry.rows,
            asked=entry.asked,
            request_images=entry.request_images,
        )

    @property
    def id(self) -> int:
        return int(self.generation.id)

    @property
    def prompt_id(self) -> int:
        return int(self.generation.prompt_id)

    @property
    def status(self) -> str:
        return str(self.generation.status)

    @property
    def is_image(self) -> bool:
        return self.generation.status == "succeeded" and bool(self.generation.file_path)

    @property
    def partial(self) -> bool:
        """Rows without image of a request that brought some (the API returned fewer)."""
        return not self.is_image and self.request_images > 0

    @property
    def cost(self) -> Decimal | None:
        """What the ledger says it cost (None: unknown or never billed)."""
        return None if self.usage is None or self.usage.cost is None else Decimal(self.usage.cost)

    @property
    def asked_params(self) -> dict[str, str]:
        """Quality, size, background and format as the request named them."""
        g = self.generation
        values = {
            "quality": g.quality,
            "size": g.size,
            "background": g.background,
            "output_format": g.output_format,
        }
        return {key: str(value) for key, value in values.items() if value}

    @property
    def applied(self) -> dict[str, str]:
        """What the response said it applied (``auto`` resolved); {} when it did not say."""
        return self.generation.applied

    @property
    def revised_prompt(self) -> str | None:
        return self.generation.revised_prompt or None

    def with_favorite(self, on: bool) -> GenerationRow:
        return dataclasses.replace(self, prompt_favorite=on)


def _usage(generation: Generation) -> UsageStat | None:
    # Storage's listing queries join the ledger row and set it as ``usage_row`` (None if none).
    usage = vars(generation).get("usage_row")
    return usage if isinstance(usage, UsageStat) else None


@dataclass(frozen=True)
class ImageScope:
    """The images a gallery shows and an image view steps through.

    ``query`` narrows them as it narrows the prompt list (text and ★ on the prompt, model and
    period on the image); ``prompt_id`` keeps one prompt's images.
    """

    query: PromptQuery = field(default_factory=PromptQuery)
    prompt_id: int | None = None
    #: Keep one lineage: the images of the family this generation belongs to (its oldest
    #: ancestor and everything made from it), whatever their prompts.
    lineage_of: int | None = None


@dataclass(frozen=True)
class ImagePlace:
    """An image and where it stands in its scope: ``position`` 0 is the newest."""

    row: GenerationRow
    position: int
    total: int

    @property
    def has_newer(self) -> bool:
        return self.position > 0

    @property
    def has_older(self) -> bool:
        return self.position < self.total - 1


@dataclass(frozen=True)
class InputRow:
    """One input of an edit as the image view lists it: one of ours (``generation_id``) or an
    outside file; ``available`` says whether it can still be opened."""

    role: str
    label: str
    generation_id: int | None
    path: str | None
    available: bool


@dataclass(frozen=True)
class LineageView:
    """How an image was made and what was made from it: ``chain`` runs from its oldest
    ancestor to the image itself (through each primary parent), ``children`` oldest first."""

    row: GenerationRow
    kind: str
    chain: list[GenerationRow]
    children: list[GenerationRow]
    inputs: list[InputRow]

    @property
    def parent(self) -> GenerationRow | None:
        return self.chain[-2] if len(self.chain) > 1 else None

    @property
    def has_family(self) -> bool:
        return len(self.chain) > 1 or bool(self.children)


# -- keyset pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset query.

    ``next_cursor`` asks for the page after it (None: this is the last); ``previous_cursor``
    for the page before (None: the first); ``start_cursor`` for this page again from its first
    item. ``offset`` and ``total`` say where it stands when the query counted (the gallery).
    """

    items: list[T]
    next_cursor: Any = None
    previous_cursor: Any = None
    start_cursor: Any = None
    offset: int = 0
    total: int | None = None


@dataclass(frozen=True)
class PageAsk:
    """One page to load: ``limit`` items from ``after`` on, or the ``limit`` before ``before``.

    Neither cursor: the first page. ``extend``: the page adds to what is shown (the prompt
    list grows) rather than replacing it (the gallery).
    """

    ticket: int
    limit: int
    after: Any = None
    before: Any = None
    extend: bool = False


class KeysetPager:
    """Where the pages of one keyset query stand, asked for and answered across a worker.

    The prompt list and the gallery both use one. The caller runs each ``PageAsk`` in a thread
    worker (through ``HistoryService``) and hands the page back to ``take`` on the UI thread;
    only the newest ask is taken, so a slow old query never overwrites a newer answer.
    """

    def __init__(self) -> None:
        self._ticket = 0
        self._first_ticket = 0
        self.page: Page[Any] | None = None
        self.loading: PageAsk | None = None

    def _ask(self, limit: int, **where: Any) -> PageAsk:
        self._ticket += 1
        self.loading = PageAsk(self._ticket, max(1, limit), **where)
        return self.loading

    def first(self, limit: int, *, start: Any = None) -> PageAsk:
        """The first page (or the page from ``start`` on) of a new query; supersedes any ask
        still out."""
        ask = self._ask(limit, after=start)
        self._first_ticket = ask.ticket
        return ask

    def again(self, limit: int) -> PageAsk:
        """The page shown, again from its first item (after a resize or a change)."""
        start = self.page.start_cursor if self.page is not None else None
        return self._ask(limit, after=start)

    def next(self, limit: int, *, extend: bool = False) -> PageAsk | None:
        """The page after the one shown; None while another ask is out or at the end."""
        if self.loading is not None or not self.has_next:
            return None
        assert self.page is not None
        return self._ask(limit, after=self.page.next_cursor, extend=extend)

    def previous(self, limit: int) -> PageAsk | None:
        """The page before the one shown; None while another ask is out or at the start."""
        if self.loading is not None or not self.has_previous:
            return None
        assert self.page is not None
        return self._ask(limit, before=self.page.previous_cursor)

    @property
    def has_next(self) -> bool:
        return self.page is not None and self.page.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.page is not None and self.page.previous_cursor is not None

    def is_newest(self, ask: PageAsk) -> bool:
        return ask.ticket == self._ticket

    def same_query(self, ask: PageAsk) -> bool:
        """True while no ``first`` came after ``ask``: what it found (a total) still holds."""
        return ask.ticket >= self._first_ticket

    def take(self, ask: PageAsk, page: Page[Any]) -> bool:
        """Keep ``page`` as the answer to ``ask``; False (nothing kept) if a newer ask is out."""
        if not self.is_newest(ask):
            return False
        self.loading = None
        self.page = page
        return True

    def failed(self) -> None:
        """The ask that was out failed: the next one may go."""
        self.loading = None


# -- domain helpers -------------------------------------------------------------------------


def reuse_params(generation: Generation | None) -> dict[str, Any]:
    """The parameters Compose should start from: those of the prompt's newest generation."""
    if generation is None:
        return {}
    recorded = generation.params or {}
    params: dict[str, Any] = {
        "model": generation.model,
        "size": generation.size,
        "quality": generation.quality,
        "n": recorded.get("n"),
        "output_format": generation.output_format,
        "background": recorded.get("background") or generation.background,
        "moderation": recorded.get("moderation"),
        "partial_images": recorded.get("partial_images"),
    }
    reused = {key: value for key, value in params.items() if value is not None}
    # None is a choice here (the API's default), so it is reused when the request recorded it.
    for key in ("output_compression", "complexity"):
        if key in recorded:
            reused[key] = recorded[key]
    return reused


def model_choices(catalog: ModelCatalog, used: Iterable[tuple[str, int]]) -> list[tuple[str, str]]:
    """(label, model) for the model filter: the user's models by use, then the rest offered now.

    The rest is the current catalogue without retired models and dated snapshots (a snapshot
    the user has used is listed with the used ones). A retired model says so in its label.
    """
    choices: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, _uses in used:
        if not name or name in seen:
            continue
        seen.add(name)
        retired = catalog.is_retired(name)
        choices.append((f"{name} (retired)" if retired else name, name))
    for spec in catalog.current():
        if spec.name not in seen and spec.snapshot_of is None:
            seen.add(spec.name)
            choices.append((spec.name, spec.name))
    return choices


# -- the service ----------------------------------------------------------------------------


class HistoryService:
    """What the History screen, its gallery and the ``history``/``favorite`` commands do."""

    def __init__(
        self, db: DatabaseManager, images: ImageStore, trash: TrashService | None = None
    ) -> None:
        self.db = db
        self.images = images
        self.trash = trash or TrashService(db, images)

    # -- prompts ------------------------------------------------------------------------

    def search(self, query: PromptQuery) -> Page[PromptRow]:
        """One page of prompt rows matching ``query`` (its ``after`` is the keyset cursor)."""
        page = self.db.search_prompts(query)
        return Page([PromptRow.of(p) for p in page.items], next_cursor=page.next_cursor)

    def prompt_page(self, query: PromptQuery, ask: PageAsk) -> Page[PromptRow]:
        """The page ``ask`` names of the prompts matching ``query`` (for a ``KeysetPager``)."""
        return self.search(dataclasses.replace(query, limit=ask.limit, after=ask.after))

    def find(
        self,
        text: str = "",
        *,
        favorites: bool = False,
        model: str | None = None,
        order: str = "recent",
        limit: int = 20,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Prompt]:
        """Prompts for a script (``dalletui history``), newest or most used first.

        The search text is taken as typed: the last word is not widened to a prefix as it is
        while the user types in the TUI (``cyber*`` asks for one). ``until`` is exclusive.
        Its operators (``tag:x``, ``in:"name"``, ``is:fav``, ``model:``, ``before:``,
        ``after:``; ``storage.search_syntax``) narrow as the flags do; one that cannot be used
        is a ``ValidationError`` (a script should not get a wider list than it asked for).
        Rows carry ``generation_count`` for the JSON output.
        """
        query = PromptQuery.from_search(
            text,
            favorites_only=favorites,
            model=model,
            order=order,
            limit=limit,
            since=since,
            until=until,
            prefix_last=False,
        )
        if query.problems:
            raise ValidationError(query.problems[0])
        return self.db.search_prompts(query).items

    def count(self, query: PromptQuery) -> int:
        return self.db.count_prompts(query)

    def total(self, query: PromptQuery, cap: int = 10_000) -> PromptTotal:
        """How many prompts match, exact up to ``cap`` ("10,000+" past it): cheap to ask on
        every keystroke, unlike ``count``, which reads every match."""
        return self.db.count_prompts_capped(query, cap)

    def get(self, prompt_id: int) -> Prompt:
        return self.db.get_prompt(prompt_id)

    def toggle_favorite(self, prompt_id: int) -> Prompt:
        return self.db.toggle_favorite(prompt_id)

    def set_favorite(self, prompt_id: int, on: bool) -> Prompt:
        return self.db.set_favorite(prompt_id, on)

    def delete(self, prompt_id: int) -> TrashOutcome:
        """Move a prompt and its images to the trash (``trash.restore`` undoes it)."""
        return self.trash.trash_prompt(prompt_id)

    def model_choices(self, catalog: ModelCatalog) -> list[tuple[str, str]]:
        """(label, model) pairs for the model filter (see ``model_choices``)."""
        return model_choices(catalog, self.db.models_by_use())

    # -- generations ------------------------------------------------------------------

    def generations(self, prompt_id: int) -> list[Generation]:
        """Every generation row of a prompt, newest first (scripts, tests; the UI: ``entries``)."""
        return self.db.generations_for_prompt(prompt_id)

    def entries(self, prompt_id: int) -> list[GenerationRow]:
        """A prompt's generations as people read them, newest first: each image, and each
        request that brought none as one row."""
        prompt = self.db.get_prompt(prompt_id)
        favorite = bool(prompt.is_favorite)
        return [
            GenerationRow.of_entry(entry, prompt.text, favorite)
            for entry in self.db.prompt_entries(prompt_id)
        ]

    def last_generation(self, prompt_id: int) -> Generation | None:
        """The newest generation of a prompt, to reuse its parameters."""
        generations = self.db.generations_for_prompt(prompt_id)
        return generations[0] if generations else None

    def reuse(self, prompt_id: int) -> dict[str, Any]:
        """The parameters Compose should start from for this prompt."""
        return reuse_params(self.last_generation(prompt_id))

    def variants(self, prompt_id: int) -> list[PromptRow]:
        """The live members of the prompt's near-duplicate family but itself, most used first
        (what a folded row expands to), as list rows with their counts."""
        ids = [p.id for p in self.db.family_members(prompt_id) if p.id != prompt_id]
        return [PromptRow.of(p) for p in self.db.prompt_rows(ids)]

    def family(self, prompt_id: int) -> FamilyView:
        """The versions around a prompt: its ancestors, its children, each one's word diff."""
        return family_view(self.db, prompt_id)

    # -- images: the gallery and the image view -----------------------------------------

    def gallery(
        self,
        scope: ImageScope | None = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[GenerationRow]:
        """Images in ``scope`` (default: all), newest first, by keyset on the generation id.

        ``before_id``: the ``limit`` newest older than it; ``after_id``: the ``limit`` oldest
        newer than it (the page before), still newest first.
        """
        scope = scope or ImageScope()
        if scope.lineage_of is not None:
            return _cut(self._lineage_images(scope.lineage_of), limit, before_id, after_id)
        if scope.prompt_id is not None:
            return self._prompt_images(scope.prompt_id, limit, before_id, after_id)
        rows = self.db.list_images(scope.query, limit=limit, before_id=before_id, after_id=after_id)
        return [GenerationRow.of(g) for g in rows]

    def _prompt_images(
        self, prompt_id: int, limit: int, before_id: int | None, after_id: int | None
    ) -> list[GenerationRow]:
        # One prompt's images are few; its entries are read whole and cut here.
        images = [row for row in self.entries(prompt_id) if row.is_image]
        return _cut(images, limit, before_id, after_id)

    def _lineage_images(self, generation_id: int) -> list[GenerationRow]:
        """The images of one lineage, newest first (a family is small: read whole)."""
        ids = self.db.family_ids(generation_id)
        rows = self.db.generations_by_ids(ids)
        images = [
            GenerationRow.of(g)
            for g in rows
            if g.status == "succeeded" and g.file_path and g.deleted_at is None
        ]
        return sorted(images, key=lambda row: row.id, reverse=True)

    # -- lineage ------------------------------------------------------------------------

    def lineage(self, generation_id: int) -> LineageView:
        """What ``generation_id`` was made from and what was made from it (trash left out)."""
        generation = self.db.get_generation(generation_id)
        chain = [GenerationRow.of(g) for g in self.db.chain(generation_id)]
        children = [GenerationRow.of(g) for g in self.db.children(generation_id)]
        inputs: list[InputRow] = []
        for item in self.db.inputs(generation_id):
            parent_id = item.parent_generation_id
            if parent_id is not None:
                parents = self.db.generations_by_ids([parent_id])
                parent = parents[0] if parents else None
                available = bool(
                    parent is not None
                    and parent.deleted_at is None
                    and parent.file_path
                    and Path(parent.file_path).is_file()
                )
                path = parent.file_path if parent is not None else None
                inputs.append(InputRow(item.role, f"#{parent_id}", parent_id, path, available))
            else:
                path = item.file_path
                label = Path(path).name if path else "(unknown file)"
                available = bool(path and Path(path).is_file())
                inputs.append(InputRow(item.role, label, None, path, available))
        return LineageView(
            row=chain[-1] if chain else GenerationRow.of(generation),
            kind=str(generation.kind or "generate"),
            chain=chain,
            children=children,
            inputs=inputs,
        )

    def count_images(self, scope: ImageScope, *, newer_than: int | None = None) -> int:
        """How many images ``scope`` holds (with ``newer_than``: how many newer than that id)."""
        if scope.lineage_of is not None:
            return len(_cut(self._lineage_images(scope.lineage_of), 1_000_000, None, newer_than))
        if scope.prompt_id is not None:
            images = self._prompt_images(scope.prompt_id, 1_000_000, None, newer_than)
            return len(images)
        if newer_than is not None:
            return self.db.count_images_newer(scope.query, newer_than)
        return self.db.count_images(scope.query)

    def image_page(
        self, scope: ImageScope, ask: PageAsk, *, around: int | None = None
    ) -> Page[GenerationRow]:
        """The gallery page ``ask`` names; cursors are generation ids (older is smaller).

        ``ask.after`` is exclusive: the page from image N on asks for ``after=N + 1``, and a
        page's ``start_cursor`` is what asks for it again (after a card on it was trashed or
        restored, the same start). ``around``: instead, the page that holds that image, pages
        counted in ``ask.limit`` from the newest (so a resize re-flows the same images). The
        page is counted: ``offset`` images come before it, of ``total``.
        """
        start = ask.after
        if around is not None:
            start = self._page_start(scope, around, ask.limit)
        if ask.before is not None and around is None:
            items = self.gallery(scope, limit=ask.limit, after_id=ask.before)
            if len(items) < ask.limit:  # near the newest: a full page from the top instead
                items = self.gallery(scope, limit=ask.limit)
            start = items[0].id + 1 if items else None
        else:
            items = self.gallery(scope, limit=ask.limit, before_id=start)
        total = self.count_images(scope)
        if not items:
            return Page([], total=total)
        first, last = items[0].id, items[-1].id
        offset = self.count_images(scope, newer_than=first)
        return Page(
            items,
            next_cursor=last if offset + len(items) < total else None,
            previous_cursor=first if offset else None,
            start_cursor=start if offset else None,
            offset=offset,
            total=total,
        )

    def _page_start(self, scope: ImageScope, generation_id: int, limit: int) -> int | None:
        """The start cursor of the ``limit``-sized page (counted from the newest) holding it."""
        on_page_before = self.count_images(scope, newer_than=generation_id) % limit
        if not on_page_before:
            return generation_id + 1
        newer = self.gallery(scope, limit=on_page_before, after_id=generation_id)
        return newer[0].id + 1 if newer else None

    def newest_image(self, scope: ImageScope, prompt_id: int) -> int | None:
        """The newest image of ``prompt_id`` that ``scope`` holds (where a gallery opens)."""
        for row in self.entries(prompt_id):
            if row.is_image and self._in_scope(scope, row.id) is not None:
                return row.id
        return None

    def _in_scope(self, scope: ImageScope, generation_id: int) -> GenerationRow | None:
        found = self.gallery(scope, limit=1, before_id=generation_id + 1)
        return found[0] if found and found[0].id == generation_id else None

    def image_place(self, scope: ImageScope, generation_id: int) -> ImagePlace | None:
        """An image of ``scope`` and its position (None when it is gone from the scope)."""
        row = self._in_scope(scope, generation_id)
        return None if row is None else self._place(scope, row)

    def step(self, scope: ImageScope, generation_id: int, direction: int) -> ImagePlace | None:
        """The next older (``direction`` 1) or newer (-1) image of ``scope``; None at the end."""
        if direction > 0:
            found = self.gallery(scope, limit=1, before_id=generation_id)
        else:
            found = self.gallery(scope, limit=1, after_id=generation_id)
        return self._place(scope, found[0]) if found else None

    def _place(self, scope: ImageScope, row: GenerationRow) -> ImagePlace:
        newer = self.count_images(scope, newer_than=row.id)
        total = self.count_images(scope)
        return ImagePlace(row, newer, max(total, newer + 1))

    # -- import -------------------------------------------------------------------------

    def import_file(self, path: Path, progress: ProgressCallback | None = None) -> ImportSummary:
        """Add prompts from a text file (one a line, ``.gz`` accepted), all or nothing.

        The file is read twice: once to check every line (a bad file imports nothing and the
        message says where it is bad), once to stream it into the database. ``progress`` is
        called now and then with an ``ImportProgress`` ("checking", then "reading", then
        "merging"); an exception it raises (``KeyboardInterrupt``) leaves nothing imported.
        """
        cleaned = check_prompt_file(path, progress)
        return self.db.import_prompts(iter_prompt_lines(path), cleaned=cleaned, progress=progress)


def _cut(
    images: list[GenerationRow], limit: int, before_id: int | None, after_id: int | None
) -> list[GenerationRow]:
    """A page of a list read whole (newest first), by keyset on the generation id."""
    if before_id is not None:
        images = [row for row in images if row.id < before_id]
    if after_id is not None:
        images = [row for row in images if row.id > after_id][-limit:]
    return images[:limit]


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 (closed by the caller's with)


def iter_prompt_lines(path: Path) -> Iterator[str]:
    """The lines of a prompt file, one at a time (check it first with ``check_prompt_file``)."""
    with _open_text(path) as handle:
        for line in handle:
            yield line.strip()


def check_prompt_file(path: Path, progress: ProgressCallback | None = None) -> int:
    """Check every line of a prompt file; returns how many lines hold control characters.

    ``progress`` is called about every ``PROGRESS_EVERY_S`` with the lines checked so far.
    """
    try:
        is_file = path.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ValidationError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not is_file:
        raise ValidationError(f"{path} does not exist or is not a file.")
    cleaned = 0
    any_text = False
    reported = time.monotonic()
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if progress is not None and not number & 4095:
                    moment = time.monotonic()
                    if moment - reported >= PROGRESS_EVERY_S:
                        reported = moment
                        progress(ImportProgress("checking", number))
                text = line.strip()
                if "\x00" in text:
                    raise ValidationError(
                        f"{path} line {number} holds binary data; not a text file."
                    )
                if len(text) > PROMPT_MAX_CHARS:
                    raise ValidationError(
                        f"{path} line {number} is {len(text):,} characters; "
                        f"the limit is {PROMPT_MAX_CHARS:,}. Nothing was imported."
                    )
                if CONTROL_CHARS.search(text):
                    cleaned += 1
                any_text = any_text or bool(normalize_prompt(text))
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path} is not UTF-8 text ({exc.reason}); nothing was imported."
        ) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValidationError(
            f"{path} is not a valid gzip file ({exc}); nothing was imported."
        ) from exc
    except OSError as exc:
        raise ValidationError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not any_text:
        raise ValidationError(f"{path} holds no prompts (every line is blank).")
    return cleaned
