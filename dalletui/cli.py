"""The ``dalletui`` command: no arguments opens the TUI; subcommands do the same jobs in scripts.

Bad input exits non-zero with one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalletui import __version__
from dalletui.config import Settings, load_settings
from dalletui.errors import DalleTuiError
from dalletui.textsafe import SecretFilter, dump_json, printable, printable_message

if TYPE_CHECKING:
    from dalletui.storage.prompt_import import ImportProgress

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


#: The largest integer SQLite stores (a signed 64-bit INTEGER); ids and seeds must fit.
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)


def _shown(text: str, width: int = 40) -> str:
    """Outside text quoted in an error message: one line, not too long."""
    text = printable(text, single_line=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting whole numbers from ``low`` to ``high``.

    Out-of-range values are refused while parsing, before anything is opened or changed (an
    integer too large for SQLite used to fail half-way, after a use count was bumped).
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:  # also "Exceeds the limit (4300 digits)"
            raise argparse.ArgumentTypeError(f"'{_shown(text)}' is not a whole number") from exc
        if value < low:
            raise argparse.ArgumentTypeError(f"{_shown(str(value))} must be at least {low}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{_shown(str(value))} must be at most {high}")
        return value

    parse.__name__ = "whole number"  # what argparse calls the type in its own messages
    return parse


_positive_int = int_between(1, MAX_INT64)


def when_arg(*, end: bool = False) -> Callable[[str], Any]:
    """An argparse ``type`` for ``--since`` / ``--until``: a date, date and time, today,
    yesterday, or an age (7d, 2w, 3m). With ``end`` a bare day includes the whole day."""
    from dalletui.timeutil import parse_when

    def parse(text: str) -> Any:
        try:
            return parse_when(text, end=end)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = "date"
    return parse


since_arg = when_arg()
until_arg = when_arg(end=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse quotes the user's text ("invalid choice: ..."): keep it to one line.
        line = _shown(message, 300)
        self.exit(EXIT_USAGE, f"dalletui: error: {line} (see dalletui --help)\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11's argparse drops an attached value that is exactly "--" ("--search=--",
        # "-s--") and stores [] where a string belongs. Take the "--" literally instead.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dalletui",
        description="A keyboard-first terminal studio for OpenAI image generation.",
    )
    parser.add_argument("--version", action="version", version=f"dalletui {__version__}")
    parser.add_argument(
        "--print-completion",
        action=_PrintCompletion,
        choices=COMPLETION_SHELLS,
        metavar="SHELL",
        help=f"print a shell completion script ({', '.join(COMPLETION_SHELLS)}) and exit",
    )
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
    history.add_argument(
        "--search",
        "-s",
        metavar="QUERY",
        default="",
        help='full-text search: words, "phrases", prefix*, and tag:NAME -tag:NAME '
        'in:"COLLECTION" is:fav model:MODEL after:DATE before:DATE',
    )
    history.add_argument("--favorites", "-f", action="store_true", help="only starred prompts")
    history.add_argument("--model", help="only prompts generated with this model")
    history.add_argument("--order", choices=("recent", "uses"), default="recent")
    history.add_argument("--limit", "-n", type=_positive_int, default=20)
    history.add_argument(
        "--since", type=since_arg, metavar="DATE", help="only prompts last used on or after DATE"
    )
    history.add_argument(
        "--until", type=until_arg, metavar="DATE", help="only prompts last used up to DATE"
    )
    history.add_argument(
        "--family",
        type=_positive_int,
        metavar="ID",
        help="the versions of prompt ID: what it was made from and what was made from it, "
        "each with a word diff against its parent",
    )
    history.add_argument("--json", action="store_true", help="print JSON")
    history.add_argument(
        "--fold",
        action="store_true",
        help="near-duplicates folded: one line a family, its most-used prompt with (+N variants)",
    )

    favorite = sub.add_parser("favorite", help="star a prompt (or unstar it with --off)")
    favorite.add_argument("id", type=_positive_int, help="prompt id (see dalletui history)")
    favorite.add_argument("--off", action="store_true", help="remove the star")

    imp = sub.add_parser("import-prompts", help="add prompts from a text file (one a line, .gz ok)")
    imp.add_argument("file", type=Path)

    for extend in PARSER_EXTENSIONS:
        extend(sub)
    from dalletui.cli_examples import add_examples

    add_examples(parser)
    return parser


def completes_paths(action: argparse.Action) -> argparse.Action:
    """Complete file names for an argument that is not a ``Path`` yet may name a file
    (``IMAGE`` is a path or ``gen:ID``)."""
    action.completes_paths = True  # type: ignore[attr-defined]
    return action


#: Shells ``--print-completion`` writes a script for (through shtab).
COMPLETION_SHELLS = ("bash", "zsh", "tcsh")
#: Path arguments that name a folder (completed with folder names, not file names).
_FOLDER_ARGUMENTS = ("home", "out")


class _PrintCompletion(argparse.Action):
    """``--print-completion SHELL``: the completion script of the whole parser, then exit.

    shtab is imported only here, so that it costs nothing at start-up; it reads the parser as
    built, so commands added by extensions complete too, and path arguments complete file names.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=None, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        import shtab

        from dalletui.cli_examples import walk

        for _path, sub in [((), parser), *walk(parser)]:
            for action in sub._actions:
                if hasattr(action, "complete"):
                    continue
                if action.type is Path or getattr(action, "completes_paths", False):
                    folder = action.dest in _FOLDER_ARGUMENTS
                    action.complete = shtab.DIRECTORY if folder else shtab.FILE  # type: ignore[attr-defined]
        print(shtab.complete(parser, shell=str(values)))
        parser.exit(0)


#: Other modules add subcommands here (generation, templates, doctor) to keep this file small.
PARSER_EXTENSIONS: list[Callable[[Any], None]] = []


def _services(settings: Settings):  # noqa: ANN202 (import kept lazy for start-up time)
    from dalletui.services.context import open_services

    return open_services(settings, notice=say_on_terminal)


def say_on_terminal(text: str) -> None:
    """A sentence on stderr when it is a terminal (an upgrade under way); scripts see none."""
    if _is_tty(sys.stderr):
        print(f"dalletui: {printable(text, single_line=True)}", file=sys.stderr, flush=True)


@command("history")
def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "fold", False):
        return _history_folded(args, settings)
    services = _services(settings)
    try:
        if args.family is not None:
            from dalletui.commands_versions import print_family

            return print_family(services, args.family, as_json=args.json)
        prompts = services.history.find(
            args.search,
            favorites=args.favorites,
            model=args.model,
            order=args.order,
            limit=args.limit,
            since=args.since,
            until=args.until,
        )
        if args.json:
            rows = [{**p.to_dict(), "generation_count": p.generation_count} for p in prompts]
            print(dump_json(rows, indent=2))
            return 0
        if not prompts:
            print("No prompts found.", file=sys.stderr)
            return 0
        for p in prompts:
            last = p.last_used_at.strftime("%Y-%m-%d %H:%M")
            print(f"{p.id:>6} {p.star} {p.use_count:>4}× {last}  {_one_line(p.text)}")
        return 0
    finally:
        services.close()


def _history_folded(args: argparse.Namespace, settings: Settings) -> int:
    """``history --fold``: fold what is not folded yet, then list the families' heads."""
    filters = [args.search, args.favorites, args.model, args.since, args.until]
    if any(filters) or args.order != "recent":
        print(
            "dalletui: --fold lists every family, most used first; it does not combine with "
            "--search, --favorites, --model, --since, --until or --order.",
            file=sys.stderr,
        )
        return 2
    services = _services(settings)
    try:
        families = services.families
        if families.pending():
            say_on_terminal("folding near-duplicate prompts into families…")
            families.fold()
        heads = families.heads(limit=args.limit)
        if args.json:
            rows = [
                {
                    "id": h.head.id,
                    "text": h.head.text,
                    "is_favorite": h.head.is_favorite,
                    "use_count": h.head.use_count,
                    "last_used_at": h.head.last_used_at.isoformat(),
                    "variants": h.variants,
                }
                for h in heads
            ]
            print(dump_json(rows, indent=2))
            return 0
        if not heads:
            print("No prompts found.", file=sys.stderr)
            return 0
        for h in heads:
            p = h.head
            last = p.last_used_at.strftime("%Y-%m-%d %H:%M")
            more = f"  {h.label}" if h.variants else ""
            print(f"{p.id:>6} {p.star} {p.use_count:>4}× {last}  {_one_line(p.text)}{more}")
        summary = families.summary()
        print(summary.label(), file=sys.stderr)
        return 0
    finally:
        services.close()


def _one_line(text: str, width: int = 100) -> str:
    """Outside text on one line: no control character reaches the terminal."""
    from dalletui.formatting import shorten

    return shorten(printable(text, single_line=True), width)


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
    # One updating line on a terminal only: a script reading stderr gets no carriage returns.
    status = ProgressLine(sys.stderr) if _is_tty(sys.stderr) else None
    try:
        summary = services.history.import_file(args.file, progress=status)
    except KeyboardInterrupt:
        if status is not None:
            status.clear()
        print("dalletui: import interrupted; nothing was imported.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if status is not None:
            status.clear()
        services.close()
    line = (
        f"Imported {summary.lines:,} lines from {_one_line(str(args.file), 200)}: "
        f"{summary.added:,} new prompts, "
        f"{summary.bumped:,} already in history"
    )
    if summary.already_counted:
        line += f" ({summary.already_counted:,} counted by an earlier import, left alone)"
    if summary.cleaned:
        line += f", {summary.cleaned:,} cleaned of control characters"
    if summary.blank:
        line += f"; {summary.blank:,} blank lines skipped"
    print(line + ".")
    return 0


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # replaced or closed
        return False


class ProgressLine:
    """An import's progress as one line on a terminal, rewritten in place with ``\\r``.

    Only numbers and fixed words are written (never text from the file), padded with spaces
    over the previous line instead of terminal escapes; ``clear`` blanks it.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.width = 0
        utf = "utf" in str(getattr(stream, "encoding", "") or "").lower()
        self.more, self.dot = ("…", "·") if utf else ("...", "-")  # a non-UTF-8 terminal

    def __call__(self, update: ImportProgress) -> None:
        more, dot = self.more, self.dot
        if update.phase == "checking":
            text = f"Checking{more} {update.lines:,} lines"
        elif update.phase == "reading":
            text = f"Importing{more} {update.lines:,} lines"
        else:
            text = f"Importing{more} {update.lines:,} lines {dot} {update.added:,} new prompts"
        self._write("\r" + text.ljust(self.width))
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            self._write("\r" + " " * self.width + "\r")
            self.width = 0

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()


def run_tui(settings: Settings) -> int:
    from dalletui.tui.launch import launch

    return launch(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status.

    Every failure ends as one line on stderr and a non-zero status: argparse's usage errors
    (``SystemExit(2)``, as argparse does), ``DalleTuiError`` (1), and, as a last resort, any
    other exception ("internal error", its traceback written to the log file instead).
    """
    _robust_output()
    arguments = list(sys.argv[1:] if argv is None else argv)
    refusal = _refuse_arguments(arguments)
    if refusal:
        print(f"dalletui: error: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    settings: Settings | None = None
    try:
        _load_extensions()
        parser = build_parser()
        args = parser.parse_args(arguments)
        _log_to(None, args.verbose)
        settings = load_settings(home=args.home, config_path=args.config)
        settings = settings.with_overrides(graphics=args.graphics)
        if args.command is None:
            # Anything written to stderr would tear through the TUI: log to a file instead.
            _log_to(settings.home / "dalletui.log", args.verbose)
            return run_tui(settings)
        return COMMANDS[args.command](args, settings)
    except DalleTuiError as exc:
        message = printable(printable_message(exc), single_line=True)
        print(f"dalletui: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("dalletui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort: a line, not a traceback
        return _internal_error(exc, arguments, settings)


#: Starts the one line printed for an unexpected exception; tests assert it never appears.
INTERNAL_ERROR = "dalletui: internal error:"


def _internal_error(exc: BaseException, arguments: list[str], settings: Settings | None) -> int:
    """Write the traceback to the log file and print one line saying where it is."""
    import datetime
    import tempfile
    import traceback

    from dalletui.textsafe import redact_secrets

    secrets = [settings.api_key] if settings is not None else []
    folder = settings.home if settings is not None else Path(tempfile.gettempdir())
    log_path = folder / "dalletui.log"
    details = "".join(traceback.format_exception(exc))
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    entry = f"{stamp} internal error in: dalletui {' '.join(arguments)}\n{details}\n"
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(redact_secrets(entry, secrets))
        where = f"details in {log_path}"
    except OSError as write_error:
        where = f"the details could not be written to {log_path} ({write_error.strerror})"
    where = printable(where, single_line=True)
    summary = _shown(redact_secrets(f"{type(exc).__name__}: {exc}", secrets), 200)
    print(f"{INTERNAL_ERROR} {summary}; {where}", file=sys.stderr)
    return EXIT_ERROR


def _refuse_arguments(arguments: Sequence[str]) -> str | None:
    """A sentence refusing the first argument no command line could mean, or None.

    Argument bytes that are not UTF-8 reach Python as lone surrogates (``\\udcff`` for byte
    0xff); they cannot be stored, searched for or sent, so they are refused before anything is
    opened, with the bytes shown as ``\\xff``.
    """
    for argument in arguments:
        if not isinstance(argument, str):
            return f"argument {argument!r} is not text"
        if "\x00" in argument:
            return f"argument '{_shown(argument, 60)}' holds a NUL character"
        if any("\ud800" <= char <= "\udfff" for char in argument):
            shown = "".join(
                f"\\x{ord(c) - 0xDC00:02x}"
                if "\udc80" <= c <= "\udcff"
                else f"\\u{ord(c):04x}"
                if "\ud800" <= c <= "\udfff"
                else c
                for c in argument
            )
            return f"argument '{_shown(shown, 60)}' is not valid UTF-8 text"
    return None


def _robust_output() -> None:
    """Printing never raises for a character the terminal's encoding lacks (a non-UTF-8 locale):
    stdout shows it as '?', stderr as a backslash escape."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):  # a replaced stream (tests, pipes) may refuse
                reconfigure(errors=errors)


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
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _load_extensions() -> None:
    """Import the modules that add subcommands (each registers itself once)."""
    import importlib

    for module in (
        "dalletui.commands",
        "dalletui.commands_usage",
        "dalletui.doctor",
        "dalletui.commands_trash",
        "dalletui.commands_images",
        "dalletui.commands_batch",
        "dalletui.commands_exchange",
        "dalletui.commands_templates",
        "dalletui.commands_edit",
        "dalletui.commands_organize",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


if __name__ == "__main__":
    # Run the canonical module: extensions register into ``dalletui.cli``, not ``__main__``.
    from dalletui.cli import main as _main

    sys.exit(_main())
