"""Help: the keys that work on the screen underneath right now, read from the live bindings.

Built from ``Screen.active_bindings`` (the focused widget, its ancestors, the screen and the
app, with the ``[keys]`` remapping applied), so it can never go stale and shows a remapped key
as it now is. One line per action, its keys as a person reads them ("F1 / ?", "Ctrl+R"),
grouped by where they apply, with the binding's id for ``[keys]`` in the config file.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from dalletui.tui.keys import LiveGroup, live_groups
from dalletui.tui.styles import css_paths

#: What ``?`` does, said where it matters (README says the same).
QUESTION_MARK_NOTE = (
    "F1 opens this help everywhere; ? does too, except in a text field (the prompt, a search "
    "box), where it types a ?."
)


def help_lines(screen: Screen[object]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(group title, [(keys, what it does, id)]) for ``screen``: what Help shows."""
    lines = []
    for group in live_groups(screen):
        rows = [
            (live.keys_text, live.help_text, ", ".join(live.ids))
            for live in group.bindings
            if live.enabled
        ]
        if rows:
            lines.append((_title(group), rows))
    return lines


def _title(group: LiveGroup) -> str:
    """ "On the result card" for a dalletui widget; Textual's own ("Text editing", "Scrolling"),
    the screen and "Everywhere" as they are."""
    node = group.node
    if group.title == "Everywhere" or node is node.screen or not group.ours:
        return group.title
    return f"On the {group.title[:1].lower()}{group.title[1:]}"


class HelpScreen(ModalScreen[None]):
    """Lists the active bindings (so it can never go stale)."""

    CSS_PATH = css_paths("help.tcss")

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static("dalletui keys", id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                f"{QUESTION_MARK_NOTE}\nEsc closes · ctrl+p: the command palette · "
                "[keys] in config.toml remaps a key by its id",
                id="help-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Two columns that fit 80 cells: the keys, and what they do with the binding's id
        # (for [keys]) after it, dimmed; a long line wraps inside its row.
        inner = min(int(self.app.size.width * 0.96), 120) - 5  # border, padding, scrollbar
        key_width = 18
        what_width = max(20, inner - key_width - 4)  # a cell pads one column on each side
        table.add_column("key", width=key_width)
        table.add_column("what it does · id", width=what_width)
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else self.app.screen
        for title, rows in help_lines(below):
            table.add_row(Text(title, style="bold"), "")
            for keys, what, binding_id in rows:
                line = Text(what)
                if binding_id:
                    line.append(f"  {binding_id}", style="dim")
                table.add_row(Text(keys), line, height=None)
        table.focus()
