"""``dalletui import-images PATH…``: images from A1111, ComfyUI, InvokeAI (and dalletui) as history.

Registered into ``dalletui.cli``. One line per file as it is done (imported, already there, or
why it could not be read), then a summary. Exit status 0 when any file's prompt could be read
(imported now, or imported before), 1 when none could.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dalletui.cli import PARSER_EXTENSIONS, command
from dalletui.config import Settings
from dalletui.formatting import shorten
from dalletui.textsafe import dump_json, printable

EXIT_NOTHING_READ = 1


def _add_parsers(sub: Any) -> None:
    parser = sub.add_parser(
        "import-images",
        help="add images made by A1111, Forge, Fooocus, ComfyUI or InvokeAI to history",
        description=(
            "Read the prompt and settings embedded in PNG, JPEG and WebP files (folders are "
            "searched recursively), copy each image into dalletui's images folder with a "
            "thumbnail, and record it as history so it can be searched. Nothing is billed and "
            "no usage is recorded. A file imported before is skipped; files that cannot be "
            "read are listed with the reason."
        ),
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="image files or folders"
    )
    parser.add_argument("--dry-run", action="store_true", help="read and list, import nothing")
    parser.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


def _line(item: Any, dry_run: bool) -> str:
    path = printable(str(item.path), single_line=True)
    if item.status == "unreadable":
        return f"skipped    {path}: {printable(item.reason, single_line=True)}"
    prompt = shorten(printable(item.prompt or "", single_line=True), 60)
    source = printable(item.source or "", single_line=True)
    if item.status == "duplicate":
        return f"already    {path}: {printable(item.reason, single_line=True)}"
    label = "readable" if dry_run else f"imported   #{item.generation_id}"
    return f"{label:<10} {path} ({source}): {prompt}"


def _summary(report: Any) -> str:
    done = [item for item in report.files if item.status in {"imported", "readable"}]
    sources = Counter(item.source for item in done)
    by_source = ", ".join(
        f"{count} from {printable(name or '?', single_line=True)}"
        for name, count in sorted(sources.items(), key=lambda pair: (-pair[1], pair[0] or ""))
    )
    verb = "Would import" if report.dry_run else "Imported"
    noun = "image" if len(done) == 1 else "images"
    parts = [f"{verb} {len(done):,} {noun}" + (f" ({by_source})" if by_source else "")]
    if duplicates := report.count("duplicate"):
        parts.append(f"{duplicates:,} imported before")
    if unreadable := report.count("unreadable"):
        parts.append(f"{unreadable:,} could not be read")
    return "; ".join(parts) + "."


@command("import-images")
def cmd_import_images(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.context import open_services

    services = open_services(settings)
    try:
        importer = services.image_import
        on_file = None if args.json else (lambda item: print(_line(item, args.dry_run)))
        report = importer.import_paths(args.paths, dry_run=args.dry_run, on_file=on_file)
    finally:
        services.close()
    if args.json:
        print(
            dump_json(
                {
                    "dry_run": report.dry_run,
                    "imported": report.count("readable" if report.dry_run else "imported"),
                    "duplicates": report.count("duplicate"),
                    "unreadable": report.count("unreadable"),
                    "files": [item.to_dict() for item in report.files],
                },
                indent=2,
            )
        )
    if not report.files:
        where = ", ".join(printable(str(p), single_line=True) for p in args.paths)
        print(f"dalletui: error: no PNG, JPEG or WebP files in {where}.", file=sys.stderr)
        return EXIT_NOTHING_READ
    if not args.json:
        print(_summary(report))
    if not report.anything_read:
        print(
            "dalletui: error: none of the files had a prompt dalletui could read "
            "(each file's reason is listed).",
            file=sys.stderr,
        )
        return EXIT_NOTHING_READ
    return 0
