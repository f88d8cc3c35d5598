"""The last days: a sparkline and a bar table of the days with activity (``DailyChart``), and a
day × model table of what each model cost (or made) on each day (``DayModelPanel``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Sparkline, Static

from dalletui.formatting import format_money
from dalletui.textsafe import printable
from dalletui.tui.widgets.usage_cards import money

if TYPE_CHECKING:
    from dalletui.services.usage import DayModelTable, UsageTotals

Metric = Literal["cost", "images"]
BAR_WIDTH = 20


def bar(value: float, maximum: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a cell; any non-zero value shows at least a sliver.

    The same bars as ``dalletui usage`` draws (``services.usage.text_bar``).
    """
    from dalletui.services.usage import text_bar

    return text_bar(value, maximum, width)


def day_label(iso: str, today: str) -> str:
    """'today', 'yesterday', else 'Mon 14 Jul', from the ISO labels the service returns."""
    day = dt.date.fromisoformat(iso)
    gap = (dt.date.fromisoformat(today) - day).days
    if gap == 0:
        return "today"
    if gap == 1:
        return "yesterday"
    return day.strftime("%a %d %b")


def metric_value(totals: UsageTotals, metric: Metric) -> float:
    return float(totals.cost) if metric == "cost" else float(totals.images)


class DailyChart(Vertical):
    """Sparkline over every day (oldest left), then active days newest first with bars."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.days: Sequence[UsageTotals] = ()
        self.values: list[float] = []

    def compose(self) -> ComposeResult:
        yield Sparkline([], id="usage-sparkline")
        yield Static(id="usage-axis")
        yield DataTable(id="usage-day-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="usage-quiet")

    def on_mount(self) -> None:
        table = self.query_one("#usage-day-table", DataTable)
        table.add_column("Day", key="day")
        table.add_column(Text("Images", justify="right"), key="images")
        table.add_column(Text("Cost", justify="right"), key="cost")
        table.add_column("", key="bar")

    def on_resize(self) -> None:
        self._fit_sparkline()

    def _fit_sparkline(self) -> None:
        """Give every day the same whole number of cells (uneven buckets look like data)."""
        if not self.days:
            return
        room = self.content_size.width or 60
        cells = max(1, room // len(self.days))
        width = cells * len(self.days)
        sparkline = self.query_one(Sparkline)
        sparkline.styles.width = width
        # One value per cell: Sparkline's own bucketing drifts by a cell when it stretches.
        sparkline.data = [value for value in self.values for _ in range(cells)]
        axis = self.query_one("#usage-axis", Static)
        axis.styles.width = width
        first = day_label(self.days[0].label, self.days[-1].label)
        half = width // 2
        axis.update(
            Content.styled(f"{first:<{half}}{'today':>{width - half}}", "$foreground-muted")
        )

    def show(self, days: Sequence[UsageTotals], metric: Metric) -> None:
        noun = "cost" if metric == "cost" else "images"
        self.border_title = f"Last {len(days)} days · {noun}"
        self.values = [metric_value(day, metric) for day in days]
        self.days = days
        if not days:
            return
        today = days[-1].label
        self._fit_sparkline()
        active = [
            day
            for day in days
            if day.images or day.cost or day.unknown_cost_count or day.possibly_billed
        ]
        maximum = max((metric_value(day, metric) for day in active), default=0.0)
        table = self.query_one("#usage-day-table", DataTable)
        table.clear()
        for day in reversed(active):
            table.add_row(
                day_label(day.label, today),
                Text(f"{day.images:,}", justify="right"),
                Text(money(day), justify="right"),
                bar(metric_value(day, metric), maximum),
                key=day.label,
            )
        table.display = bool(active)
        quiet = len(days) - len(active)
        note = self.query_one("#usage-quiet", Static)
        if not active:
            note.update("No images in this period yet: generate some on Compose (F2).")
        elif quiet:
            note.update(f"{quiet} quiet day{'s' if quiet != 1 else ''} not listed.")
        else:
            note.update("")


#: Marks a day × model cost that is a lower bound (explained under the table).
AT_LEAST = "≥"
AT_LEAST_EXPLAINED = (
    f"{AT_LEAST} at least: part of that cost is unknown (images without a price, or requests "
    "possibly billed)."
)


def cell_text(totals: UsageTotals | None, metric: Metric, *, bold: bool = False) -> Text:
    """A day × model cell: the cost, ``≥`` when part of it is unknown (or the images); a dot
    when nothing happened. Short, so that several models fit across 80 columns."""
    if totals is None or totals.empty:
        return Text("·", style="dim", justify="right")
    if metric == "cost":
        shown = format_money(totals.cost)
        if not totals.cost_known:
            shown = AT_LEAST + shown
    else:
        shown = f"{totals.images:,}"
    return Text(shown, style="bold" if bold else "", justify="right")


class DayModelPanel(Vertical):
    """Rows: the days with usage in the last N (newest first), then the total; columns: each
    model, then the day's total. Every number is the service's ``DayModelTable``."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.table: DayModelTable | None = None

    def compose(self) -> ComposeResult:
        yield DataTable(id="usage-day-model-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="usage-day-model-note")

    def show(self, table: DayModelTable, metric: Metric, today: str) -> None:
        """Fill the table; ``today`` (ISO) names today and yesterday as such."""
        self.table = table
        noun = "cost" if metric == "cost" else "images"
        self.border_title = f"By day and model · last {table.span} days · {noun}"
        grid = self.query_one("#usage-day-model-table", DataTable)
        grid.clear(columns=True)
        grid.add_column("Day", key="day")
        for model in table.models:
            grid.add_column(Text(printable(model, single_line=True), justify="right"), key=model)
        grid.add_column(Text("Total", justify="right", style="bold"), key="total")
        for day in table.days:
            iso = day.isoformat()
            grid.add_row(
                day_label(iso, today),
                *(cell_text(table.cell(day, model), metric) for model in table.models),
                cell_text(table.day_totals[day], metric, bold=True),
                key=iso,
            )
        if table.days:
            grid.add_row(
                Text("Total", style="bold"),
                *(cell_text(table.model_totals[m], metric, bold=True) for m in table.models),
                cell_text(table.total, metric, bold=True),
                key="total",
            )
        grid.display = bool(table.days)
        note = self.query_one("#usage-day-model-note", Static)
        quiet = table.span - len(table.days)
        lines = []
        if not table.days:
            lines.append(f"Nothing in the last {table.span} days.")
        elif quiet:
            lines.append(f"{quiet} quiet day{'s' if quiet != 1 else ''} not listed.")
        if metric == "cost" and not table.total.cost_known:
            lines.append(AT_LEAST_EXPLAINED)
        note.update(Content("\n".join(lines)))
