"""How a batch is shown: its state word, a progress bar, its list row and its detail lines.

Pure functions of what the Batches screen loaded (``BatchRow``) and of the run in this app, if
any: no query, no widget. Outside text (names, reasons, parameters) goes through textsafe.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.content import Content

from dalletui.formatting import format_money, humanize_age, shorten
from dalletui.generation.retry import format_seconds
from dalletui.textsafe import printable
from dalletui.timeutil import local, now

if TYPE_CHECKING:
    from dalletui.services.batches import Batch, BatchProgress
    from dalletui.tui.widgets.batch_runs import BatchRun

MUTED = "$foreground-muted"
#: Cells of the progress bar in the list and in the detail pane.
LIST_BAR = 8
DETAIL_BAR = 30
#: The list's columns (keys), in order.
COLUMNS = ("id", "name", "status", "progress", "failed", "billed", "spend", "started")
#: Theme colour of each batch status at rest.
STATUS_COLOURS = {
    "completed": "success",
    "failed": "error",
    "cancelled": "warning",
    "paused": "warning",
    "planned": "foreground-muted",
}


@dataclass
class BatchRow:
    """One batch as the list shows it (loaded in one worker)."""

    batch: Batch
    progress: BatchProgress
    #: The pid of another live dalletui running it (its events never reach this one).
    elsewhere: int | None = None

    @property
    def id(self) -> int:
        return int(self.batch.id)

    @property
    def name(self) -> str:
        return str(self.batch.name)


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def rich_palette(app: Any) -> dict[str, Style]:
    """Rich styles for the theme's colours (a DataTable's cells are Rich text)."""
    variables = app.get_css_variables()
    background = Color.parse(variables.get("surface", "#000000"))
    found: dict[str, Style] = {}
    for name in ("success", "error", "warning", "accent", "foreground-muted", "primary"):
        try:
            colour = Color.parse(variables[name])
        except (KeyError, ValueError):
            found[name] = Style()
            continue
        if colour.a < 1:
            colour = background.blend(colour.with_alpha(1), colour.a)
        found[name] = Style(color=colour.rich_color)
    return found


def progress_segments(progress: BatchProgress, width: int) -> list[tuple[int, str]]:
    """Cells of a bar of ``width`` for done, failed, maybe billed, in flight and the rest."""
    total = max(1, progress.total)
    counts = [
        (progress.done, "success"),
        (progress.failed, "error"),
        (progress.maybe_billed, "warning"),
        (progress.running, "accent"),
    ]
    cells: list[tuple[int, str]] = []
    seen = 0
    drawn = 0
    for count, colour in counts:
        seen += count
        upto = min(width, round(seen * width / total))
        if count and upto == drawn and drawn < width:
            upto = drawn + 1  # one prompt of a thousand still shows
        cells.append((max(0, upto - drawn), colour))
        drawn = max(drawn, upto)
    cells.append((max(0, width - drawn), "rest"))
    return cells


def bar_text(progress: BatchProgress, width: int, palette: dict[str, Style]) -> Text:
    text = Text()
    for cells, colour in progress_segments(progress, width):
        if colour == "rest":
            text.append("░" * cells, palette.get("foreground-muted", Style()))
        else:
            text.append("█" * cells, palette.get(colour, Style()))
    return text


def bar_content(progress: BatchProgress, width: int) -> Content:
    parts: list[tuple[str, str]] = []
    for cells, colour in progress_segments(progress, width):
        if colour == "rest":
            parts.append(("░" * cells, MUTED))
        else:
            parts.append(("█" * cells, f"${colour}"))
    return Content.assemble(*parts)


def took(progress: BatchProgress, reference: dt.datetime | None = None) -> str | None:
    """How long the batch has run (this run so far, or from its first start to its end)."""
    start = progress.started_at
    if start is None:
        return None
    if progress.elapsed is not None and progress.status == "running":
        return format_seconds(progress.elapsed)
    end = progress.finished_at or (reference or now())
    return format_seconds(max(0.0, (local(end) - local(start)).total_seconds()))


def status_of(row: BatchRow, run: BatchRun | None) -> tuple[str, str]:
    """The word for the batch's state as seen from here, and its theme colour."""
    status = row.progress.status
    if run is not None:
        return ("stopping" if run.stopping else "running"), "accent"
    if row.elsewhere is not None:
        return "elsewhere", "accent"
    if status == "running":
        return "stopped", "warning"  # its process ended without saying so
    return status, STATUS_COLOURS.get(status, "")


def row_cells(row: BatchRow, run: BatchRun | None, palette: dict[str, Style]) -> list[Text]:
    """The list's cells for ``row``, in ``COLUMNS`` order."""
    progress = row.progress
    word, colour = status_of(row, run)
    bar = bar_text(progress, LIST_BAR, palette)
    bar.append(f" {progress.settled:,}/{progress.total:,}")
    muted = palette.get("foreground-muted", Style())
    failed = Text(f"{progress.failed:,}" if progress.failed else "–", justify="right")
    failed.stylize(palette.get("error", Style()) if progress.failed else muted)
    billed = Text(f"{progress.maybe_billed:,}" if progress.maybe_billed else "–", justify="right")
    billed.stylize(palette.get("warning", Style()) if progress.maybe_billed else muted)
    return [
        Text(f"{row.id}", justify="right"),
        Text(shorten(printable(row.name, single_line=True), 22)),
        Text(word, style=palette.get(colour, Style()) if colour else Style()),
        bar,
        failed,
        billed,
        Text(progress.spend_display(), justify="right"),
        Text(humanize_age(progress.started_at) if progress.started_at else "not yet"),
    ]


def summary(row: BatchRow, run: BatchRun | None) -> Content:
    """The detail pane's lines above the images: what, where it stands, why it stopped."""
    batch, progress = row.batch, row.progress
    params = batch.params or {}
    word, colour = status_of(row, run)
    per = int(params.get("n", 1) or 1)
    prompts = plural(progress.total, "prompt") + (f" × {per} images" if per > 1 else "")
    request = " ".join(
        printable(str(params[key]), single_line=True)
        for key in ("model", "size", "quality")
        if params.get(key)
    )
    mode = printable(str(batch.mode), single_line=True)
    if batch.seed is not None and str(batch.mode).startswith("sample"):
        mode += f" (seed {batch.seed})"
    heading = Content.assemble(
        (f"#{row.id} ", "bold"),
        (printable(row.name, single_line=True), "bold $accent"),
        "  ",
        (word, f"bold ${colour}" if colour else "bold"),
    )
    offline = "offline" if params.get("provider") == "offline" else ""
    facts = [mode, prompts, request, offline, f"{batch.concurrency} at once"]
    share = round(100 * progress.settled / progress.total) if progress.total else 0
    line = Content.assemble(bar_content(progress, DETAIL_BAR), f" {share}%  ", progress.describe())
    timing: list[str] = []
    if progress.started_at is not None:
        timing.append(f"started {humanize_age(progress.started_at)}")
        spent = format_seconds(time.monotonic() - run.started) if run else took(progress)
        if spent:
            timing.append(("running for " if word == "running" else "took ") + spent)
    else:
        timing.append(f"created {humanize_age(progress.created_at)}, not started")
    lines = [
        heading,
        Content.styled(" · ".join(part for part in facts if part), MUTED),
        line,
        Content.styled(" · ".join(timing), MUTED),
        *notes(row, run),
    ]
    return Content("\n").join(lines)


def notes(row: BatchRow, run: BatchRun | None) -> list[Content]:
    """What the user should know and may do: a wait, another process, a reason, billing."""
    progress = row.progress
    found: list[Content] = []
    if run is not None and run.note:
        style = "$warning" if run.stopping else "$accent"
        found.append(Content.styled(printable(run.note, single_line=True), style))
    if row.elsewhere is not None:
        found.append(
            Content.styled(
                f"Running in another dalletui (process {row.elsewhere}); c asks it to stop "
                "(its requests in flight finish there).",
                "$accent",
            )
        )
    elif run is None and progress.status == "running":
        found.append(
            Content.styled(
                "The dalletui that ran it ended without stopping it; R resumes it (what was "
                "in flight is settled first).",
                "$warning",
            )
        )
    if progress.stop_reason and run is None:
        found.append(
            Content.assemble(
                ("Stopped: ", "bold $warning"),
                (printable(progress.stop_reason, single_line=True), "$warning"),
            )
        )
    maybe = progress.maybe_billed
    if maybe and run is None and row.elsewhere is None:
        it = "it" if maybe == 1 else "them"
        found.append(
            Content.styled(
                f"! {plural(maybe, 'prompt')} may have been billed without an image (in flight "
                f"when it stopped, or no answer): R leaves {it} alone, I sends {it} again.",
                "$warning",
            )
        )
    if progress.unknown_costs:
        found.append(
            Content.styled(
                f"{plural(progress.unknown_costs, 'image')} without a known price (spend so "
                f"far {format_money(progress.spend)} + unknown).",
                MUTED,
            )
        )
    return found
