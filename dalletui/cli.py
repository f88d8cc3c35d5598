"""The ``dalletui`` command: no arguments opens the TUI; subcommands do the same jobs in scripts.

Bad input exits non-zero with one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dalletui import __version__
from dalletui.config import Settings, load_settings
from dalletui.errors import DalleTuiError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    """Register a subcommand handler."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = handler
        return handler

    return register


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"dalletui: error: {message} (see dalletui --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dalletui",
        description="A keyboard-first terminal studio for OpenAI image generation.",
    )
    parser.add_argument("--version", action="version", version=f"dalletui {__version__}")
    parser.add_argument(
        "--home", type=Path, help="data folder (default: $DALLETUI_HOME or the user data dir)"
    )
    parser.add_argument(
        "--config", type=Path, help="config file (default: $DALLETUI_CONFIG or the user config dir)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument(
        "--graphics",
        choices=("auto", "kitty", "sixel", "halfcell", "unicode", "off"),
        help="image mode (default: $DALLETUI_GRAPHICS, config 'graphics', or auto-detected)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    history = sub.add_parser("history", help="list prompts from history, newest first")
    history.add_argument("--search", "-s", metavar="QUERY", default="", help="full-text search")
    history.add_argument("--favorites", "-f", action="store_true", help="only starred prompts")
    history.add_argument("--model", help="only prompts generated with this model")
    history.add_argument("--order", choices=("recent", "uses"), default="recent")
    history.add_argument("--limit", "-n", type=_positive_int, default=20)
    history.add_argument("--json", action="store_true", help="print JSON")

    favorite = sub.add_parser("favorite", help="star a prompt (or unstar it with --off)")
    favorite.add_argument("id", type=_positive_int, help="prompt id (see dalletui history)")
    favorite.add_argument("--off", action="store_true", help="remove the star")

    imp = sub.add_parser("import-prompts", help="add prompts from a text file (one a line, .gz ok)")
    imp.add_argument("file", type=Path)

    for extend in PARSER_EXTENSIONS:
        extend(sub)
    return parser


#: Other modules add subcommands here (generation, templates, doctor) to keep this file small.
PARSER_EXTENSIONS: list[Callable[[Any], None]] = []


def _services(settings: Settings):  # noqa: ANN202 (import kept lazy for start-up time)
    from dalletui.services.context import open_services

    return open_services(settings)


@command("history")
def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.storage import PromptQuery

    services = _services(settings)
    try:
        query = PromptQuery(
            text=args.search,
            favorites_only=args.favorites,
            model=args.model,
            order=args.order,
            limit=args.limit,
            prefix_last=False,
        )
        page = services.history.search(query)
        if args.json:
            rows = [{**p.to_dict(), "generation_count": p.generation_count} for p in page.items]
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        if not page.items:
            print("No prompts found.", file=sys.stderr)
            return 0
        for p in page.items:
            last = p.last_used_at.strftime("%Y-%m-%d %H:%M")
            print(f"{p.id:>6} {p.star} {p.use_count:>4}× {last}  {_one_line(p.text)}")
        return 0
    finally:
        services.close()


def _one_line(text: str, width: int = 100) -> str:
    from dalletui.storage.models import shorten

    return shorten(text, width)


@command("favorite")
def cmd_favorite(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        prompt = services.history.set_favorite(args.id, not args.off)
        state = "starred" if prompt.is_favorite else "unstarred"
        print(f"Prompt {prompt.id} {state}: {_one_line(prompt.text, 70)}")
        return 0
    finally:
        services.close()


@command("import-prompts")
def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        summary = services.history.import_file(args.file)
        line = (
            f"Imported {summary.lines:,} lines from {args.file}: {summary.added:,} new prompts, "
            f"{summary.bumped:,} already in history"
        )
        if summary.cleaned:
            line += f", {summary.cleaned:,} cleaned of control characters"
        print(line + ".")
        return 0
    finally:
        services.close()


def run_tui(settings: Settings) -> int:
    from dalletui.tui.launch import launch

    return launch(settings)


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to(None, args.verbose)
    try:
        settings = load_settings(home=args.home, config_path=args.config)
        settings = settings.with_overrides(graphics=args.graphics)
        if args.command is None:
            # Anything written to stderr would tear through the TUI: log to a file instead.
            _log_to(settings.home / "dalletui.log", args.verbose)
            return run_tui(settings)
        return COMMANDS[args.command](args, settings)
    except DalleTuiError as exc:
        print(f"dalletui: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("dalletui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def _log_to(path: Path | None, verbose: bool) -> None:
    """Log to stderr (commands) or to a file in the data folder (the TUI)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("dalletui: %(levelname)s: %(message)s"))
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _load_extensions() -> None:
    """Import the modules that add subcommands (each registers itself once)."""
    import importlib

    for module in ("dalletui.commands", "dalletui.doctor"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


if __name__ == "__main__":
    sys.exit(main())
