"""The History screen's filter bar: search box, favourites-only and folding on one row; model,
period, tag and collection pickers on the next.

The bar only holds the controls and describes them as ``HistoryFilters``; the screen turns
that into a ``PromptQuery`` and runs it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Checkbox, Input, Select

from dalletui import timeutil
from dalletui.services.history import ImageScope, PromptQuery, name_key
from dalletui.textsafe import printable
from dalletui.tui.widgets.toggles import StateCheckbox

#: (label, key) of the period picker; the key names a start time relative to now.
PERIODS: tuple[tuple[str, str], ...] = (
    ("Any time", "any"),
    ("Today", "today"),
    ("Last 7 days", "7d"),
    ("Last 30 days", "30d"),
)
ANY_MODEL = ""
ANY_TAG = ""
ANY_COLLECTION = ""


@dataclass(frozen=True)
class HistoryFilters:
    """What the user asked the prompt list to show."""

    text: str = ""
    favorites_only: bool = False
    model: str | None = None
    period: str = "any"
    #: A tag's and a collection's name (as shown; matched by ``name_key``, any case).
    tag: str | None = None
    collection: str | None = None
    #: Near-duplicates folded under their most-used member (``z``).
    fold: bool = False

    def since(self, now: dt.datetime | None = None) -> dt.datetime | None:
        now = now or timeutil.now()
        if self.period == "today":
            return timeutil.start_of_day(now.date())
        if self.period == "7d":
            return now - dt.timedelta(days=7)
        if self.period == "30d":
            return now - dt.timedelta(days=30)
        return None

    def query(self, limit: int = 100, after: Any = None) -> PromptQuery:
        return PromptQuery.from_search(
            self.text,
            favorites_only=self.favorites_only,
            model=self.model,
            since=self.since(),
            limit=limit,
            after=after,
            prefix_last=True,
            tags=(name_key(self.tag),) if self.tag else (),
            collections=(name_key(self.collection),) if self.collection else (),
            fold=self.fold,
        )

    def scope(self) -> ImageScope:
        """The images these filters keep, for the gallery (text and ★ on the prompt, model and
        period on the image); every variant's images, folded or not."""
        return ImageScope(dataclasses.replace(self.query(), fold=False))

    @property
    def active(self) -> bool:
        """True when anything narrows the list (folding shows every family: it does not)."""
        return bool(
            self.text.strip()
            or self.favorites_only
            or self.model
            or self.period != "any"
            or self.tag
            or self.collection
        )

    def describe(self, *, with_text: bool = False) -> str:
        """A short summary of the narrowing filters, for the list's (or gallery's) title."""
        parts = []
        if with_text and self.text.strip():
            parts.append(f"“{' '.join(self.text.split())}”")
        if self.favorites_only:
            parts.append("★ only")
        if self.model:
            parts.append(self.model)
        if self.period != "any":
            parts.append(dict((key, label) for label, key in PERIODS)[self.period].lower())
        if self.tag:
            parts.append(f"tag {self.tag}")
        if self.collection:
            parts.append(f"in {self.collection}")
        if self.fold:
            parts.append("variants folded")
        return " · ".join(parts)


class FilterBar(Vertical):
    """Two rows: the search input (with ★ and folding beside it), then the pickers."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row-search"):
            yield Input(
                placeholder="Search prompts…  (/)",
                id="search",
                compact=True,
                select_on_focus=False,
                tooltip="Full-text search; the last word matches as a prefix while you type. "
                'Also tag:NAME -tag:NAME in:"COLLECTION" is:fav model:MODEL after:DATE '
                "before:DATE (YYYY-MM-DD). escape returns to the list",
            )
            yield StateCheckbox(
                "★ only",
                id="filter-favorites",
                compact=True,
                tooltip="Only favourite prompts (*)",
            )
            yield StateCheckbox(
                "Fold variants",
                id="filter-fold",
                compact=True,
                tooltip="Near-duplicates (case, spacing, punctuation, word order, one word) "
                "under their most-used member; x expands one (z)",
            )
        with Horizontal(id="filter-row-pickers"):
            yield Select(
                [("Any model", ANY_MODEL)],
                value=ANY_MODEL,
                allow_blank=False,
                compact=True,
                id="filter-model",
                tooltip="Only prompts with an image from this model",
            )
            yield Select(
                PERIODS,
                value="any",
                allow_blank=False,
                compact=True,
                id="filter-period",
                tooltip="Only prompts used in this period",
            )
            yield Select(
                [("Any tag", ANY_TAG)],
                value=ANY_TAG,
                allow_blank=False,
                compact=True,
                id="filter-tag",
                tooltip="Only prompts with this tag (t tags the highlighted prompt)",
            )
            yield Select(
                [("Any collection", ANY_COLLECTION)],
                value=ANY_COLLECTION,
                allow_blank=False,
                compact=True,
                id="filter-collection",
                tooltip="Only prompts in this collection, or with an image in it (c adds one)",
            )

    @property
    def filters(self) -> HistoryFilters:
        model = self.query_one("#filter-model", Select).value
        period = self.query_one("#filter-period", Select).value
        tag = self.query_one("#filter-tag", Select).value
        collection = self.query_one("#filter-collection", Select).value
        return HistoryFilters(
            text=self.query_one("#search", Input).value,
            favorites_only=self.query_one("#filter-favorites", Checkbox).value,
            model=model if isinstance(model, str) and model else None,
            period=period if isinstance(period, str) else "any",
            tag=tag if isinstance(tag, str) and tag else None,
            collection=collection if isinstance(collection, str) and collection else None,
            fold=self.query_one("#filter-fold", Checkbox).value,
        )

    def set_models(self, models: Iterable[tuple[str, str]]) -> None:
        """Offer these (label, model) pairs, keeping the current choice when still offered."""
        self._offer("#filter-model", ("Any model", ANY_MODEL), models)

    def set_tags(self, tags: Iterable[tuple[str, int]]) -> None:
        """Offer these (name, prompt count) tags; a tag no longer in use falls back to any."""
        self._offer("#filter-tag", ("Any tag", ANY_TAG), ((f"{n} ({c:,})", n) for n, c in tags))

    def set_collections(self, collections: Iterable[tuple[str, int]]) -> None:
        """Offer these (name, item count) collections, as ``set_tags`` does."""
        self._offer(
            "#filter-collection",
            ("Any collection", ANY_COLLECTION),
            ((f"{n} ({c:,})", n) for n, c in collections),
        )

    def _offer(
        self, selector: str, first: tuple[str, str], choices: Iterable[tuple[str, str]]
    ) -> None:
        """Set a picker's (label, value) options, keeping its choice when still offered.

        When the choice is gone (the last prompt with that tag untagged) the picker says any
        and posts its change, so the list follows."""
        select = self.query_one(selector, Select)
        current = select.value
        # Content labels: a name from the database is never read as markup.
        options: list[tuple[str | Content, str]] = [first]
        options += [(Content(printable(label, single_line=True)), v) for label, v in choices]
        values = [value for _, value in options]
        with select.prevent(Select.Changed):
            select.set_options(options)
            if current in values:
                select.value = current
        if current not in values:  # set_options picked the first: the filters change
            select.post_message(Select.Changed(select, select.value))

    def toggle_favorites(self) -> None:
        self.query_one("#filter-favorites", Checkbox).toggle()

    def toggle_fold(self) -> None:
        self.query_one("#filter-fold", Checkbox).toggle()

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()
