"""The History screen's prompt list: a line-API list that draws only the rows on screen.

Rows arrive page by page (keyset pages from the history service); the list never asks for data
itself. It posts ``NearEnd`` when the cursor or the scroll position comes close to the last
loaded row, and the screen answers with the next page. A hundred thousand rows cost a Python
list, not a hundred thousand widgets.

While a search is on, the words it matched are highlighted, and a row whose first hit lies past
the end of its cell shows the part of the prompt around that hit instead (after a ``…``).

Folded (near-duplicates under their most-used member), a row with variants ends in ``+N``;
``expand`` puts the variants under it, indented (``↳``), until ``collapse``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle

from dalletui.formatting import humanize_age
from dalletui.services.search_hits import SearchMatcher, Span
from dalletui.textsafe import printable

if TYPE_CHECKING:
    from dalletui.services.history import PromptRow

#: Ask for the next page when the cursor (or the bottom of the view) is this close to the end.
NEAR_END_ROWS = 40
#: Without a search only the start of a prompt can show: flattening 32k characters is waste.
UNSEARCHED_CHARS = 400


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


def _window_start(text: str, hit: Span, width: int) -> int:
    """Where a row that must show ``hit`` starts: context before it, from a word's start.

    When the rest of the prompt fits after the leading ``…``, the row is filled with what comes
    before the hit; otherwise a quarter of the row goes to it, and the hit shows whole.
    """
    start, end = hit
    tail = cell_len(text[start:])
    if tail <= width - 1:
        context = width - 1 - tail
    else:
        # Room for both ellipses and the hit itself.
        context = max(0, min(width // 4, width - 2 - cell_len(text[start:end])))
    begin, cells = start, 0
    while begin > 0 and cells + cell_len(text[begin - 1]) <= context:
        begin -= 1
        cells += cell_len(text[begin])
    if begin > 0 and text[begin - 1] != " ":
        # Do not open on the tail of a cut word when a whole one follows before the hit.
        space = text.find(" ", begin, start)
        if space != -1:
            begin = space + 1
    while begin < start and text[begin] == " ":
        begin += 1
    return begin


def prompt_cell(
    text: str, hits: Sequence[Span], width: int, match: VisualStyle | str = "bold underline"
) -> Content:
    """A prompt in ``width`` cells with its search ``hits`` styled ``match``.

    When the first hit would be cut off, the cell shows the part of the prompt around it,
    after a leading ``…``. ``text`` is already printable (``textsafe.printable``).
    """
    content = Content(text)
    for start, end in hits:
        content = content.stylize(match, start, end)
    if hits:
        first_end = cell_len(text[: hits[0][1]])
        fits = first_end <= (width if cell_len(text) <= width else width - 1)
        begin = 0 if fits else _window_start(text, hits[0], width)
        if begin > 0:
            content = Content("…") + content[begin:]
    return content.truncate(width, ellipsis=True, pad=True)


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
        prompt: PromptRow | None

        @property
        def control(self) -> PromptList:
            return self.prompt_list

    @dataclass
    class Selected(Message):
        """``prompt`` was double-clicked."""

        prompt_list: PromptList
        prompt: PromptRow

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
        self.rows: list[PromptRow] = []
        self.cursor = 0
        self.has_more = False
        self.empty_text = "Loading…"
        self._positions: dict[int, int] = {}
        #: Per prompt id: its one-line text and where the search hits it (drawn rows only).
        self._flat: dict[int, tuple[str, list[Span]]] = {}
        self._matcher = SearchMatcher()
        #: Folded: rows stand for families (``PromptRow.variants`` shown as ``+N``).
        self.folded = False
        #: Expanded families: head id -> the variant ids shown under it; and back.
        self._expanded: dict[int, list[int]] = {}
        self._head_of: dict[int, int] = {}

    # -- data in ------------------------------------------------------------------------

    def replace(
        self,
        items: Sequence[PromptRow],
        *,
        has_more: bool,
        keep_id: int | None = None,
        search: str = "",
        empty_text: str = "No prompts.",
        folded: bool = False,
    ) -> None:
        """Show a fresh first page, keeping the cursor on ``keep_id`` when it is there."""
        self.rows = list(items)
        self.folded = folded
        self._expanded = {}
        self._head_of = {}
        self.has_more = has_more
        self.empty_text = empty_text
        self._matcher = SearchMatcher.for_search(search)
        self._reindex()
        self._flat = {}
        self.cursor = self._positions.get(keep_id, 0) if keep_id is not None else 0
        self._resize()
        if keep_id is None or keep_id not in self._positions:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.highlighted))

    def extend(self, items: Iterable[PromptRow], *, has_more: bool) -> None:
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
        if prompt_id in self._expanded:
            self.collapse(prompt_id)
            position = self._positions[prompt_id]
        del self.rows[position]
        self._flat.pop(prompt_id, None)
        head = self._head_of.pop(prompt_id, None)
        if head is not None and prompt_id in self._expanded.get(head, []):
            self._expanded[head].remove(prompt_id)
        self._reindex()
        self.cursor = min(self.cursor, max(len(self.rows) - 1, 0))
        self._resize()
        self.refresh()
        self.post_message(self.Highlighted(self, self.highlighted))

    def set_favorite(self, prompt_id: int, on: bool) -> PromptRow | None:
        """Show a new favourite state for a row; returns the row's prompt if it is loaded."""
        position = self._positions.get(prompt_id)
        if position is None:
            return None
        prompt = self.rows[position].with_favorite(on)  # a new row: the old one is shared
        self.rows[position] = prompt
        self._refresh_row(position)
        return prompt

    # -- folded families ------------------------------------------------------------------

    def expand(self, head_id: int, variants: Sequence[PromptRow]) -> None:
        """Show ``variants`` under the row of ``head_id`` (those not in the list already)."""
        position = self._positions.get(head_id)
        if position is None or head_id in self._expanded:
            return
        shown = [row for row in variants if row.id not in self._positions]
        self.rows[position + 1 : position + 1] = shown
        self._expanded[head_id] = [row.id for row in shown]
        for row in shown:
            self._head_of[row.id] = head_id
        self._reindex()
        self._resize()
        self.refresh()
        # The cursor stays on its row: past the family it moved down with it.
        if self.cursor > position:
            self.cursor += len(shown)
        self._scroll_to_cursor()

    def collapse(self, head_id: int) -> None:
        """Fold the variants shown under ``head_id`` back; a cursor on one goes to the head."""
        ids = self._expanded.pop(head_id, None)
        if ids is None:
            return
        on = self.highlighted
        gone = set(ids)
        for variant in ids:
            self._head_of.pop(variant, None)
            self._flat.pop(variant, None)
        self.rows = [row for row in self.rows if row.id not in gone]
        self._reindex()
        target = head_id if on is None or on.id in gone else on.id
        self.cursor = self._positions.get(target, 0)
        self._resize()
        self.refresh()
        self._scroll_to_cursor()
        if on is None or on.id in gone:
            self.post_message(self.Highlighted(self, self.highlighted))

    def head_of(self, prompt_id: int) -> int | None:
        """The family row a shown variant sits under (None for any other row)."""
        return self._head_of.get(prompt_id)

    def is_expanded(self, prompt_id: int) -> bool:
        return prompt_id in self._expanded

    def _reindex(self) -> None:
        self._positions = {prompt.id: index for index, prompt in enumerate(self.rows)}

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, self._line_count)

    @property
    def _line_count(self) -> int:
        return 1 + max(len(self.rows), 1) + (1 if self.has_more and self.rows else 0)

    # -- data out -----------------------------------------------------------------------

    @property
    def highlighted(self) -> PromptRow | None:
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

    def _fg(self, name: str) -> VisualStyle:
        """A span style: the component's foreground only, so any line background shows."""
        full = self.get_component_rich_style(name)
        return VisualStyle.from_rich_style(
            Style(color=full.color, bold=full.bold, underline=full.underline)
        )

    def _header(self, columns: Columns, width: int, base: Style) -> Strip:
        style = self._style("prompt-list--header")
        parts = [" " + " " * Columns.STAR, "Prompt".ljust(columns.text)]
        if columns.uses:
            parts.append(" " + "Uses".rjust(columns.uses))
        if columns.age:
            parts.append(" " + "Last used".ljust(columns.age))
        if columns.gens:
            parts.append(" " + "Gens".rjust(columns.gens))
        return self._strip(Content("".join(parts)), width, style)

    def _note(self, text: str, width: int, base: Style) -> Strip:
        style = self._style("prompt-list--muted")
        return self._strip(Content(text), width, style)

    def _flat_text(self, prompt: PromptRow) -> tuple[str, list[Span]]:
        """The prompt on one line, and the search's hits in it; computed once per search."""
        found = self._flat.get(prompt.id)
        if found is None:
            text = prompt.text or ""
            if not self._matcher:
                text = text[:UNSEARCHED_CHARS]
            # printable: no control character from the prompt reaches the terminal.
            flat = " ".join(printable(text, single_line=True).split())
            found = (flat, self._matcher.spans(flat) if self._matcher else [])
            self._flat[prompt.id] = found
        return found

    def _row(self, index: int, columns: Columns, width: int, base: Style) -> Strip:
        prompt = self.rows[index]
        style = base
        if index % 2:
            style = self._style("prompt-list--stripe")
        on_cursor = index == self.cursor
        if on_cursor:
            name = "prompt-list--cursor" if self.has_focus else "prompt-list--cursor-blurred"
            style = self._style(name)
        flat, hits = self._flat_text(prompt)
        # On the cursor's block colours an accent colour can vanish: there a hit is bold and
        # underlined in the cursor's own colour.
        match = (
            VisualStyle(bold=True, underline=True) if on_cursor else self._fg("prompt-list--match")
        )
        muted = self._fg("prompt-list--muted")
        lead, badge = self._family_marks(prompt)
        cell = max(columns.text - len(lead) - len(badge), 4)
        text = prompt_cell(flat, hits, cell, match)
        if lead:
            text = Content.assemble((lead, muted), text)
        if badge:
            text = Content.assemble(text, (badge, muted))
        parts: list[Content | tuple[str, VisualStyle] | str] = [
            " ",
            (
                ("★" if prompt.is_favorite else " ").ljust(Columns.STAR),
                self._fg("prompt-list--star"),
            ),
            text,
        ]
        if columns.uses:
            parts.append(" " + f"{prompt.use_count:,}".rjust(columns.uses))
        if columns.age:
            parts.append(" " + humanize_age(prompt.last_used_at)[: columns.age].ljust(columns.age))
        if columns.gens:
            count = prompt.generation_count
            shown = (f"{count:,}" if count else "·").rjust(columns.gens)
            parts += [" ", (shown, self._fg("prompt-list--muted")) if not count else shown]
        return self._strip(Content.assemble(*parts), width, style)

    def _family_marks(self, prompt: PromptRow) -> tuple[str, str]:
        """(lead, badge) of a row when folded: ``↳ `` before a variant shown under its head,
        `` +3`` (``▾ +3`` expanded) after a family's row; nothing unfolded."""
        if not self.folded:
            return "", ""
        if prompt.id in self._head_of:
            return "↳ ", ""
        if prompt.variants:
            mark = " ▾" if prompt.id in self._expanded else ""
            return "", f"{mark} +{prompt.variants:,}"
        return "", ""

    def _strip(self, line: Content, width: int, style: Style) -> Strip:
        segments = line.render_segments(VisualStyle.from_rich_style(style))
        return Strip(segments).crop_extend(0, width, style).simplify()
