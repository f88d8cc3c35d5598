"""Batches: every batch with its progress, live while it runs, and the selected one's images.

Runs belong to the app (``app.batch_runs``), so a batch keeps going while another screen shows;
this screen shows them and asks them to pause, stop, resume or retry. The list and the
thumbnails load in thread workers; live progress arrives as ``BatchesChanged`` messages (at most
about ten a second) and updates the rows in place, without a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist
from textual.worker import Worker, WorkerState

from dalletui.errors import ValidationError
from dalletui.textsafe import printable
from dalletui.tui.latest import Latest
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.notices import show_failure
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.batch_grid import (
    BatchCard,
    BatchEntry,
    BatchGrid,
    names_in_order,
)
from dalletui.tui.widgets.batch_view import (
    COLUMNS,
    BatchRow,
    plural,
    rich_palette,
    row_cells,
)
from dalletui.tui.widgets.batch_view import summary as batch_summary
from dalletui.tui.widgets.confirm import Choice, ChoiceModal, ConfirmModal
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.tui.widgets.batch_runs import BatchEnded, BatchesChanged, BatchRun, BatchRuns

MUTED = "$foreground-muted"
#: Worker groups whose failures this screen reports.
_GROUPS = ("batches-load", "batches-detail", "batches-write")
#: Seconds between reloads while a batch runs in another process (no events reach us).
POLL_ELSEWHERE_S = 1.0
EMPTY = (
    "No batches yet.\n\nOn the Templates screen (F4), b runs the selected template as a batch: "
    "every combination of its variables, with the count and the cost shown before anything "
    "is sent. `dalletui batch run` does the same from a shell."
)


@dataclass
class Detail:
    """The selected batch's prompts with their images."""

    batch_id: int
    entries: list[BatchEntry]


class BatchesScreen(Screen[None]):
    """The batches, newest first, over the selected one's detail: progress, reason, images."""

    CSS_PATH = css_paths("batches.tcss")

    SUB_TITLE = "Batches"
    AUTO_FOCUS = "#batch-table"
    BINDINGS = [
        Binding(
            "enter",
            "detail",
            "Detail",
            id="batches.detail",
            tooltip="Show the selected batch's images full size (enter again: back)",
        ),
        Binding(
            "c",
            "cancel",
            "Cancel",
            id="batches.cancel",
            tooltip="Stop the batch: no new request; in-flight ones finish or are cancelled",
        ),
        Binding(
            "p",
            "pause",
            "Pause",
            id="batches.pause",
            tooltip="Send no new request; the ones in flight finish (R resumes)",
        ),
        Binding(
            "R",
            "resume",
            "Resume",
            id="batches.resume",
            tooltip="Send the prompts never sent (possibly billed ones are left alone)",
        ),
        Binding(
            "I",
            "rerun",
            "Re-send interrupted",
            id="batches.rerun",
            tooltip="Send again the prompts that may have been billed (asks first)",
        ),
        Binding(
            "f",
            "retry",
            "Retry failed",
            id="batches.retry",
            tooltip="Send the failed prompts again",
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="batches.delete",
            tooltip="Delete the batch record (its images stay in History; asks first)",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="batches.back",
            tooltip="Back to the list of batches",
        ),
        Binding(
            "ctrl+r", "reload", "Reload", id="batches.reload", show=False, tooltip="Load again"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._loads = Latest()
        self.rows: dict[int, BatchRow] = {}
        self.detail: Detail | None = None
        self._select_after: int | None = None
        self._palette: dict[str, Style] = {}
        self._poll: Timer | None = None
        self._detail_busy = False
        self._detail_again = False
        self._loaded = False

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    @property
    def runs(self) -> BatchRuns:
        return self.app.batch_runs  # type: ignore[attr-defined, no-any-return]

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#batch-table", DataTable)

    @property
    def grid(self) -> BatchGrid:
        return self.query_one("#batch-grid", BatchGrid)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="batch-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="batch-empty")
        with Vertical(id="batch-detail"):
            yield Static(id="batch-summary")
            yield BatchGrid(id="batch-grid")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.table
        table.add_column("#", key="id")
        table.add_column("Name", key="name")
        table.add_column("Status", key="status")
        table.add_column("Progress", key="progress")
        table.add_column(Text("Failed", justify="right"), key="failed")
        table.add_column(Text("Billed?", justify="right"), key="billed")
        table.add_column(Text("Spend", justify="right"), key="spend")
        table.add_column("Started", key="started")
        self._poll = self.set_interval(POLL_ELSEWHERE_S, self.load, pause=True)
        # "running for 12 s" keeps counting between events (a slow request sends none).
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def on_screen_resume(self) -> None:
        self.load()

    def on_screen_suspend(self) -> None:
        if self._poll is not None:
            self._poll.pause()

    def _tick(self) -> None:
        row = self.selected()
        if row is not None and self.is_current and self.runs.is_running(row.id):
            self._show_summary()

    def _theme_changed(self) -> None:
        self._palette = {}
        self._redraw_rows()

    def action_reload(self) -> None:
        self.load()

    def select(self, batch_id: int) -> None:
        """Select ``batch_id`` once it is listed (just created, from the Templates screen)."""
        self._select_after = batch_id
        self.load()

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the batches off the UI thread; only the newest load's answer is shown."""
        self._query(self._loads.take())

    @work(thread=True, exclusive=True, group="batches-load", exit_on_error=False)
    def _query(self, ticket: int) -> None:
        service = self.services.batches
        batches = service.list()
        progress = service.progress_many(batches)
        rows = [
            BatchRow(batch, progress[batch.id], service.owner_elsewhere(batch)) for batch in batches
        ]
        self.app.call_from_thread(self._show, ticket, rows)

    def _show(self, ticket: int, rows: list[BatchRow]) -> None:
        if not self._loads.is_newest(ticket):
            return
        table = self.table
        chosen = self._select_after or self.selected_id()
        self._select_after = None
        # Live progress of runs here is newer than what the worker read.
        for row in rows:
            run = self.runs.get(row.id)
            if run is not None and run.progress is not None:
                row.progress = run.progress
        self.rows = {row.id: row for row in rows}
        palette = self.palette
        with self.app.batch_update():
            table.clear()
            for row in rows:
                table.add_row(*row_cells(row, self.runs.get(row.id), palette), key=str(row.id))
            if chosen in self.rows:
                table.move_cursor(row=table.get_row_index(str(chosen)), scroll=True)
        self._loaded = True
        self.query_one("#batch-empty", Static).update(Content.styled(EMPTY, MUTED))
        self.set_class(not rows, "-empty")
        if self._poll is not None:
            if any(row.elsewhere for row in rows) and self.app.screen is self:
                self._poll.resume()
            else:
                self._poll.pause()
        self._show_summary()
        self._load_detail()
        self.refresh_bindings()

    @property
    def palette(self) -> dict[str, Style]:
        if not self._palette:
            self._palette = rich_palette(self.app)
        return self._palette

    def _redraw_rows(self) -> None:
        palette = self.palette
        for row in self.rows.values():
            self._update_row(row, palette)

    def _update_row(self, row: BatchRow, palette: dict[str, Style]) -> None:
        table = self.table
        cells = row_cells(row, self.runs.get(row.id), palette)
        try:
            for key, cell in zip(COLUMNS, cells, strict=True):
                table.update_cell(str(row.id), key, cell, update_width=True)
        except (CellDoesNotExist, RowDoesNotExist):
            pass

    # -- selection and the detail pane --------------------------------------------------------

    def selected_id(self) -> int | None:
        try:
            table = self.table
        except NoMatches:
            return None
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        return int(key) if key is not None else None

    def selected(self) -> BatchRow | None:
        batch_id = self.selected_id()
        return self.rows.get(batch_id) if batch_id is not None else None

    @on(DataTable.RowHighlighted, "#batch-table")
    def _row_moved(self) -> None:
        if not self._loaded:
            return
        self._show_summary()
        self._load_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#batch-table")
    def _row_chosen(self) -> None:
        self.action_detail()

    def _show_summary(self) -> None:
        row = self.selected()
        summary = self.query_one("#batch-summary", Static)
        if row is None:
            summary.update("")
            return
        summary.update(batch_summary(row, self.runs.get(row.id)))

    def _load_detail(self) -> None:
        """Load the selected batch's thumbnails; one load at a time, the newest wins."""
        batch_id = self.selected_id()
        if batch_id is None:
            self.detail = None
            self.grid.clear()
            return
        if self._detail_busy:
            self._detail_again = True
            return
        self._detail_busy = True
        self._fetch_detail(batch_id)

    @work(thread=True, group="batches-detail", exit_on_error=False)
    def _fetch_detail(self, batch_id: int) -> None:
        try:
            shown = self.services.batches.thumbnails(batch_id)
            row = self.rows.get(batch_id)
            order = names_in_order(str(row.batch.body)) if row is not None else []
            entries = [BatchEntry.of(item, generation, order) for item, generation in shown]
        except BaseException:
            self.app.call_from_thread(self._detail_done)
            raise
        self.app.call_from_thread(self._show_detail, Detail(batch_id, entries))
        self.app.call_from_thread(self._detail_done)

    def _detail_done(self) -> None:
        self._detail_busy = False
        if self._detail_again:
            self._detail_again = False
            self._load_detail()

    def _show_detail(self, detail: Detail) -> None:
        if detail.batch_id != self.selected_id():
            return
        self.detail = detail
        self.grid.show(detail.batch_id, detail.entries)

    # -- live progress (routed here by the app) -----------------------------------------------

    def batches_changed(self, message: BatchesChanged) -> None:
        palette = self.palette
        unknown = False
        for batch_id, progress in message.progress.items():
            row = self.rows.get(batch_id)
            if row is None:
                unknown = True
                continue
            row.progress = progress
            self._update_row(row, palette)
        if unknown and self._loaded:
            self.load()
        selected = self.selected_id()
        if selected in message.progress:
            self._show_summary()
        if selected in message.finished_items:
            self._load_detail()
        self.refresh_bindings()

    def batch_ended(self, message: BatchEnded) -> None:
        self.load()

    # -- bindings -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reload",):
            return True
        if action == "back":
            return self.has_class("-detail") or self.focused is not self.query_one("#batch-table")
        row = self.selected()
        if action == "detail":
            return True if row is not None else None
        if row is None:
            return None if action in ("cancel", "pause", "resume", "retry", "delete") else False
        here = self.runs.is_running(row.id)
        busy = here or row.elsewhere is not None
        progress = row.progress
        if action == "cancel":
            stoppable = busy or progress.status in ("planned", "paused")
            return True if stoppable and not self._stopping(row) else None
        if action == "pause":
            return True if here and not self._stopping(row) else None
        if action == "resume":
            return True if not busy and progress.remaining else None
        if action == "rerun":
            # Shown only when there is something possibly billed: it is the exception.
            return (not busy) if progress.maybe_billed else False
        if action == "retry":
            return True if not busy and progress.failed else None
        if action == "delete":
            return True if not busy else None
        return True

    def _stopping(self, row: BatchRow) -> bool:
        run = self.runs.get(row.id)
        return run is not None and run.stopping is not None

    # -- actions ------------------------------------------------------------------------------

    def action_detail(self) -> None:
        """Toggle the detail view (the list hidden, the images given the room)."""
        if self.selected() is None:
            return
        on = not self.has_class("-detail")
        self.set_class(on, "-detail")
        if on:
            self.call_after_refresh(self._focus_cards)
        else:
            self.table.focus()
        self.refresh_bindings()

    def _focus_cards(self) -> None:
        if not self.grid.focus_cards():
            self.grid.focus()

    def action_back(self) -> None:
        self.set_class(False, "-detail")
        self.table.focus()
        self.refresh_bindings()

    def action_cancel(self) -> None:
        row = self.selected()
        if row is None:
            return
        run = self.runs.get(row.id)
        name = printable(row.name, single_line=True)
        if run is not None:
            self._ask_cancel_here(row, run, name)
        elif row.elsewhere is not None:
            message = (
                f"Batch #{row.id} '{name}' runs in another dalletui (process {row.elsewhere}). "
                "Cancel it? That process sends no new request; its requests in flight finish."
            )
            self.app.push_screen(
                ConfirmModal("Cancel batch", message, yes="Cancel batch", no="Keep running"),
                lambda yes: self._cancel_elsewhere(row.id) if yes else None,
            )
        else:
            message = (
                f"Mark batch #{row.id} '{name}' as cancelled? Nothing of it is in flight; "
                f"its {plural(row.progress.remaining, 'prompt')} never sent stay listed and R "
                "can still send them."
            )
            self.app.push_screen(
                ConfirmModal("Cancel batch", message, yes="Mark cancelled", no="Keep"),
                lambda yes: self._cancel_elsewhere(row.id) if yes else None,
            )

    def _ask_cancel_here(self, row: BatchRow, run: BatchRun, name: str) -> None:
        flying = run.in_flight
        # Running here, so its provider exists already: asking costs nothing.
        provider = str((row.batch.params or {}).get("provider") or "") or None
        offline = self.services.generation.provider(provider).offline
        it = "it" if flying == 1 else "them"
        cancelled = (
            "offline nothing is billed, and a cancelled prompt waits to be sent by R"
            if offline
            else "a cancelled request may still be billed, with no image to show (it is "
            "counted as possibly billed)"
        )
        message = f"Cancel batch #{row.id} '{name}'? No new request will be sent. " + (
            f"{plural(flying, 'request is', 'requests are')} in flight: let {it} finish (the "
            f"images are kept), or cancel {it} too ({cancelled})."
            if flying
            else "Nothing is in flight right now."
        )
        choices: list[Choice[str]] = [
            Choice("Let in-flight finish", "finish", "f", "primary"),
            Choice("Cancel them too", "cancel", "c", "error"),
            Choice("Keep running", None, "k"),
        ]

        def answered(choice: str | None) -> None:
            if choice in ("finish", "cancel") and self.runs.is_running(row.id):
                self.runs.stop(row.id, "cancelled", in_flight=choice)  # type: ignore[arg-type]
                self.notify(
                    f"Stopping batch #{row.id}: "
                    + (
                        "in-flight requests are being cancelled."
                        if choice == "cancel"
                        else "waiting for the requests in flight."
                    ),
                    title="Batches",
                    timeout=4,
                )
                self._refresh_selected()

        self.app.push_screen(ChoiceModal("Cancel batch", message, choices, danger=True), answered)

    @work(thread=True, group="batches-write", exit_on_error=False)
    def _cancel_elsewhere(self, batch_id: int) -> None:
        self.services.batches.cancel(batch_id)
        self.app.call_from_thread(self.notify, f"Asked batch #{batch_id} to stop.", timeout=4)
        self.app.call_from_thread(self.load)

    def action_pause(self) -> None:
        row = self.selected()
        if row is None or not self.runs.stop(row.id, "paused", in_flight="finish"):
            return
        self.notify(
            f"Pausing batch #{row.id}: no new request; the ones in flight finish. R resumes it.",
            title="Batches",
            timeout=5,
        )
        self._refresh_selected()

    def action_resume(self) -> None:
        row = self.selected()
        if row is None or self.check_action("resume", ()) is not True:
            return
        progress = row.progress
        text = f"Resuming batch #{row.id}: {plural(progress.remaining, 'prompt')} never sent."
        if progress.maybe_billed:
            text += (
                f" {plural(progress.maybe_billed, 'prompt')} that may have been billed "
                "{} not sent again (I sends them).".format(
                    "is" if progress.maybe_billed == 1 else "are"
                )
            )
        self.notify(text, title="Batches", timeout=6)
        self._start(row, "resume")

    def action_rerun(self) -> None:
        row = self.selected()
        if row is None or self.check_action("rerun", ()) is not True:
            return
        maybe = row.progress.maybe_billed
        name = printable(row.name, single_line=True)
        them = "it" if maybe == 1 else "them"
        message = (
            f"Send again the {plural(maybe, 'prompt')} of batch #{row.id} '{name}' that "
            f"{'was' if maybe == 1 else 'were'} in flight when it stopped? The API may have made "
            f"(and billed) {them} already: sending {them} again may pay twice."
            + (
                f" The {plural(row.progress.remaining, 'prompt')} never sent go too."
                if row.progress.remaining
                else ""
            )
        )
        self.app.push_screen(
            ConfirmModal("Re-send interrupted", message, yes="Send again", no="Cancel"),
            lambda yes: self._start(row, "rerun") if yes else None,
        )

    def action_retry(self) -> None:
        row = self.selected()
        if row is None or self.check_action("retry", ()) is not True:
            return
        self.notify(
            f"Retrying {plural(row.progress.failed, 'failed prompt')} of batch #{row.id}.",
            title="Batches",
            timeout=4,
        )
        self._start(row, "retry")

    def _start(self, row: BatchRow, kind: str) -> None:
        self.runs.start(row.id, row.name, kind=kind)  # type: ignore[arg-type]
        self._refresh_selected()

    def _refresh_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self._update_row(row, self.palette)
        self._show_summary()
        self.refresh_bindings()

    def action_delete(self) -> None:
        row = self.selected()
        if row is None or self.check_action("delete", ()) is not True:
            return
        name = printable(row.name, single_line=True)
        images = row.progress.done * row.progress.images_per_prompt
        message = (
            f"Delete the record of batch #{row.id} '{name}' and its list of "
            f"{plural(row.progress.total, 'prompt')}? "
            + (
                f"Its {plural(images, 'image')} stay in History, and the spend stays in Usage."
                if images
                else "Nothing it made is deleted; the spend stays in Usage."
            )
        )
        self.app.push_screen(
            ConfirmModal("Delete batch", message, yes="Delete", danger=True),
            lambda yes: self._delete(row.id) if yes else None,
        )

    @work(thread=True, group="batches-write", exit_on_error=False)
    def _delete(self, batch_id: int) -> None:
        service = self.services.batches
        batch = service.get(batch_id)
        if batch.status == "running" and (
            self.runs.is_running(batch_id) or service.owner_elsewhere(batch) is not None
        ):
            raise ValidationError(f"Batch #{batch_id} is running; cancel it first.")
        # BatchService has no delete of its own yet; the storage call keeps the images.
        self.services.db.delete_batch(batch_id)
        self.app.call_from_thread(self._deleted, batch_id)

    def _deleted(self, batch_id: int) -> None:
        self.notify(f"Deleted batch #{batch_id}; its images stay in History.", timeout=4)
        self.set_class(False, "-detail")
        self.post_message(DataChanged("batch"))
        self.load()

    @on(BatchCard.Chosen)
    def _card_chosen(self, event: BatchCard.Chosen) -> None:
        self.post_message(ReusePrompt(text=event.card.entry.text, params={}))

    # -- one error path -----------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.group not in _GROUPS:
            return
        error = worker.error
        show_failure(self, error, "Batches")
        if worker.group == "batches-write":
            self.load()
