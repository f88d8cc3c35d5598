"""Usage screen: images, tokens and spend today, this week, this month and all time; the monthly
budget; per day (a chart), per day and model (a table) and per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker, WorkerState

from dalletui.textsafe import printable
from dalletui.tui.latest import Latest
from dalletui.tui.notices import show_failure
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.status import StatusLine
from dalletui.tui.widgets.usage_cards import POSSIBLY_BILLED_EXPLAINED, UsageCard
from dalletui.tui.widgets.usage_chart import (
    AT_LEAST_EXPLAINED,
    DailyChart,
    DayModelPanel,
    Metric,
    cell_text,
    heading,
    room_for,
    scrollbar_room,
    table_width,
    two_lines,
)

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.usage import BudgetStatus, DayModelTable, UsageTotals

#: Days the chart covers, and days the day × model table looks back over.
CHART_DAYS = 30
TABLE_DAYS = 14
#: Below this many columns the four cards sit two by two.
WIDE_CARDS = 100


def _count(count: int) -> Text:
    """A count of unknown or possibly billed things: dim when there are none."""
    return Text(f"{count:,}", style="" if count else "dim", justify="right")


@dataclass
class UsageReport:
    """Every number the screen shows, loaded together in one worker."""

    today: UsageTotals
    week: UsageTotals
    month: UsageTotals
    all_time: UsageTotals
    days: list[UsageTotals]
    grid: DayModelTable
    models: list[UsageTotals]
    budget: BudgetStatus | None


class UsageScreen(Screen[None]):
    """Four period cards, the budget, a 30-day chart, a 14-day × model table and a table by
    model; all numbers from the service, loaded in one worker."""

    CSS_PATH = css_paths("usage.tcss")

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
        self._loads = Latest()
        self.report: UsageReport | None = None

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="usage-body"):
            with Grid(id="usage-cards"):
                yield UsageCard("Today", id="usage-today")
                yield UsageCard("This week", id="usage-week")
                yield UsageCard("This month", id="usage-month")
                yield UsageCard("All time", id="usage-all")
            yield Static(id="usage-budget")
            yield Static(POSSIBLY_BILLED_EXPLAINED, id="usage-possibly-billed", markup=False)
            yield DailyChart(id="usage-days", classes="usage-panel")
            yield DayModelPanel(id="usage-day-model", classes="usage-panel")
            with Vertical(id="usage-models", classes="usage-panel") as models:
                models.border_title = "By model · all time"
                yield DataTable(id="usage-model-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="usage-models-empty")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_resize(self, event: events.Resize) -> None:
        """Four cards in a row when they fit, else two by two."""
        self.query_one("#usage-cards").set_class(event.size.width < WIDE_CARDS, "-narrow")
        if self.report is not None:
            # Headings wrap or not by the room the panel has once laid out at the new size.
            self.call_after_refresh(self._show_models, self.report.models)

    def on_screen_resume(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_toggle_metric(self) -> None:
        self.metric = "images" if self.metric == "cost" else "cost"

    def watch_metric(self) -> None:
        if self.report is not None and self.metric is not None:
            self._show_days(self.report, self.metric)

    def _show_days(self, report: UsageReport, metric: Metric) -> None:
        self.query_one(DailyChart).show(report.days, metric)
        today = report.days[-1].label if report.days else ""
        self.query_one(DayModelPanel).show(report.grid, metric, today)

    def load(self) -> None:
        """Read every figure off the UI thread; only the newest load's answer is shown."""
        self._query(self._loads.take())

    @work(thread=True, exclusive=True, group="usage-load", exit_on_error=False)
    def _query(self, ticket: int) -> None:
        usage = self.services.usage
        report = UsageReport(
            today=usage.today(),
            week=usage.this_week(),
            month=usage.this_month(),
            all_time=usage.all_time(),
            days=usage.by_day(CHART_DAYS),
            grid=usage.day_model_table(TABLE_DAYS),
            models=usage.by_model(),
            budget=usage.budget(),
        )
        self.app.call_from_thread(self._show, ticket, report)

    def _show(self, ticket: int, report: UsageReport) -> None:
        if not self._loads.is_newest(ticket):
            return
        self.report = report
        # Possibly billed requests are said apart, on every card once any period has one.
        note_line = bool(report.all_time.possibly_billed)
        for card_id, totals in (
            ("#usage-today", report.today),
            ("#usage-week", report.week),
            ("#usage-month", report.month),
            ("#usage-all", report.all_time),
        ):
            self.query_one(card_id, UsageCard).show(totals, note_line=note_line)
        self._show_budget(report.budget)
        self.query_one("#usage-possibly-billed", Static).display = note_line
        if self.metric is None:
            # Chart spend when there is any to chart; an offline-only history has only images.
            self.metric = "cost" if any(day.cost for day in report.days) else "images"
        else:
            self._show_days(report, self.metric)
        self._show_models(report.models)

    def _show_budget(self, budget: BudgetStatus | None) -> None:
        """The monthly budget and this month's share of it; warned from 80%, said past 100%."""
        line = self.query_one("#usage-budget", Static)
        line.display = budget is not None
        if budget is None:
            return
        text = budget.describe()
        level = budget.level
        if level == "over":
            line.update(Content.styled(f"! {text}", "bold $text-error"))
        elif level == "near":
            line.update(Content.styled(f"! {text}", "bold $text-warning"))
        else:
            line.update(Content.styled(text, "$foreground-muted"))
        line.set_class(level != "ok", "-warning")

    def _show_models(self, models: list[UsageTotals]) -> None:
        """A row per model; the unknown and possibly billed columns only when any has some
        (then the cost reads ``≥``). Headings go on two lines when one line would not fit, so
        that the common case fits 80 columns and the cost column is never cut."""
        table = self.query_one("#usage-model-table", DataTable)
        table.clear(columns=True)
        unknown = any(row.unknown_cost_count for row in models)
        billed = any(row.possibly_billed for row in models)
        headings = [("Images", "images"), ("Tokens in", "input"), ("Tokens out", "output")]
        headings.append(("Cost", "cost"))
        if unknown:
            headings.append(("Unknown", "unknown"))
        if billed:
            headings.append(("Possibly billed", "possibly_billed"))
        rows = []
        for row in models:
            cells = [
                Text(printable(row.label, single_line=True)),
                Text(f"{row.images:,}", justify="right"),
                Text(f"{row.input_tokens:,}", justify="right"),
                Text(f"{row.output_tokens:,}", justify="right"),
                cell_text(row, "cost"),
            ]
            if unknown:
                cells.append(_count(row.unknown_cost_count))
            if billed:
                cells.append(_count(row.possibly_billed))
            rows.append((row.label, cells))
        labels = ["Model", *(label for label, _ in headings)]

        data = [
            max((row_cells[i].cell_len for _, row_cells in rows), default=0)
            for i in range(len(labels))
        ]

        def widths(wrap: bool) -> list[int]:
            shown = [
                two_lines(label, fit) if wrap else label
                for label, fit in zip(labels, data, strict=True)
            ]
            return [
                max(fit, *(len(line) for line in label.split("\n")))
                for label, fit in zip(shown, data, strict=True)
            ]

        panel = self.query_one("#usage-models", Vertical)
        room = room_for(panel, self.size.width - 6)

        def fits(wrap: bool) -> bool:
            lines = len(rows) + (2 if wrap else 1)
            return table_width(table, widths(wrap)) <= room - scrollbar_room(table, lines)

        wrap = not fits(False)
        table.header_height = 2 if wrap else 1
        # Widths given, not measured on idle (see DayModelPanel.show).
        column_widths = widths(wrap)
        keys = ["model", *(key for _, key in headings)]
        for index, (label, key) in enumerate(zip(labels, keys, strict=True)):
            width = column_widths[index]
            shown = heading(label, wrap=wrap, fit=width, right=index > 0)
            table.add_column(shown, key=key, width=width)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        table.display = bool(models)
        note = self.query_one("#usage-models-empty", Static)
        incomplete = any(not row.cost_known for row in models)
        text = AT_LEAST_EXPLAINED if incomplete else ""
        note.update(Content(text if models else "Nothing generated yet."))
        note.display = not models or incomplete

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "usage-load" and event.state == WorkerState.ERROR:
            error = event.worker.error
            show_failure(self, error, "Usage")
