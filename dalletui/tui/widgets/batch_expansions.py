"""Pick any one of a template's expanded prompts (to put it into Compose).

The list holds the first ``LISTED`` prompts in the template's stable order, built in a thread
worker (an expansion can be large); typing filters them by words, or jumps to a number anywhere
in the order (``Expansion.at`` computes any prompt directly, however many there are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from dalletui.formatting import shorten
from dalletui.textsafe import printable
from dalletui.tui.styles import css_paths

if TYPE_CHECKING:
    from dalletui.services.templates import Expansion

MUTED = "$foreground-muted"
#: How many prompts the list holds (and a filter searches).
LISTED = 2_000
#: Seconds of quiet after typing before filtering.
FILTER_DELAY = 0.15


def _line(index: int, text: str) -> Content:
    shown = shorten(printable(text, single_line=True), 200)
    return Content.assemble((f"{index + 1:>5,}. ", MUTED), shown)


class ExpansionPicker(ModalScreen[int | None]):
    """The template's prompts, one a line; enter picks one (dismisses with its index)."""

    CSS_PATH = css_paths("batches.tcss")

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="expansions.cancel", tooltip="Pick nothing"),
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            id="expansions.filter",
            tooltip="Filter by words, or type a number to jump to it",
        ),
    ]

    def __init__(self, name: str, expansion: Expansion, current: int = 0) -> None:
        super().__init__()
        self.template_name = name
        self.expansion = expansion
        self.current = current
        self._timer: Timer | None = None
        self._serial = 0

    def compose(self) -> ComposeResult:
        count = self.expansion.count
        with Vertical(id="expansion-dialog") as dialog:
            noun = "prompt" if count == 1 else "prompts"
            dialog.border_title = Content(
                printable(f"'{self.template_name}': {count:,} {noun}", single_line=True)
            )
            yield Input(
                placeholder=f"words to filter, or a number from 1 to {count:,}",
                id="expansion-filter",
            )
            yield OptionList(id="expansion-list")
            yield Static(id="expansion-hint")

    def on_mount(self) -> None:
        self._fill(self._serial, "")
        self.query_one(OptionList).focus()

    # -- filling --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="expansions", exit_on_error=False)
    def _fill(self, serial: int, query: str) -> None:
        expansion = self.expansion
        count = expansion.count
        found: list[tuple[int, str]] = []
        cleaned = query.strip().replace(",", "")
        if cleaned.isdigit():
            number = int(cleaned)
            if 1 <= number <= count:
                found.append((number - 1, expansion.at(number - 1)))
            hint = (
                f"Prompt {number:,} of {count:,}: enter puts it into Compose."
                if found
                else f"There are {count:,} prompts; give a number from 1 to {count:,}."
            )
        else:
            words = query.casefold().split()
            for index in range(min(count, LISTED)):
                text = expansion.at(index)
                if all(word in text.casefold() for word in words):
                    found.append((index, text))
            searched = min(count, LISTED)
            noun = "prompt" if len(found) == 1 else "prompts"
            if words:
                hint = f"{len(found):,} match" + (
                    f" among the first {searched:,}" if count > LISTED else ""
                )
            elif count > LISTED:
                hint = f"the first {searched:,} of {count:,} prompts (a number reaches any)"
            else:
                hint = f"{len(found):,} {noun}"
            hint += " · enter puts one into Compose · / filters · a number jumps"
        self.app.call_from_thread(self._show, serial, found, hint)

    def _show(self, serial: int, found: list[tuple[int, str]], hint: str) -> None:
        if serial != self._serial:
            return
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(_line(index, text), id=str(index)) for index, text in found])
        shown = [index for index, _ in found]
        if self.current in shown:
            options.highlighted = shown.index(self.current)
        elif found:
            options.highlighted = 0
        self.query_one("#expansion-hint", Static).update(Content.styled(hint, MUTED))

    @on(Input.Changed, "#expansion-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._serial += 1
        if self._timer is not None:
            self._timer.stop()
        serial, query = self._serial, event.value

        def fill() -> None:
            self._timer = None
            self._fill(serial, query)

        self._timer = self.set_timer(FILTER_DELAY, fill)

    @on(Input.Submitted, "#expansion-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        number = event.value.strip().replace(",", "")
        if number.isdigit() and 1 <= int(number) <= self.expansion.count:
            self.dismiss(int(number) - 1)  # a number picks that prompt, however far
            return
        options = self.query_one(OptionList)
        if options.option_count == 1 and self._timer is None:
            self.dismiss(int(options.get_option_at_index(0).id or 0))
        elif options.option_count:
            options.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#expansion-filter", Input).focus()

    # -- answers ----------------------------------------------------------------------------

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)
