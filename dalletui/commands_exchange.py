"""``dalletui export`` and ``dalletui import`` (registered into ``dalletui.cli``).

The format is documented in docs/export-format.md. An export goes to standard output unless a
file is named (``-o``, or ``--zip`` for a zip with the images); files are written atomically. An
import is all or nothing and prints one summary line (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalletui.cli import PARSER_EXTENSIONS, command, since_arg
from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.textsafe import dump_json, printable

if TYPE_CHECKING:
    from dalletui.services.context import Services


def _add_parsers(sub: Any) -> None:
    export = sub.add_parser(
        "export",
        help="write prompts, generations, templates, batches and usage to JSON, JSONL or CSV",
        description="Export the history (not the trash) in dalletui's versioned format "
        "(docs/export-format.md). Filters narrow the prompts and their generations.",
    )
    export.add_argument(
        "--format",
        choices=("json", "jsonl", "csv"),
        default="json",
        help="json (default), jsonl (one record a line) or csv (one row per generation)",
    )
    export.add_argument("--favorites", "-f", action="store_true", help="only starred prompts")
    export.add_argument(
        "--since", type=since_arg, metavar="DATE", help="prompts used and images made since DATE"
    )
    export.add_argument("--search", "-s", metavar="QUERY", default="", help="full-text search")
    target = export.add_mutually_exclusive_group()
    target.add_argument(
        "--zip", type=Path, metavar="FILE", help="write a zip with the export and the images"
    )
    target.add_argument(
        "-o", "--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)"
    )

    imp = sub.add_parser(
        "import",
        help="merge an export (JSON, JSONL or zip) into this history, all or nothing",
        description="Merge a dalletui export into the current database: prompts by text, "
        "generations, batches and usage by uid, templates and variables by name. A file that "
        "is malformed or unsafe changes nothing.",
    )
    imp.add_argument("file", type=Path, help="an export file (.json, .jsonl or .zip)")
    imp.add_argument(
        "--dry-run", action="store_true", help="check the file and say what would change"
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")


PARSER_EXTENSIONS.append(_add_parsers)


def _services(settings: Settings) -> Services:
    from dalletui.services.context import open_services

    return open_services(settings)


def _shown(path: Path) -> str:
    return printable(str(path), single_line=True)


@command("export")
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.exchange import ExportOptions

    if args.zip is not None and args.format == "csv":
        raise ValidationError(
            "A zip holds a JSON or JSON Lines export (CSV cannot be imported back); "
            "use --format json or jsonl with --zip."
        )
    options = ExportOptions(
        format=args.format, favorites=args.favorites, since=args.since, search=args.search
    )
    services = _services(settings)
    try:
        if args.zip is not None:
            summary = services.exchange.export_zip(args.zip, options)
            print(summary.line(_shown(args.zip)))
            return 0
        if args.out is not None:
            summary = services.exchange.export_file(args.out, options)
            print(summary.line(_shown(args.out)))
            return 0
        data, _summary = services.exchange.export_bytes(options)
    finally:
        services.close()
    out = sys.stdout
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # a replaced stream (tests): text is what it takes
        out.write(data.decode("utf-8"))
    return 0


@command("import")
def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        summary = services.exchange.import_file(args.file, dry_run=args.dry_run)
    finally:
        services.close()
    if args.json:
        print(dump_json({**summary.to_json(), "dry_run": args.dry_run}, indent=2))
    else:
        line = summary.line(_shown(args.file))
        if args.dry_run:
            line = "Would have i" + line[1:] + " (dry run: nothing was changed)"
        print(line)
        for conflict in summary.conflicts:
            name = printable(conflict.name, single_line=True)
            print(f"  {conflict.kind} '{name}': the file's differs; the local one was kept")
    for problem in summary.problems:
        print(f"dalletui: warning: {printable(problem, single_line=True)}", file=sys.stderr)
    return 1 if summary.problems else 0
