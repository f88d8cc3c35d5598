"""Help: every binding of the app and of the screen underneath, from the bindings themselves."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


class HelpScreen(ModalScreen[None]):
    """Lists the active bindings (so it can never go stale)."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static("dalletui keys", id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static("escape closes · ctrl+p opens the command palette", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "where")
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else self.app.screen
        seen: set[tuple[str, str]] = set()
        for where, node in (
            ("everywhere", self.app),
            (type(below).__name__.removesuffix("Screen"), below),
        ):
            for binding in node.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                key = self.app.get_key_display(binding)
                if (key, binding.description) in seen:
                    continue
                seen.add((key, binding.description))
                table.add_row(key, binding.description, where)
