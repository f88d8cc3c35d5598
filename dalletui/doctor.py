"""``dalletui doctor graphics``: what the terminal is, how we know, what dalletui will draw and why.

Runs the same detection as the app (one batched query to the tty, capped at about a second,
input flushed afterwards) and explains the decision, with what the user can change for better
images. It never changes tmux or terminal settings itself. Registered into ``dalletui.cli``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from dalletui.cli import PARSER_EXTENSIONS, command
from dalletui.config import Settings


def _add_parsers(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor", help="check the terminal: 'doctor graphics' explains how images are shown"
    )
    doctor.add_argument(
        "topic", nargs="?", default="graphics", choices=("graphics",), help="what to check"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


@command("doctor")
def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
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


def report(decision: Any, textual_image: str, is_tty: bool = True) -> str:
    """The human-readable report (kept plain: it is often pasted into bug reports)."""
    mode_names = {
        "kitty": "kitty graphics (Unicode placeholders)",
        "sixel": "sixel graphics",
        "halfcell": "half-cell blocks (▀ with 24-bit colours)",
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
    colours = "forced 24-bit (kitty image ids)" if decision.truecolor else "as detected"
    lines.append(f"  colours      {colours}")
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
