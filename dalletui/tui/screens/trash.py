"""Trash: what was deleted from History, newest first; restore it, or purge it for good.

The screen holds a table and keys; the entries come from ``app.services.trash`` in thread
workers, and every change goes through the same service the CLI uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import Worker, WorkerState

from dalletui.formatting import humanize_age, shorten
from dalletui.services.trash import format_size
from dalletui.textsafe import printable
from dalletui.tui.latest import Latest
from dalletui.tui.messages import DataChanged
from dalletui.tui.notices import show_failure, show_trash_problems
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.history_detail import plural
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.trash import PurgeOutcome, TrashItem, TrashOutcome

MARK = "●"
#: Worker groups whose failures this screen reports.
_GROUPS = ("trash-load", "trash-restore", "trash-purge")


def entry_label(item: TrashItem) -> str:
    """'prompt #12', 'image #34', or 'image #34 and prompt #12' (both come back together)."""
    if item.kind == "generation" and item.prompt_trashed:
        return f"{item.ref.label} and prompt #{item.prompt_id}"
    return item.ref.label


def summary(items: list[TrashItem]) -> str:
    """'2 entries · 3 images · 1.2 MB'."""
    images = sum(item.image_count for item in items)
    size = format_size(sum(item.size_bytes or 0 for item in items))
    entries = f"{len(items):,} entr{'y' if len(items) == 1 else 'ies'}"
    return f"{entries} · {plural(images, 'image')} · {size}"


class TrashTable(DataTable[Text]):
    """The trash's table; it says when its width changed, so the columns are fitted again."""

    class Resized(Message):
        pass

    _width = 0

    def on_resize(self, event: events.Resize) -> None:
        # The table's own Resize comes once its new size is set (the screen's may come first);
        # it also comes when the columns change the virtual size, which needs no new fit.
        if self.content_size.width != self._width:
            self._width = self.content_size.width
            self.post_message(self.Resized())


class TrashScreen(Screen[None]):
    """Trashed prompts and images with when and how big; r restores, p purges, E empties."""

    CSS_PATH = css_paths("trash.tcss")

    SUB_TITLE = "Trash"
    AUTO_FOCUS = "#trash-table"
    BINDINGS = [
        Binding("r", "restore", "Restore", id="trash.restore", tooltip="Put it back where it was"),
        Binding(
            "space",
            "mark",
            "Mark",
            id="trash.mark",
            tooltip="Mark the entry (restore and purge act on every marked entry)",
        ),
        Binding(
            "p,delete",
            "purge",
            "Purge",
            id="trash.purge",
            tooltip="Delete for good, files too (asks first; usage totals stay)",
        ),
        Binding(
            "E",
            "empty",
            "Empty trash",
            id="trash.empty",
            tooltip="Delete everything in the trash for good (asks first)",
        ),
        Binding("ctrl+r", "reload", "Reload", id="trash.reload", show=False, tooltip="Load again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._loads = Latest()
        self.items: dict[str, TrashItem] = {}
        self.marked: set[str] = set()
        self._empty_requested = False

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#trash-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="trash-summary")
        yield TrashTable(id="trash-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="trash-empty")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._columns([])

    def _columns(self, rows: list[tuple[Text, ...]]) -> int:
        """Lay the columns out again, every width given (never measured by the DataTable, which
        after a resize drew cells before measuring them and kept them cut), and return the room
        left for the prompt: it comes last and is shortened to fit, so nothing scrolls sideways.
        """
        table = self.table
        headings: list[tuple[str | Text, str]] = [
            (" ", "mark"),
            ("Entry", "entry"),
            ("Trashed", "when"),
            (Text("Images", justify="right"), "images"),
            (Text("Size", justify="right"), "size"),
        ]
        widths = [
            max([len(str(heading)), *(row[index].cell_len for row in rows)])
            for index, (heading, _key) in enumerate(headings)
        ]
        room = (table.content_size.width or self.app.size.width - 4) - 2  # a scrollbar
        used = sum(width + 2 * table.cell_padding for width in widths) + 2 * table.cell_padding
        prompt = max(12, room - used)
        table.clear(columns=True)
        for (heading, key), width in zip(headings, widths, strict=True):
            table.add_column(heading, key=key, width=width)
        table.add_column("Prompt", key="prompt", width=prompt)
        return prompt

    @on(TrashTable.Resized)
    def _refit(self) -> None:
        if self.items:
            self._fill(list(self.items.values()))

    def on_screen_resume(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the trash off the UI thread; only the newest load's answer is shown."""
        self._query(self._loads.take())

    @work(thread=True, exclusive=True, group="trash-load", exit_on_error=False)
    def _query(self, ticket: int) -> None:
        items = self.services.trash.entries()
        self.app.call_from_thread(self._show, ticket, items)

    def _show(self, ticket: int, items: list[TrashItem]) -> None:
        if not self._loads.is_newest(ticket):
            return
        self._fill(items)
        days = self.services.settings.trash_days
        kept = f"purged after {days} days" if days else "kept until emptied"
        self.query_one("#trash-summary", Static).update(
            Content.assemble(
                (summary(items) if items else "Nothing in the trash", "bold"),
                (f" · {kept}", "$foreground-muted"),
            )
        )
        self.table.display = bool(items)
        empty = self.query_one("#trash-empty", Static)
        empty.display = not items
        empty.update(
            "The trash is empty. What you delete in History (d) waits here"
            + (f" for {days} days." if days else " until you empty it.")
        )
        self.refresh_bindings()
        if self._empty_requested:
            self._empty_requested = False
            self.action_empty()

    def _fill(self, items: list[TrashItem]) -> None:
        table = self.table
        chosen = self._highlighted_key()
        self.items = {str(item.ref): item for item in items}
        self.marked &= set(self.items)
        rows = {key: self._cells(item) for key, item in self.items.items()}
        width = self._columns(list(rows.values()))
        for key, item in self.items.items():
            table.add_row(*rows[key][:-1], self._prompt_cell(item, width), key=key)
        if chosen in self.items:
            table.move_cursor(row=table.get_row_index(chosen))

    def request_empty(self) -> None:
        """Ask to empty the trash once the entries are loaded (from the command palette)."""
        self._empty_requested = True
        self.load()

    @staticmethod
    def _prompt_cell(item: TrashItem, width: int = 60) -> Text:
        """The prompt, shortened to ``width`` cells (with its "in the trash" note kept whole)."""
        text = printable(item.text, single_line=True)
        if item.prompt_trashed:
            note = " (prompt in the trash)"
            return Text(shorten(text, max(width - len(note), 8)) + note)
        return Text(shorten(text, width))

    def _cells(self, item: TrashItem) -> tuple[Text, ...]:
        key = str(item.ref)
        return (
            Text(MARK if key in self.marked else " ", style="bold"),
            Text(item.ref.label),
            Text(humanize_age(item.deleted_at)),
            Text(f"{item.image_count:,}", justify="right"),
            Text(format_size(item.size_bytes), justify="right"),
            self._prompt_cell(item),
        )

    def _highlighted_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except CellDoesNotExist:
            return None

    def selection(self) -> list[TrashItem]:
        """The marked entries, or else the highlighted one."""
        if self.marked:
            return [self.items[key] for key in self.items if key in self.marked]
        key = self._highlighted_key()
        return [self.items[key]] if key in self.items else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("restore", "mark", "purge", "empty"):
            return True if self.items else None
        return True

    # -- actions ----------------------------------------------------------------------------

    def action_mark(self) -> None:
        key = self._highlighted_key()
        if key not in self.items:
            return
        self.marked ^= {key}
        self.table.update_cell(key, "mark", Text(MARK if key in self.marked else " ", "bold"))
        self.table.action_cursor_down()

    def action_restore(self) -> None:
        chosen = self.selection()
        if chosen:
            self._restore(chosen)

    @work(thread=True, exclusive=True, group="trash-restore", exit_on_error=False)
    def _restore(self, chosen: list[TrashItem]) -> None:
        outcomes = [self.services.trash.restore(item.ref) for item in chosen]
        self.app.call_from_thread(self._restored, outcomes)

    def _restored(self, outcomes: list[TrashOutcome]) -> None:
        names = ", ".join(entry_label(o.item) for o in outcomes[:3])
        more = f" and {len(outcomes) - 3} more" if len(outcomes) > 3 else ""
        self.notify(f"Restored {names}{more}.", title="Trash", timeout=4)
        for outcome in outcomes:
            show_trash_problems(self, outcome.problems)
        self.marked.clear()
        self.load()
        self.post_message(DataChanged("trash"))

    def action_purge(self) -> None:
        chosen = self.selection()
        if not chosen:
            return
        what = chosen[0].ref.label if len(chosen) == 1 else f"{len(chosen)} entries"
        message = (
            f"Delete {what} for good ({summary(chosen)})? The image files are deleted; "
            "usage totals do not change."
        )
        self._confirm(f"Purge {what}", message, chosen, sweep=False)

    def action_empty(self) -> None:
        everything = list(self.items.values())
        if not everything:
            return
        message = (
            f"Delete everything in the trash for good ({summary(everything)})? "
            "The image files are deleted; usage totals do not change."
        )
        self._confirm("Empty the trash", message, everything, sweep=True)

    def _confirm(self, title: str, message: str, chosen: list[TrashItem], *, sweep: bool) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._purge(chosen, sweep)

        modal = ConfirmModal(title, message, yes="Purge", no="Cancel", danger=True)
        self.app.push_screen(modal, answered)

    @work(thread=True, exclusive=True, group="trash-purge", exit_on_error=False)
    def _purge(self, chosen: list[TrashItem], sweep: bool) -> None:
        outcome = self.services.trash.purge([item.ref for item in chosen], sweep=sweep)
        self.app.call_from_thread(self._purged, outcome)

    def _purged(self, outcome: PurgeOutcome) -> None:
        entries = f"{outcome.entries:,} entr{'y' if outcome.entries == 1 else 'ies'}"
        self.notify(
            f"Purged {entries} · {format_size(outcome.bytes_freed)} freed.",
            title="Trash",
            timeout=4,
        )
        show_trash_problems(self, outcome.problems)
        self.marked.clear()
        self.load()
        self.post_message(DataChanged("trash"))

    # -- one error path ---------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in _GROUPS:
            return
        error = event.worker.error
        show_failure(self, error, "Trash")
        self.load()  # show what the database really holds
