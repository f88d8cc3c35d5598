"""The last days: a sparkline and a bar table of the days with activity (``DailyChart``), and a
day × model table of what each model cost (or made) on each day (``DayModelPanel``).

Tables are fitted to the room they have, so that no amount is ever cut at the right edge: wide
headings go on two lines first, then the models that spent least share one "other" column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def two_lines(label: str, fit: int = 0) -> str:
    """A heading broken after a space or hyphen so that a column is no wider than it must be.

    A label no wider than ``fit`` (the column's numbers) stays whole. Otherwise the break is the
    rightmost one within a cell of the narrowest (or within ``fit``): "gpt-image-" / "1.5", not
    "gpt-" / "image-1.5"; a label with no space or hyphen stays one line.
    """
    if len(label) <= fit:
        return label
    breaks = [
        (label[: at + 1].rstrip(), label[at + 1 :])
        for at, ch in enumerate(label[:-1])
        if ch in " -"
    ]
    if not breaks:
        return label
    best = min(max(len(first), len(second)) for first, second in breaks)
    good = [pair for pair in breaks if max(map(len, pair)) <= max(best + 1, fit)]
    first, second = good[-1]
    return f"{first}\n{second}"


def heading(
    label: str, *, wrap: bool, fit: int = 0, right: bool = True, bold: bool = False
) -> Text:
    """A column heading; ``wrap`` puts it on two lines (see ``two_lines``; one-line headings
    sit on the second, next to the numbers)."""
    if wrap:
        label = two_lines(label, fit)
        if "\n" not in label:
            label = "\n" + label
    return Text(label, justify="right" if right else "left", style="bold" if bold else "")


def table_width(table: DataTable[object], widths: Iterable[int]) -> int:
    """The cells a DataTable of columns ``widths`` wide takes, with its cell padding."""
    return sum(width + 2 * table.cell_padding for width in widths)


def room_for(panel: Vertical, fallback: int) -> int:
    """The columns a panel can give its table (its content width, once laid out)."""
    return panel.content_size.width or fallback


def scrollbar_room(table: DataTable[object], lines: int) -> int:
    """The cells a table's vertical scrollbar will take with ``lines`` lines (header too):
    its width when its CSS ``max-height`` cannot hold them, else none."""
    limit = table.styles.max_height
    if limit is not None and limit.is_cells and lines > limit.value:
        return table.styles.scrollbar_size_vertical
    return 0


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
        self.metric: Metric = "cost"
        self._fitted_room = 0

    def compose(self) -> ComposeResult:
        yield Sparkline([], id="usage-sparkline")
        yield Static(id="usage-axis")
        yield DataTable(id="usage-day-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="usage-quiet")

    def on_mount(self) -> None:
        self._columns(self.query_one("#usage-day-table", DataTable), [3, 6, 4, 0])

    @staticmethod
    def _columns(table: DataTable[object], widths: Sequence[int]) -> None:
        """The day table's columns, ``widths`` wide (given: see ``DayModelPanel.show``)."""
        table.clear(columns=True)
        headings = [Text("Day"), Text("Images", justify="right"), Text("Cost", justify="right")]
        for heading_text, key, width in zip(
            [*headings, Text("")], ("day", "images", "cost", "bar"), widths, strict=True
        ):
            table.add_column(heading_text, key=key, width=width)

    def on_resize(self) -> None:
        self._fit_sparkline()
        if self.days and room_for(self, 0) != self._fitted_room:
            self.show(self.days, self.metric)

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
        self.metric = metric
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
        rows = [
            (
                day,
                Text(day_label(day.label, today)),
                Text(f"{day.images:,}", justify="right"),
                Text(money(day), justify="right"),
            )
            for day in reversed(active)
        ]
        widths = [
            max([len(heading_text), *(row[column].cell_len for row in rows)])
            for column, heading_text in ((1, "Day"), (2, "Images"), (3, "Cost"))
        ]
        # The bars take what is left of the row, up to BAR_WIDTH: never cut at the edge.
        self._fitted_room = room_for(self, 0)
        room = room_for(self, self.app.size.width - 6) - table_width(table, [*widths, 0])
        room -= scrollbar_room(table, len(rows) + 1)
        bar_width = max(1, min(BAR_WIDTH, room))
        self._columns(table, [*widths, bar_width])
        for day, label, images, cost in rows:
            value = metric_value(day, metric)
            table.add_row(label, images, cost, bar(value, maximum, bar_width), key=day.label)
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


@dataclass(frozen=True)
class GridLayout:
    """How a day × model table fits its room: wrapped headings or not, the models summed in
    "other", and every column's width (given to the DataTable, never measured by it)."""

    wrap: bool
    shown: list[str]
    folded: list[str]
    widths: dict[str, int]


#: The "other" column's heading (its second line says how many models it sums).
OTHER = "other"


class DayModelPanel(Vertical):
    """Rows: the days with usage in the last N (newest first), then the total; columns: each
    model, then the day's total. Every number is the service's ``DayModelTable``; when the
    models do not fit across, those that spent least are summed in one "other" column."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.table: DayModelTable | None = None
        self.metric: Metric = "cost"
        self.today = ""
        self.layout_used: GridLayout | None = None
        self._fitted_room = 0

    def compose(self) -> ComposeResult:
        yield DataTable(id="usage-day-model-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="usage-day-model-note")

    def on_resize(self) -> None:
        if self.table is not None and room_for(self, 0) != self._fitted_room:
            self.show(self.table, self.metric, self.today)

    @staticmethod
    def _other(table: DayModelTable, folded: Sequence[str]) -> dict[object, UsageTotals]:
        """Per day (and ``"total"``): the folded models' totals added up."""
        from dalletui.services.usage import UsageTotals

        sums: dict[object, UsageTotals] = {}
        for day in table.days:
            cells = [cell for m in folded if (cell := table.cell(day, m)) is not None]
            sums[day] = sum(cells, UsageTotals())
        sums["total"] = sum((table.model_totals[m] for m in folded), UsageTotals())
        return sums

    def _layout(self, grid: DataTable[object], table: DayModelTable, room: int) -> GridLayout:
        """The widest layout that fits ``room`` columns: whole headings, then wrapped ones,
        then fewer models with the rest (at least two) in "other"."""
        metric, today = self.metric, self.today

        def widest(cells: Iterable[Text]) -> int:
            return max((cell.cell_len for cell in cells), default=1)

        def data_width(model: str) -> int:
            cells = [cell_text(table.cell(day, model), metric) for day in table.days]
            return widest([*cells, cell_text(table.model_totals[model], metric)])

        def label_width(label: str, data: int, wrap: bool) -> int:
            lines = (two_lines(label, data) if wrap else label).split("\n")
            return max(data, *(len(line) for line in lines))

        fixed = {
            "day": max([3, *(len(day_label(d.isoformat(), today)) for d in table.days), 5]),
            "total": max(5, widest(cell_text(t, metric) for t in table.day_totals.values())),
        }
        fixed["total"] = max(fixed["total"], cell_text(table.total, metric).cell_len)
        data = {model: data_width(model) for model in table.models}
        candidates: list[GridLayout] = []
        for wrap in (False, True):
            widths = {m: label_width(m, data[m], wrap) for m in table.models}
            candidates.append(GridLayout(wrap, list(table.models), [], {**fixed, **widths}))
        models = list(table.models)
        for kept in range(len(models) - 2, 0, -1):
            shown, folded = models[:kept], models[kept:]
            other = self._other(table, folded)
            widths = {m: label_width(m, data[m], True) for m in shown}
            widths[OTHER] = max(
                len(f"{len(folded)} models"), widest(cell_text(t, metric) for t in other.values())
            )
            candidates.append(GridLayout(True, shown, folded, {**fixed, **widths}))
        for layout in candidates:
            if table_width(grid, layout.widths.values()) <= room:
                return layout
        return candidates[-1]

    def show(self, table: DayModelTable, metric: Metric, today: str) -> None:
        """Fill the table; ``today`` (ISO) names today and yesterday as such."""
        self.table, self.metric, self.today = table, metric, today
        noun = "cost" if metric == "cost" else "images"
        self.border_title = f"By day and model · last {table.span} days · {noun}"
        grid = self.query_one("#usage-day-model-table", DataTable)
        self._fitted_room = room_for(self, 0)
        room = room_for(self, self.app.size.width - 6)
        layout = self._layout(grid, table, room - scrollbar_room(grid, len(table.days) + 3))
        self.layout_used = layout
        wrap, shown, folded, widths = layout.wrap, layout.shown, layout.folded, layout.widths
        other = self._other(table, folded) if folded else {}
        grid.clear(columns=True)
        grid.header_height = 2 if wrap else 1
        # Widths are given, not measured: a DataTable that measures on idle keeps the cells it
        # drew before then cut to its headings' width (seen after a resize in tmux).
        grid.add_column(heading("Day", wrap=wrap, right=False), key="day", width=widths["day"])
        for model in shown:
            label = heading(printable(model, single_line=True), wrap=wrap, fit=widths[model])
            grid.add_column(label, key=model, width=widths[model])
        if folded:
            label = Text(f"{OTHER}\n{len(folded)} models", justify="right")
            grid.add_column(label, key=OTHER, width=widths[OTHER])
        total_heading = heading("Total", wrap=wrap, bold=True)
        grid.add_column(total_heading, key="total", width=widths["total"])
        for day in table.days:
            iso = day.isoformat()
            rest = [cell_text(other[day], metric)] if folded else []
            grid.add_row(
                day_label(iso, today),
                *(cell_text(table.cell(day, model), metric) for model in shown),
                *rest,
                cell_text(table.day_totals[day], metric, bold=True),
                key=iso,
            )
        if table.days:
            rest = [cell_text(other["total"], metric, bold=True)] if folded else []
            grid.add_row(
                Text("Total", style="bold"),
                *(cell_text(table.model_totals[m], metric, bold=True) for m in shown),
                *rest,
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
        if folded:
            names = printable(", ".join(folded), single_line=True)
            lines.append(f"{OTHER}: {names} (more models than fit this width).")
        if metric == "cost" and not table.total.cost_known:
            lines.append(AT_LEAST_EXPLAINED)
        note.update(Content("\n".join(lines)))
