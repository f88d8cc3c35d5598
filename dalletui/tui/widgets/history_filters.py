"""The History screen's filter bar: search box, model, period and favourites-only.

The bar only holds the controls and describes them as ``HistoryFilters``; the screen turns
that into a ``PromptQuery`` and runs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Checkbox, Input, Select

from dalletui import timeutil
from dalletui.services.history import ImageScope, PromptQuery
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


@dataclass(frozen=True)
class HistoryFilters:
    """What the user asked the prompt list to show."""

    text: str = ""
    favorites_only: bool = False
    model: str | None = None
    period: str = "any"

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
        )

    def scope(self) -> ImageScope:
        """The images these filters keep, for the gallery (text and ★ on the prompt, model and
        period on the image)."""
        return ImageScope(self.query())

    @property
    def active(self) -> bool:
        """True when anything narrows the list."""
        return bool(self.text.strip() or self.favorites_only or self.model or self.period != "any")

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
        return " · ".join(parts)


class FilterBar(Horizontal):
    """One row: the search input takes what the pickers leave."""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="Search prompts…  (/)",
            id="search",
            compact=True,
            select_on_focus=False,
            tooltip="Full-text search; the last word matches as a prefix while you type. "
            'Also tag:NAME -tag:NAME in:"COLLECTION" is:fav model:MODEL after:DATE '
            "before:DATE (YYYY-MM-DD). escape returns to the list",
        )
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
        yield StateCheckbox(
            "★ only",
            id="filter-favorites",
            compact=True,
            tooltip="Only favourite prompts (*)",
        )

    @property
    def filters(self) -> HistoryFilters:
        model = self.query_one("#filter-model", Select).value
        period = self.query_one("#filter-period", Select).value
        return HistoryFilters(
            text=self.query_one("#search", Input).value,
            favorites_only=self.query_one("#filter-favorites", Checkbox).value,
            model=model if isinstance(model, str) and model else None,
            period=period if isinstance(period, str) else "any",
        )

    def set_models(self, models: Iterable[tuple[str, str]]) -> None:
        """Offer these (label, model) pairs, keeping the current choice when still offered."""
        select = self.query_one("#filter-model", Select)
        current = select.value
        # Content labels: a model name from the usage records is never read as markup.
        options: list[tuple[str | Content, str]] = [("Any model", ANY_MODEL)]
        options += [(Content(printable(label, single_line=True)), value) for label, value in models]
        with select.prevent(Select.Changed):
            select.set_options(options)
            values = [value for _, value in options]
            select.value = current if current in values else ANY_MODEL

    def toggle_favorites(self) -> None:
        self.query_one("#filter-favorites", Checkbox).toggle()

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()
