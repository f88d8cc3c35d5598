"""``dalletui usage``: what it all cost, from the ledger; ``usage reprice`` prices unknown rows.

Registered into ``dalletui.cli``. Without ``--by`` it sums up today, this week, this month and
all time, then each model; with ``--by day|week|month|model`` (or a ``--since``/``--until``
range, by day) it prints a table of periods and a bar chart, or ``--json`` / ``--csv``. Images of
unknown cost and possibly billed requests are counted apart and never added as $0: a total with
either reads "at least". Spend shown here never shrinks when prompts or images are deleted: the
ledger is append-only. From 80% of ``monthly_budget`` one warning line goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from dalletui.cli import PARSER_EXTENSIONS, command, since_arg, until_arg
from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.formatting import format_money
from dalletui.textsafe import dump_json, printable

#: What ``--by`` groups by (``services.usage.GROUPINGS``; kept here so the parser needs no
#: services import).
BY_CHOICES = ("day", "week", "month", "model")
#: The widest chart bar, however wide the terminal.
MAX_BAR = 60
#: The CSV columns, one schema for every report.
CSV_COLUMNS = (
    "group",
    "period",
    "start",
    "end",
    "model",
    "images",
    "input_tokens",
    "output_tokens",
    "cost",
    "cost_complete",
    "unknown_cost_images",
    "possibly_billed_requests",
)
_HEADINGS = {"day": "Day", "week": "Week of", "month": "Month", "model": "Model"}


def _add_parsers(sub: Any) -> None:
    usage = sub.add_parser(
        "usage",
        help="images, tokens and cost: today, this week, this month, all time; or by period",
        description=(
            "Images, tokens in and out, and cost from the ledger. Images of unknown cost and\n"
            "requests that were possibly billed are counted apart, never added as $0.\n\n"
            "Without --by: today, this week, this month, all time, and each model.\n"
            "--by day, week (ISO, from Monday) or month lists every period from --since\n"
            "(default: the last 30 days, 12 weeks or 12 months) with a bar chart; --by model\n"
            "covers all time unless given a range. Periods are local time. From 80% of\n"
            "monthly_budget a warning goes to stderr."
        ),
    )
    usage.add_argument(
        "action",
        nargs="?",
        default="show",
        choices=("show", "reprice"),
        help="show (default) or reprice: price ledger rows whose cost was unknown",
    )
    usage.add_argument("--by", choices=BY_CHOICES, help="one row per day, ISO week, month or model")
    usage.add_argument(
        "--since", type=since_arg, metavar="DATE", help="from DATE (YYYY-MM-DD, today, 7d, 2w, 3m)"
    )
    usage.add_argument("--until", type=until_arg, metavar="DATE", help="up to and including DATE")
    output = usage.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (money as strings)")
    output.add_argument("--csv", action="store_true", help="print CSV, one row per period")


PARSER_EXTENSIONS.append(_add_parsers)


# -- words ------------------------------------------------------------------------------------


def describe(totals: Any) -> str:
    """One line: images, cost, and what is unknown (never an exact total that is not)."""
    images = "1 image" if totals.images == 1 else f"{totals.images:,} images"
    parts = [images, cost_text(totals)]
    if totals.unknown_cost_count:
        noun = "image" if totals.unknown_cost_count == 1 else "images"
        parts.append(f"{totals.unknown_cost_count:,} {noun} of unknown cost")
    if totals.possibly_billed:
        noun = "request" if totals.possibly_billed == 1 else "requests"
        parts.append(f"{totals.possibly_billed:,} {noun} possibly billed, cost unknown")
    return ", ".join(parts)


def cost_text(totals: Any) -> str:
    """``$0.0420``, or ``at least $0.0420`` when some cost is unknown."""
    cost = format_money(totals.cost)
    return cost if totals.cost_known else f"at least {cost}"


def _label(text: str) -> str:
    return printable(text, single_line=True)


def _amount(cost: Any) -> str:
    """Exact dollars as text with the ledger's six places: ``0.042000``, ``0.000000``."""
    return f"{cost:.6f}"


def _totals_json(totals: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": _label(totals.label),
        "images": totals.images,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cost": _amount(totals.cost),
        "cost_known": totals.cost_known,
        "unknown_cost_images": totals.unknown_cost_count,
        "possibly_billed_requests": totals.possibly_billed,
    }
    if totals.start is not None:
        data["start"] = totals.start.isoformat()
    if totals.end is not None:
        data["end"] = totals.end.isoformat()
    return data


# -- output -----------------------------------------------------------------------------------


def _encoding(stream: IO[str]) -> str:
    return getattr(stream, "encoding", None) or "utf-8"


def can_draw_blocks(stream: IO[str]) -> bool:
    """Whether ``stream`` can print Unicode block elements (else the chart is ASCII)."""
    try:
        "█▏▎▍▌▋▊▉·".encode(_encoding(stream))
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _emit(lines: Iterable[str], stream: IO[str]) -> None:
    """Print ``lines``; what the stream's encoding cannot show becomes ``?``, never an error."""
    encoding = _encoding(stream)
    for line in lines:
        try:
            line.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            line = line.encode(encoding, "replace").decode(encoding, "replace")
        print(line, file=stream)


def table(headings: Sequence[str], rows: Sequence[Sequence[str]], *, total: int = 0) -> list[str]:
    """Columns padded to their widest cell, the first left-aligned and the rest right-aligned;
    a rule above the last ``total`` rows."""
    widths = [max(len(row[i]) for row in [headings, *rows]) for i in range(len(headings))]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    lines = [line(headings), "  ".join("-" * width for width in widths)]
    body = [line(row) for row in rows]
    if total:
        body.insert(len(body) - total, "  ".join("-" * width for width in widths))
    return lines + body


def chart(periods: Sequence[Any], by: str, *, columns: int, ascii_only: bool) -> list[str]:
    """A bar per period, scaled to the busiest, fitting ``columns``; cost, or images when there
    is no cost at all (an offline history)."""
    by_cost = any(row.cost for row in periods)
    values = [float(row.cost if by_cost else row.images) for row in periods]
    shown = [cost_text(row) if by_cost else f"{row.images:,}" for row in periods]
    labels = [shown_label(row, by) for row in periods]
    label_width = max((len(label) for label in labels), default=0)
    value_width = max((len(text) for text in shown), default=0)
    room = max(10, min(MAX_BAR, columns - label_width - value_width - 4))
    maximum = max(values, default=0.0)
    title = f"{'Cost' if by_cost else 'Images'} by {by}"
    lines = [title]
    for label, value, text in zip(labels, values, shown, strict=True):
        drawn = _bar(value, maximum, room, ascii_only)
        lines.append(f"{label:<{label_width}}  {drawn:<{room}}  {text:>{value_width}}".rstrip())
    return lines


def _bar(value: float, maximum: float, width: int, ascii_only: bool) -> str:
    from dalletui.services.usage import text_bar

    return text_bar(value, maximum, width, ascii_only=ascii_only)


def shown_label(row: Any, by: str) -> str:
    """A period as the table and chart show it: a week by its Monday, the rest by their label."""
    if by == "week" and row.start is not None:
        return str(row.start.isoformat())
    return _label(row.label)


def _report_rows(periods: Sequence[Any], by: str) -> list[list[str]]:
    return [
        [
            shown_label(row, by),
            f"{row.images:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            cost_text(row),
            f"{row.unknown_cost_count:,}",
            f"{row.possibly_billed:,}",
        ]
        for row in periods
    ]


def _csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: no formula from a name starting ``=``, ``+``, ..."""
    text = printable(text, single_line=True)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def _csv_row(group: str, period: str, model: str, totals: Any) -> list[str]:
    return [
        group,
        _csv_cell(period),
        totals.start.isoformat() if totals.start is not None else "",
        totals.end.isoformat() if totals.end is not None else "",
        _csv_cell(model),
        str(totals.images),
        str(totals.input_tokens),
        str(totals.output_tokens),
        _amount(totals.cost),
        "true" if totals.cost_known else "false",
        str(totals.unknown_cost_count),
        str(totals.possibly_billed),
    ]


def _write_csv(rows: Iterable[list[str]], stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)


def _range_text(report: Any) -> str:
    """``from 2026-11-03 to 2026-12-02`` (the ``until`` given is exclusive: the day before)."""
    import datetime as dt

    parts = []
    if report.since is not None:
        parts.append(f"from {report.since.date().isoformat()}")
    if report.until is not None:
        last = report.until - dt.timedelta(microseconds=1)
        parts.append(f"to {last.date().isoformat()}")
    return " ".join(parts) or "all time"


# -- the command ------------------------------------------------------------------------------


@command("usage")
def cmd_usage(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.context import open_services

    if args.action == "reprice" and (args.by or args.since or args.until or args.csv):
        raise ValidationError("usage reprice takes no --by, --since, --until or --csv.")
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise ValidationError("--until must be after --since.")
    services = open_services(settings)
    try:
        if args.action == "reprice":
            return _reprice(services, args)
        by: Any = args.by or ("day" if args.since or args.until else None)
        budget = services.usage.budget()
        if by is None:
            summary = services.usage.summary()
            models = services.usage.by_model()
            _print_summary(summary, models, budget, args)
        else:
            report = services.usage.report(by, args.since, args.until)
            _print_report(report, budget, args)
    finally:
        services.close()
    warning = budget.warning() if budget is not None else None
    if warning:
        _emit([f"warning: {warning}"], sys.stderr)
    return 0


def _reprice(services: Any, args: argparse.Namespace) -> int:
    result = services.usage.reprice(services.generation.catalog)
    if args.json:
        print(
            dump_json(
                {
                    "priced": [{"usage_id": i, "cost": str(c)} for i, c in result.priced],
                    "total": str(result.total),
                    "still_unknown": result.still_unknown,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"Priced {len(result.priced):,} ledger rows ({format_money(result.total)}); "
        f"{result.still_unknown:,} still have no known price. Known costs were not changed."
    )
    return 0


def _print_summary(
    summary: Sequence[Any], models: Sequence[Any], budget: Any, args: argparse.Namespace
) -> None:
    out = sys.stdout
    if args.json:
        data = {
            "periods": [_totals_json(t) for t in summary],
            "models": [_totals_json(t) for t in models],
            "budget": budget.to_dict() if budget is not None else None,
        }
        _emit([dump_json(data, indent=2)], out)
        return
    if args.csv:
        rows = [_csv_row("summary", t.label, "", t) for t in summary]
        rows += [_csv_row("model", "all time", t.label, t) for t in models]
        _write_csv(rows, out)
        return
    lines = [f"{totals.label:<11} {describe(totals)}" for totals in summary]
    if models:
        lines.append("")
        lines.append("by model (all time):")
        lines += [f"  {_label(totals.label):<24} {describe(totals)}" for totals in models]
    _emit(lines, out)


def _print_report(report: Any, budget: Any, args: argparse.Namespace) -> None:
    out = sys.stdout
    by = report.by
    if args.json:
        data = {
            "by": by,
            "since": report.since.isoformat() if report.since is not None else None,
            "until": report.until.isoformat() if report.until is not None else None,
            "periods": [_totals_json(t) for t in report.periods],
            "total": _totals_json(report.total),
            "budget": budget.to_dict() if budget is not None else None,
        }
        _emit([dump_json(data, indent=2)], out)
        return
    if args.csv:
        if by == "model":
            rows = [_csv_row("model", "", t.label, t) for t in report.periods]
        else:
            rows = [_csv_row(by, t.label, "", t) for t in report.periods]
        _write_csv(rows, out)
        return
    headings = [_HEADINGS[by], "Images", "Tokens in", "Tokens out", "Cost", "Unknown"]
    headings.append("Possibly billed")
    where = _range_text(report)
    local_note = "" if by == "model" and where == "all time" else " (local time)"
    lines = [f"Usage by {by}, {where}{local_note}", ""]
    if not report.periods:
        lines.append("Nothing generated in this period.")
        _emit(lines, out)
        return
    rows = _report_rows(report.periods, by)
    total = _report_rows([report.total], by)[0]
    total[0] = "total"
    lines += table(headings, [*rows, total], total=1)
    if report.total.unknown_cost_count or report.total.possibly_billed:
        lines.append("")
        lines.append("Unknown: images whose cost could not be computed. Possibly billed:")
        lines.append("requests whose outcome is unknown (a timeout, a cut-off answer).")
        lines.append('Neither is in the cost, so a cost with either reads "at least".')
    if report.total.empty:
        lines += ["", "Nothing generated in this period."]
    else:
        columns = shutil.get_terminal_size((80, 24)).columns
        lines.append("")
        lines += chart(report.periods, by, columns=columns, ascii_only=not can_draw_blocks(out))
    _emit(lines, out)
