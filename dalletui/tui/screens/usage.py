"""Usage screen: images, tokens and spend today, this month, all time, per day and per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from dalletui.errors import DalleTuiError
from dalletui.textsafe import printable, printable_message
from dalletui.tui.widgets.status import StatusLine
from dalletui.tui.widgets.usage_cards import POSSIBLY_BILLED_EXPLAINED, UsageCard, money
from dalletui.tui.widgets.usage_chart import DailyChart, Metric

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.usage import UsageTotals


@dataclass
class UsageReport:
    """Every number the screen shows, loaded together in one worker."""

    today: UsageTotals
    month: UsageTotals
    all_time: UsageTotals
    days: list[UsageTotals]
    models: list[UsageTotals]


class UsageScreen(Screen[None]):
    """Three period cards, a 30-day chart and a table by model; all numbers from the service."""

    SUB_TITLE = "Usage"
    BINDINGS = [
        Binding(
            "m",
            "toggle_metric",
            "Chart",
            id="usage.metric",
            tooltip="Chart daily cost or daily images",
        ),
        Binding("r", "reload", "Reload", id="usage.reload", tooltip="Load the numbers again"),
    ]

    #: What the daily chart measures; chosen from the data on first load, then by the user.
    metric: reactive[Metric | None] = reactive(None, init=False)

    def __init__(self) -> None:
        super().__init__()
        self.report: UsageReport | None = None

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="usage-body"):
            with Horizontal(id="usage-cards"):
                yield UsageCard("Today", id="usage-today")
                yield UsageCard("This month", id="usage-month")
                yield UsageCard("All time", id="usage-all")
            yield Static(POSSIBLY_BILLED_EXPLAINED, id="usage-possibly-billed", markup=False)
            yield DailyChart(id="usage-days", classes="usage-panel")
            with Vertical(id="usage-models", classes="usage-panel") as models:
                models.border_title = "By model · all time"
                yield DataTable(id="usage-model-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="usage-models-empty")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#usage-model-table", DataTable)
        table.add_column("Model", key="model")
        for label, key in (
            ("Images", "images"),
            ("Input tokens", "input"),
            ("Output tokens", "output"),
            ("Cost", "cost"),
        ):
            table.add_column(Text(label, justify="right"), key=key)

    def on_screen_resume(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_toggle_metric(self) -> None:
        self.metric = "images" if self.metric == "cost" else "cost"

    def watch_metric(self) -> None:
        if self.report is not None and self.metric is not None:
            self.query_one(DailyChart).show(self.report.days, self.metric)

    @work(thread=True, exclusive=True, group="usage-load", exit_on_error=False)
    def load(self) -> None:
        usage = self.services.usage
        report = UsageReport(
            today=usage.today(),
            month=usage.this_month(),
            all_time=usage.all_time(),
            days=usage.by_day(30),
            models=usage.by_model(),
        )
        self.app.call_from_thread(self._show, report)

    def _show(self, report: UsageReport) -> None:
        self.report = report
        # Possibly billed requests are said apart, on every card once any period has one.
        note_line = bool(report.all_time.possibly_billed)
        self.query_one("#usage-today", UsageCard).show(report.today, note_line=note_line)
        self.query_one("#usage-month", UsageCard).show(report.month, note_line=note_line)
        self.query_one("#usage-all", UsageCard).show(report.all_time, note_line=note_line)
        self.query_one("#usage-possibly-billed", Static).display = note_line
        if self.metric is None:
            # Chart spend when there is any to chart; an offline-only history has only images.
            self.metric = "cost" if any(day.cost for day in report.days) else "images"
        else:
            self.query_one(DailyChart).show(report.days, self.metric)
        self._show_models(report.models)

    def _show_models(self, models: list[UsageTotals]) -> None:
        table = self.query_one("#usage-model-table", DataTable)
        table.clear()
        for row in models:
            table.add_row(
                Text(printable(row.label, single_line=True)),
                Text(f"{row.images:,}", justify="right"),
                Text(f"{row.input_tokens:,}", justify="right"),
                Text(f"{row.output_tokens:,}", justify="right"),
                Text(money(row), justify="right"),
                key=row.label,
            )
        table.display = bool(models)
        empty = self.query_one("#usage-models-empty", Static)
        empty.update("" if models else "Nothing generated yet.")
        empty.display = not models

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "usage-load" and event.state == WorkerState.ERROR:
            error = event.worker.error
            title = error.title if isinstance(error, DalleTuiError) else "Usage"
            self.notify(printable_message(error), title=title, severity="error", markup=False)
