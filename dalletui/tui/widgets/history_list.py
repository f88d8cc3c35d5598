"""The History screen's prompt list: a line-API list that draws only the rows on screen.

Rows arrive page by page (keyset pages from the history service); the list never asks for data
itself. It posts ``NearEnd`` when the cursor or the scroll position comes close to the last
loaded row, and the screen answers with the next page. A hundred thousand rows cost a Python
list, not a hundred thousand widgets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dalletui.formatting import humanize_age
from dalletui.textsafe import printable

if TYPE_CHECKING:
    from dalletui.services.history import Prompt

#: Ask for the next page when the cursor (or the bottom of the view) is this close to the end.
NEAR_END_ROWS = 40
_WORDS = re.compile(r'"([^"]+)"|(\S+)')


@dataclass(frozen=True)
class Columns:
    """Cell widths for one list width; optional columns drop out on narrow terminals."""

    text: int
    uses: int
    age: int
    gens: int

    STAR: ClassVar[int] = 2

    @classmethod
    def fit(cls, width: int) -> Columns:
        uses, age, gens = 4, 11, 4
        if width < 60:
            uses = 0
        if width < 50:
            gens = 0
        if width < 44:
            age = 0
        fixed = 1 + cls.STAR + sum(w + 1 for w in (uses, age, gens) if w) + 1
        return cls(text=max(width - fixed, 8), uses=uses, age=age, gens=gens)


def search_words(query: str) -> list[str]:
    """The words (and quoted phrases) of a search, to highlight in the list."""
    words = []
    for match in _WORDS.finditer(query):
        word = (match.group(1) or match.group(2) or "").strip("*")
        if any(ch.isalnum() for ch in word):
            words.append(word)
    return words


class PromptList(ScrollView, can_focus=True):
    """Prompts newest first: star, text, uses, last used, generation count."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "prompt-list--header",
        "prompt-list--cursor",
        "prompt-list--cursor-blurred",
        "prompt-list--stripe",
        "prompt-list--star",
        "prompt-list--muted",
        "prompt-list--match",
    }

    DEFAULT_CSS = """
    PromptList {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;

        & > .prompt-list--header {
            color: $foreground-muted;
            text-style: bold;
        }
        & > .prompt-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .prompt-list--cursor-blurred {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        & > .prompt-list--stripe {
            background: $foreground 4%;
        }
        & > .prompt-list--star {
            color: $text-warning;
        }
        & > .prompt-list--muted {
            color: $foreground-muted;
        }
        & > .prompt-list--match {
            color: $text-accent;
            text-style: bold underline;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="prompt-list.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="prompt-list.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="prompt-list.page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="prompt-list.page-down"),
        Binding("home", "first", "First", show=False, id="prompt-list.first"),
        Binding("end", "last", "Last loaded", show=False, id="prompt-list.last"),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor moved to ``prompt`` (None when the list is empty)."""

        prompt_list: PromptList
        prompt: Prompt | None

        @property
        def control(self) -> PromptList:
            return self.prompt_list

    @dataclass
    class Selected(Message):
        """``prompt`` was double-clicked."""

        prompt_list: PromptList
        prompt: Prompt

        @property
        def control(self) -> PromptList:
            return self.prompt_list

    @dataclass
    class NearEnd(Message):
        """The user is close to the last loaded row and more rows exist."""

        prompt_list: PromptList

        @property
        def control(self) -> PromptList:
            return self.prompt_list

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[Prompt] = []
        self.cursor = 0
        self.has_more = False
        self.empty_text = "Loading…"
        self._positions: dict[int, int] = {}
        self._flat: dict[int, str] = {}
        self._words: list[str] = []

    # -- data in ------------------------------------------------------------------------

    def replace(
        self,
        items: Sequence[Prompt],
        *,
        has_more: bool,
        keep_id: int | None = None,
        search: str = "",
        empty_text: str = "No prompts.",
    ) -> None:
        """Show a fresh first page, keeping the cursor on ``keep_id`` when it is there."""
        self.rows = list(items)
        self.has_more = has_more
        self.empty_text = empty_text
        self._words = search_words(search)
        self._reindex()
        self._flat = {}
        self.cursor = self._positions.get(keep_id, 0) if keep_id is not None else 0
        self._resize()
        if keep_id is None or keep_id not in self._positions:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.highlighted))

    def extend(self, items: Iterable[Prompt], *, has_more: bool) -> None:
        """Append the next page (rows already present are skipped)."""
        for prompt in items:
            if prompt.id not in self._positions:
                self._positions[prompt.id] = len(self.rows)
                self.rows.append(prompt)
        self.has_more = has_more
        self._resize()
        self.refresh()

    def remove(self, prompt_id: int) -> None:
        """Drop a row (after a delete); the cursor stays at the same place."""
        position = self._positions.get(prompt_id)
        if position is None:
            return
        del self.rows[position]
        self._flat.pop(prompt_id, None)
        self._reindex()
        self.cursor = min(self.cursor, max(len(self.rows) - 1, 0))
        self._resize()
        self.refresh()
        self.post_message(self.Highlighted(self, self.highlighted))

    def set_favorite(self, prompt_id: int, on: bool) -> Prompt | None:
        """Show a new favourite state for a row; returns the row's prompt if it is loaded."""
        position = self._positions.get(prompt_id)
        if position is None:
            return None
        prompt = self.rows[position]
        prompt.is_favorite = on
        self._refresh_row(position)
        return prompt

    def _reindex(self) -> None:
        self._positions = {prompt.id: index for index, prompt in enumerate(self.rows)}

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, self._line_count)

    @property
    def _line_count(self) -> int:
        return 1 + max(len(self.rows), 1) + (1 if self.has_more and self.rows else 0)

    # -- data out -----------------------------------------------------------------------

    @property
    def highlighted(self) -> Prompt | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._positions

    def index_of(self, prompt_id: int) -> int | None:
        return self._positions.get(prompt_id)

    # -- moving -------------------------------------------------------------------------

    @property
    def _visible_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            old = self.cursor
            self.cursor = index
            self._refresh_row(old)
            self._refresh_row(index)
            self.post_message(self.Highlighted(self, self.highlighted))
        self._scroll_to_cursor()
        self._check_near_end()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self._visible_rows)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.rows) - 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        visible = self._visible_rows
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def _check_near_end(self) -> None:
        if not self.has_more or not self.rows:
            return
        bottom = round(self.scroll_y) + self._visible_rows
        if max(self.cursor, bottom) >= len(self.rows) - NEAR_END_ROWS:
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._check_near_end()

    def _refresh_row(self, index: int) -> None:
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def _on_resize(self, event: events.Resize) -> None:
        self._resize()

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = offset.y - 1 + round(self.scroll_y)
        if 0 <= index < len(self.rows):
            self.move_to(index)
            if event.chain == 2:
                self.post_message(self.Selected(self, self.rows[index]))

    # -- drawing ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        columns = Columns.fit(width)
        if y == 0:
            return self._header(columns, width, base)
        index = y - 1 + round(self.scroll_y)
        if index < len(self.rows):
            return self._row(index, columns, width, base)
        if index == len(self.rows) and self.rows and self.has_more:
            return self._note("  Loading more…", width, base)
        if not self.rows and y == 1:
            return self._note(f"  {self.empty_text}", width, base)
        return Strip.blank(width, base)

    def _style(self, name: str) -> Style:
        """A whole-line style: the component's colours blended over the list's background."""
        return self.get_component_rich_style(name)

    def _fg(self, name: str) -> Style:
        """A span style: the component's foreground only, so any line background shows."""
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold, underline=full.underline)

    def _header(self, columns: Columns, width: int, base: Style) -> Strip:
        style = self._style("prompt-list--header")
        line = Text(" " + " " * Columns.STAR, style=style, no_wrap=True, end="")
        line.append("Prompt".ljust(columns.text))
        if columns.uses:
            line.append(" " + "Uses".rjust(columns.uses))
        if columns.age:
            line.append(" " + "Last used".ljust(columns.age))
        if columns.gens:
            line.append(" " + "Gens".rjust(columns.gens))
        return self._strip(line, width, style)

    def _note(self, text: str, width: int, base: Style) -> Strip:
        style = self._style("prompt-list--muted")
        return self._strip(Text(text, style=style, no_wrap=True, end=""), width, style)

    def _flat_text(self, prompt: Prompt) -> str:
        flat = self._flat.get(prompt.id)
        if flat is None:
            # Only the start can ever show; flattening 32k characters per repaint is waste.
            # printable: no control character from the prompt reaches the terminal.
            flat = " ".join(printable((prompt.text or "")[:400], single_line=True).split())
            self._flat[prompt.id] = flat
        return flat

    def _row(self, index: int, columns: Columns, width: int, base: Style) -> Strip:
        prompt = self.rows[index]
        style = base
        if index % 2:
            style = self._style("prompt-list--stripe")
        if index == self.cursor:
            name = "prompt-list--cursor" if self.has_focus else "prompt-list--cursor-blurred"
            style = self._style(name)
        muted = self._fg("prompt-list--muted")
        line = Text(" ", style=style, no_wrap=True, end="")
        line.append(
            ("★" if prompt.is_favorite else " ").ljust(Columns.STAR),
            self._fg("prompt-list--star"),
        )
        text = Text(self._flat_text(prompt), no_wrap=True, overflow="ellipsis", end="")
        if self._words:
            match = self._fg("prompt-list--match")
            text.highlight_words(self._words, match, case_sensitive=False)
        text.truncate(columns.text, overflow="ellipsis", pad=True)
        line.append_text(text)
        if columns.uses:
            line.append(" " + f"{prompt.use_count:,}".rjust(columns.uses))
        if columns.age:
            line.append(" " + humanize_age(prompt.last_used_at)[: columns.age].ljust(columns.age))
        if columns.gens:
            count = getattr(prompt, "generation_count", 0) or 0
            line.append(" ")
            line.append(
                (f"{count:,}" if count else "·").rjust(columns.gens), None if count else muted
            )
        return self._strip(line, width, style)

    def _strip(self, line: Text, width: int, style: Style) -> Strip:
        segments = list(line.render(self.app.console))
        return Strip(segments).crop_extend(0, width, style).simplify()
