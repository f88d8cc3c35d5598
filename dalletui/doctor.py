"""``dalletui doctor``: check the data folder (the default) or the terminal (``graphics``).

``dalletui doctor [--fix] [--json]`` compares the database with the files under the data folder
and repairs, with ``--fix``, what a crash leaves behind (``dalletui.services.doctor``): one line
per finding, then a summary; the exit status is 0 when nothing is left to fix, 1 otherwise.

``dalletui doctor graphics`` runs the same detection as the app (one batched query to the tty,
capped at about a second, input flushed afterwards) and explains the decision, with what the
user can change for better images. It never changes tmux or terminal settings itself.
Registered into ``dalletui.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from dalletui.cli import EXIT_ERROR, EXIT_USAGE, PARSER_EXTENSIONS, command
from dalletui.config import Settings
from dalletui.textsafe import dump_json, printable, printable_message


def _add_parsers(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check the data folder ('doctor --fix' repairs it); 'doctor graphics' explains "
        "how images are shown",
    )
    doctor.add_argument(
        "topic",
        nargs="?",
        default="data",
        choices=("data", "graphics"),
        help="what to check (default: data)",
    )
    doctor.add_argument(
        "--fix", action="store_true", help="repair what can be repaired (data only)"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


@command("doctor")
def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    if args.topic == "data":
        return doctor_data(settings, fix=args.fix, as_json=args.json)
    if args.fix:
        print("dalletui: error: --fix repairs the data folder, not graphics", file=sys.stderr)
        return EXIT_USAGE
    return doctor_graphics(args, settings)


def doctor_data(settings: Settings, *, fix: bool, as_json: bool) -> int:
    """Check (and with ``fix`` repair) the data folder; 0 when healthy, 1 when problems remain."""
    from dalletui.errors import StorageError
    from dalletui.services.doctor import open_doctor

    if not settings.db_path.exists():
        if as_json:
            print(dump_json({"home": str(settings.home), "healthy": True, "findings": []}))
        else:
            print(_line(f"dalletui doctor: {settings.home}"))
            print(_line(f"No database at {settings.db_path} yet: nothing to check."))
        return 0
    try:
        doctor = open_doctor(settings)
    except StorageError as exc:
        # A damaged or newer database: say so in the report's own shape, then stop.
        if as_json:
            data = {
                "home": str(settings.home),
                "healthy": False,
                "findings": [{"kind": "database", "message": str(exc), "fixed": False}],
            }
            print(dump_json(data, indent=2))
        else:
            print(_line(f"dalletui doctor: {settings.home}"))
            print(_line(f"problem  {printable_message(exc)}"))
            print("1 problem, which dalletui doctor cannot fix.")
        return EXIT_ERROR
    try:
        report = doctor.run(full=True, fix=fix)
    finally:
        doctor.db.close()
    if as_json:
        print(dump_json(report.to_dict(), indent=2))
    else:
        print("\n".join(report_lines(report)))
    return 0 if report.healthy else EXIT_ERROR


def report_lines(report: Any) -> list[str]:
    """The data report: a heading, one line per check and finding, and a summary."""
    lines = [f"dalletui doctor: {report.home}"]
    if report.schema is not None:
        database, code = report.schema
        if database == code:
            lines.append(f"ok       schema version {database}")
    if report.integrity_mode != "skipped" and not report.integrity_problems:
        lines.append(f"ok       database integrity ({report.integrity_mode})")
    for finding in report.findings:
        if finding.fixed:
            lines.append(f"fixed    {finding.message} -> {finding.outcome}")
        elif finding.outcome:
            lines.append(f"failed   {finding.message} -> {finding.outcome}")
        elif finding.fixable:
            lines.append(f"problem  {finding.message} (--fix: {finding.remedy})")
        else:
            advice = f" ({finding.advice})" if finding.advice else ""
            lines.append(f"problem  {finding.message}{advice}")
    if report.trash is not None:
        lines.append(f"info     trash: {report.trash.files:,} files, {_size(report.trash.bytes)}")
    lines = [_line(line) for line in lines]
    problems, left = len(report.findings), len(report.remaining)
    if not problems:
        lines.append("Healthy: no problems found.")
    elif not left:
        lines.append(f"{_count(problems, 'problem')}, all fixed.")
    else:
        fixed = len(report.fixed)
        summary = f"{_count(problems, 'problem')}: {fixed} fixed, {left} left"
        if not report.fixing and any(f.fixable for f in report.remaining):
            summary += "; run `dalletui doctor --fix` to repair what can be repaired"
        lines.append(summary + ".")
    return lines


def _line(text: str) -> str:
    return printable(text, single_line=True)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def doctor_graphics(args: argparse.Namespace, settings: Settings) -> int:
    """What the terminal supports and which image mode dalletui picks, and why."""
    from dalletui.tui.graphics import backend, detect, policy
    from dalletui.tui.launch import request_source

    requested = settings.graphics
    facts = detect.gather(fds=detect.terminal_fds(dev_tty=True))
    decision = policy.decide(
        facts,
        requested,
        request_source=request_source(settings),
        cell_override=settings.cell_size,
    )
    if args.json:
        data = asdict(decision)
        data["textual_image"] = backend.version_text()
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(report(decision, backend.version_text(), facts.is_tty))
    return 0


def colour_line(decision: Any) -> str:
    """The colour depth the app really draws with, and why: '256 (TERM=tmux-256color ...)'."""
    depth = getattr(decision, "colors", "") or ("24-bit" if decision.truecolor else "")
    if not depth:
        return "as detected"
    names = {"24-bit": "24-bit colour", "256": "256 colours", "16": "16 colours"}
    text = names.get(depth, "no colour" if depth == "none" else depth)
    source = getattr(decision, "colors_source", "")
    return f"{text} ({source})" if source else text


def report(decision: Any, textual_image: str, is_tty: bool = True) -> str:
    """The human-readable report (kept plain: it is often pasted into bug reports)."""
    mode_names = {
        "kitty": "kitty graphics (Unicode placeholders)",
        "sixel": "sixel graphics",
        "halfcell": "half-cell blocks (▀, two pixels a cell)",
        "unicode": "unicode blocks (no colour)",
        "off": "no images (file names only)",
    }
    lines = [
        "dalletui graphics",
        "",
        f"  terminal     {decision.terminal}",
        f"  mode         {decision.mode}: {mode_names.get(decision.mode, decision.mode)}",
    ]
    if decision.requested != "auto":
        lines.append(f"  requested    {decision.requested} (from {decision.request_source})")
    if decision.auto_mode and decision.auto_mode != decision.mode:
        lines.append(f"  auto         would pick {decision.auto_mode}")
    width, height = decision.cell_size
    lines.append(f"  cell size    {width}×{height} px ({decision.cell_source})")
    lines.append(f"  colours      {colour_line(decision)}")
    if decision.tmux_wrap:
        lines.append("  tmux         kitty escapes wrapped for allow-passthrough")
    if decision.remote:
        colors = decision.thumbnail_colors
        lines.append(f"  remote       yes: animations off, {colors}-colour sixel thumbnails")
    lines.append(f"  textual-image {textual_image}")
    lines += ["", "Why:"] + [f"  - {reason}" for reason in decision.reasons]
    lines += ["", "Evidence:"] + [f"  - {item}" for item in decision.evidence]
    if decision.advice:
        lines += ["", "For better images:"] + [f"  - {item}" for item in decision.advice]
    lines += [
        "",
        "Force a mode with DALLETUI_GRAPHICS=auto|kitty|sixel|halfcell|unicode|off,",
        'dalletui --graphics MODE, or graphics = "MODE" in the config file.',
    ]
    if not is_tty:
        lines.append("(run this in the terminal you use dalletui in: no terminal was found here)")
    return "\n".join(lines)
