"""``dalletui batch``: many prompts as one batch, with the count and estimate before anything.

``batch run`` plans a batch (a template's expansions, a text with placeholders or ``{a|b}``
alternatives, a prompts file, one prompt repeated), shows how many prompts and images it holds
and what they may cost, asks for ``--yes`` above the confirmation thresholds, then sends it with
bounded concurrency and live progress. ``list``, ``show``, ``resume``, ``retry`` and ``cancel``
work on stored batches. Registered into ``dalletui.cli``.

Streams: stdout gets what a command produces (the plan, the dry run's prompts, tables, the final
summary; with ``--json`` only JSON, one event a line while a batch runs); stderr gets what happens
along the way (the progress bar, waits, stop reasons, warnings, errors). Outside text (prompts,
names, server messages) goes through ``dalletui.textsafe`` and never as rich markup.

Exit status of ``run``, ``resume`` and ``retry``: 0 when the batch completed and every prompt
made its images; 1 otherwise (paused, cancelled, failed prompts, possibly billed prompts, or an
error before anything was sent); 2 for a usage error; 130 when forced to quit (ctrl+c thrice).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalletui.cli import (
    EXIT_INTERRUPTED,
    MAX_INT64,
    MIN_INT64,
    PARSER_EXTENSIONS,
    _positive_int,
    command,
    int_between,
)
from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.formatting import shorten
from dalletui.textsafe import dump_json, printable, printable_message

if TYPE_CHECKING:
    from dalletui.services.batch_plan import BatchPlan
    from dalletui.services.batches import BatchEvent, BatchProgress
    from dalletui.services.context import Services
    from dalletui.storage.models import Batch, BatchItem, Generation

EXIT_COMPLETE = 0
EXIT_INCOMPLETE = 1
#: The most requests in flight a flag may ask for (the ``batch_concurrency`` setting's bound).
MAX_CONCURRENCY = 32
#: The most times ``--repeat`` may repeat (``batch_plan.MAX_REPEAT``; kept here so that the
#: parser does not import the planner at start-up).
MAX_REPEAT = 10_000


def _add_parsers(sub: Any) -> None:
    batch = sub.add_parser(
        "batch", help="run many prompts as one batch: a template's expansions, a file, a repeat"
    )
    actions = batch.add_subparsers(dest="batch_command", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run", help="plan a batch, show its count and estimate, then send it (see --dry-run)"
    )
    run.add_argument(
        "target",
        nargs="?",
        metavar="TEMPLATE|TEXT",
        help="a template's name, or a prompt text with {name} placeholders or {a|b} choices",
    )
    run.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="values of a placeholder for this run (repeatable; \\, is a comma in a value)",
    )
    run.add_argument("--mode", help="product (every combination, default), zip, or sample:K")
    run.add_argument(
        "--seed",
        type=int_between(MIN_INT64, MAX_INT64),
        help="seed of sample:K (the same seed draws the same prompts)",
    )
    run.add_argument("--file", type=Path, help="a prompts file, one prompt a line (.gz accepted)")
    run.add_argument(
        "--repeat", type=int_between(1, MAX_REPEAT), help="send the prompts this many times"
    )
    run.add_argument("--model", "-m", help="model name (see dalletui models)")
    run.add_argument("--size", "-s", help="WIDTHxHEIGHT or auto")
    run.add_argument("--quality", "-q", help="low, medium, high, auto (model dependent)")
    run.add_argument("-n", type=int_between(1, 10), help="images per prompt (1-10)")
    run.add_argument("--format", "-f", dest="output_format", help="png, jpeg or webp")
    run.add_argument("--background", help="auto, opaque or transparent")
    run.add_argument(
        "--provider", "-p", choices=("openai", "offline"), help="default: openai if a key is set"
    )
    _add_concurrency(run)
    run.add_argument(
        "--dry-run", action="store_true", help="print every prompt and the estimate; send nothing"
    )
    run.add_argument(
        "--yes", "-y", action="store_true", help="send without asking, even above the thresholds"
    )
    run.add_argument("--json", action="store_true", help="print JSON (events as JSON Lines)")

    listing = actions.add_parser("list", help="batches, newest first, with their progress")
    listing.add_argument("--json", action="store_true", help="print JSON")

    show = actions.add_parser("show", help="one batch: its source, parameters, spend and prompts")
    show.add_argument("id", type=_positive_int, help="batch id (see dalletui batch list)")
    show.add_argument("--json", action="store_true", help="print JSON")

    resume = actions.add_parser(
        "resume", help="send the prompts of a batch never sent (after a pause, cancel or crash)"
    )
    resume.add_argument("id", type=_positive_int, help="batch id (see dalletui batch list)")
    resume.add_argument(
        "--rerun-interrupted",
        action="store_true",
        help="also send again the prompts in flight when it stopped (they may be billed twice)",
    )
    _add_concurrency(resume)
    resume.add_argument("--json", action="store_true", help="print events as JSON Lines")

    retry = actions.add_parser("retry", help="send the failed prompts of a batch again")
    retry.add_argument("id", type=_positive_int, help="batch id (see dalletui batch list)")
    _add_concurrency(retry)
    retry.add_argument("--json", action="store_true", help="print events as JSON Lines")

    cancel = actions.add_parser(
        "cancel", help="stop a batch: no new requests (in-flight ones finish where it runs)"
    )
    cancel.add_argument("id", type=_positive_int, help="batch id (see dalletui batch list)")
    cancel.add_argument(
        "--cancel-in-flight",
        action="store_true",
        help="also cancel the requests in flight (they may be billed all the same)",
    )


def _add_concurrency(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        "-c",
        type=int_between(1, MAX_CONCURRENCY),
        help=f"requests in flight at once, 1-{MAX_CONCURRENCY} (default: the batch_concurrency "
        "setting, 4)",
    )


PARSER_EXTENSIONS.append(_add_parsers)


@command("batch")
def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "run": _cmd_run,
        "list": _cmd_list,
        "show": _cmd_show,
        "resume": _cmd_resume,
        "retry": _cmd_retry,
        "cancel": _cmd_cancel,
    }
    return handlers[args.batch_command](args, settings)


def _open(settings: Settings) -> Services:
    from dalletui.services.context import open_services  # lazy: start-up time

    return open_services(settings)


def _get_batch(services: Services, batch_id: int) -> Batch:
    """The batch, or a NotFoundError that names the command listing them."""
    from dalletui.errors import NotFoundError

    try:
        return services.batches.get(batch_id)
    except NotFoundError:
        raise NotFoundError(
            f"No batch #{batch_id}; `dalletui batch list` shows the batches there are."
        ) from None


# -- text helpers -------------------------------------------------------------------------------


def _line(text: object, width: int | None = None) -> str:
    """Outside text on one line, safe for the terminal (and shortened to ``width``)."""
    flat = printable(str(text), single_line=True)
    return shorten(flat, width) if width else flat


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        _err(f"warning: {_line(warning)}")


def _request_line(params: dict[str, Any]) -> str:
    """``gpt-image-1-mini · 1024x1024 · quality low · png`` from a request's fields."""
    parts = [str(params.get("model", "?")), str(params.get("size", "?"))]
    parts.append(f"quality {params.get('quality', 'auto')}")
    parts.append(str(params.get("output_format", "png")))
    if params.get("background") not in (None, "auto"):
        parts.append(f"background {params['background']}")
    if params.get("provider"):
        parts.append(str(params["provider"]))
    return _line(" · ".join(parts))


def _mode_text(mode: str, seed: int | None) -> str:
    if seed is not None and mode.startswith("sample"):
        return f"mode {mode}, seed {seed}"
    return f"mode {mode}"


def _plan_line(plan: BatchPlan) -> str:
    """``"zoo": 12 prompts, 12 images (gpt-image-1-mini · ...) · estimate $0.48 · mode product``."""
    images = _plural(plan.images, "image")
    if plan.request.n > 1:
        images += f" ({plan.request.n} a prompt)"
    params = {k: v for k, v in plan.request.params().items() if k != "prompt"}
    return (
        f'"{_line(plan.name, 60)}": {_plural(plan.count, "prompt")}, {images} '
        f"({_request_line(params)}) · estimate {_line(plan.estimate.describe())} · "
        f"{_mode_text(plan.mode, plan.seed)}"
    )


# -- batch run ----------------------------------------------------------------------------------


def _plan_request(args: argparse.Namespace, default: Any) -> Any:
    """The settings' request with the flags given on the command line."""
    import dataclasses

    changes = {
        key: value
        for key, value in (
            ("model", args.model),
            ("size", args.size),
            ("quality", args.quality),
            ("n", args.n),
            ("output_format", args.output_format),
            ("background", args.background),
        )
        if value is not None
    }
    return dataclasses.replace(default, **changes)


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.batch_plan import confirm_question, parse_vars

    if args.provider:
        settings = settings.with_overrides(provider=args.provider)
    services = _open(settings)
    try:
        variables = parse_vars(args.var) if args.var else None
        planner = services.batches.planner()
        plan = planner.plan(
            args.target,
            variables=variables,
            mode=args.mode,
            seed=args.seed,
            file=args.file,
            repeat=args.repeat,
            request=_plan_request(args, planner.default_request()),
        )
        question = confirm_question(plan, settings, services.usage.this_month().cost)
        if args.dry_run:
            _print_dry_run(plan, question, as_json=args.json)
            return EXIT_COMPLETE
        # A missing or unusable key is said before anything is stored.
        services.generation.provider()
        if not args.json:
            print(_plan_line(plan), flush=True)
        if question and not args.yes:
            if not _asked(question, plan.warnings):
                return EXIT_INCOMPLETE
        else:
            _warn(plan.warnings)
        batch = services.batches.create(plan, concurrency=args.concurrency)
        if args.json:
            _print_json(
                {
                    "event": "planned",
                    "batch": batch.id,
                    "plan": plan.to_dict(with_items=False),
                }
            )
        else:
            print(
                f"Batch #{batch.id} created; sending {_plural(plan.count, 'prompt')} "
                f"({_concurrency_text(batch.concurrency)}). ctrl+c pauses it.",
                flush=True,
            )
        return _execute(services, batch.id, args, warned=plan.warnings)
    finally:
        services.close()


def _concurrency_text(concurrency: int | None) -> str:
    return f"{concurrency or 4} at a time"


def _asked(question: str, warnings: Sequence[str]) -> bool:
    """Ask ``question`` at a terminal; refuse (raising the sentence) in a script."""
    if not sys.stdin.isatty():
        raise ValidationError(
            f"{question} Add --yes to send it (or --dry-run to see every prompt first). "
            "Nothing was sent."
        )
    _warn(warnings)
    print(f"{_line(question)} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        _err("Nothing was sent.")
        return False
    return True


def _print_dry_run(plan: BatchPlan, question: str | None, *, as_json: bool) -> None:
    if as_json:
        print(dump_json({**plan.to_dict(), "dry_run": True, "question": question}, indent=2))
        return
    _warn(plan.warnings)
    width = len(str(plan.count))
    for number, item in enumerate(plan.items, start=1):
        print(f"{number:>{width}}  {_line(item.text)}")
    print(_plan_line(plan))
    if plan.seed is not None and plan.mode.startswith("sample"):
        print(f"Pass --seed {plan.seed} to send these same prompts.")
    if question:
        print(f"Sending it asks first (or needs --yes): {_line(question)}")
    print("Dry run: nothing was sent and no batch was created.")


# -- running (run, resume, retry) ---------------------------------------------------------------


def _execute(
    services: Services,
    batch_id: int,
    args: argparse.Namespace,
    *,
    resent: list[BatchItem] | None = None,
    resent_label: Callable[[int], str] | None = None,
    rerun_interrupted: bool = False,
    only_failed: bool = False,
    warned: Sequence[str] = (),
) -> int:
    """Run a stored batch with progress on stderr (or JSON Lines); the summary; the exit code.

    Before anything is sent the display lists the items that may have been billed and stay
    unsent, and ``resent``: the items sent again at the user's word (under ``resent_label(n)``).
    ``warned``: warnings already printed (the generation service logs them again, per prompt).
    """
    display: _Display = _JsonDisplay(batch_id) if args.json else _HumanDisplay(services, batch_id)
    display.resent = resent or []
    if resent_label is not None:
        display.resent_label = resent_label
    ctrl_c = _CtrlC(batch_id, display)
    ctrl_c.install()
    try:
        progress = asyncio.run(
            _drive(
                services,
                batch_id,
                display,
                ctrl_c,
                concurrency=getattr(args, "concurrency", None),
                rerun_interrupted=rerun_interrupted,
                only_failed=only_failed,
                warned=warned,
            )
        )
        code = _exit_code(progress)
    except asyncio.CancelledError:
        # A third ctrl+c: the runner has paused the batch and settled what was in flight.
        progress = services.batches.progress(batch_id)
        code = EXIT_INTERRUPTED
    finally:
        ctrl_c.restore()
        display.close()
    if not args.json:
        _print_summary(progress)
    return code


def _exit_code(progress: BatchProgress) -> int:
    """0 when every prompt of the batch made its images, else 1.

    By the counts rather than the status: a pause that came while the last requests were in
    flight leaves a batch whose every prompt succeeded marked ``paused``.
    """
    complete = progress.total > 0 and progress.done == progress.total
    return EXIT_COMPLETE if complete else EXIT_INCOMPLETE


class _CtrlC:
    """ctrl+c while a batch runs: pause (in-flight requests finish), then cancel the requests
    in flight (possibly billed), then quit.

    A plain ``signal.signal`` handler that hands each press to the event loop: unlike
    ``loop.add_signal_handler`` it stays in place until the loop is closed, so a press while
    the run winds down is not turned into a stray ``KeyboardInterrupt`` or a cancelled task.
    """

    def __init__(self, batch_id: int, display: _Display) -> None:
        self.batch_id = batch_id
        self.display = display
        self.presses = 0
        self.control: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main: asyncio.Task[Any] | None = None
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_signal)
        except (ValueError, OSError):  # not the main thread: ctrl+c stays Python's
            return
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            self._installed = False
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGINT, self._previous)

    def attach(self, control: Any) -> None:
        """Called on the loop, before the run starts."""
        self.control = control
        self.loop = asyncio.get_running_loop()
        self.main = asyncio.current_task()

    def _on_signal(self, signum: int, frame: Any) -> None:
        loop = self.loop
        if loop is None:
            raise KeyboardInterrupt  # nothing runs yet: ctrl+c as everywhere else
        with contextlib.suppress(RuntimeError):  # the loop has closed: the run is over
            loop.call_soon_threadsafe(self._press)

    def _press(self) -> None:
        display, batch_id, control = self.display, self.batch_id, self.control
        if display.finished or control is None:
            return  # the run is over; what is left is closing the connections
        self.presses += 1
        if self.presses == 1:
            control.stop("paused", reason="Paused with ctrl+c.")
            display.note(
                f"Pausing batch #{batch_id}: no new request is sent and the requests in flight "
                f"finish. `dalletui batch resume {batch_id}` continues it later. Press ctrl+c "
                "again to cancel the requests in flight (they may be billed all the same)."
            )
        elif self.presses == 2:
            control.stop("paused", in_flight="cancel", reason="Paused with ctrl+c.")
            display.note(
                "Cancelling the requests in flight: the API may bill them without an image, so "
                "they are recorded as possibly billed and are not sent again unless you run "
                f"`dalletui batch resume {batch_id} --rerun-interrupted`."
            )
        elif self.main is not None:
            display.note("Quitting now.")
            self.main.cancel()


async def _drive(
    services: Services,
    batch_id: int,
    display: _Display,
    ctrl_c: _CtrlC,
    *,
    concurrency: int | None,
    rerun_interrupted: bool,
    only_failed: bool,
    warned: Sequence[str],
) -> BatchProgress:
    """``BatchService.run`` with the display's events and ctrl+c."""
    from dalletui.services.batches import BatchControl

    control = BatchControl()
    display.control = control
    ctrl_c.attach(control)
    try:
        with _log_through(display, warned):
            return await services.batches.run(
                batch_id,
                concurrency=concurrency,
                on_event=display.on_event,
                rerun_interrupted=rerun_interrupted,
                only_failed=only_failed,
                control=control,
            )
    finally:
        await services.generation.aclose()


@contextlib.contextmanager
def _log_through(display: _Display, warned: Sequence[str] = ()) -> Iterator[None]:
    """While a batch runs, log lines go through the display (above the bar), each once.

    The generation service logs a request's warnings for every prompt: a batch of 500 would
    print the same line 500 times. ``warned``: warnings already printed, not logged again.
    """
    root = logging.getLogger()

    def once_each() -> Callable[[logging.LogRecord], bool]:
        seen = {f"{logging.WARNING}:{warning}" for warning in warned}

        def once(record: logging.LogRecord) -> bool:
            key = f"{record.levelno}:{record.getMessage()}"
            if key in seen:
                return False
            seen.add(key)
            return True

        return once

    filtered: list[tuple[logging.Handler, Callable[[logging.LogRecord], bool]]] = []
    swapped: list[tuple[logging.Handler, logging.Handler]] = []
    for handler in list(root.handlers):
        once = once_each()
        handler.addFilter(once)
        filtered.append((handler, once))
        console = display.log_handler(handler)
        if console is not None:
            root.removeHandler(handler)
            root.addHandler(console)
            swapped.append((handler, console))
    try:
        yield
    finally:
        for handler, console in swapped:
            root.removeHandler(console)
            root.addHandler(handler)
        for handler, once in filtered:
            handler.removeFilter(once)


class _Display:
    """Shows a running batch; ``on_event`` is called on the event loop for every event."""

    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
        self.control: Any = None
        self.resent: list[BatchItem] = []
        self.resent_label: Callable[[int], str] = lambda count: "Sending again"
        self.finished = False
        self._stop_said = False

    def on_event(self, event: BatchEvent) -> None:
        if event.kind == "finished":
            self.finished = True
        self.show(event)

    def show(self, event: BatchEvent) -> None:
        raise NotImplementedError

    def note(self, text: str) -> None:
        """A line about the run (ctrl+c, a wait): on stderr, above any progress bar."""
        _err(text)

    def log_handler(self, handler: logging.Handler) -> logging.Handler | None:
        """A handler to use in place of ``handler`` while the batch runs (None: keep it)."""
        return None

    def close(self) -> None:
        """Stop any live display (idempotent)."""


class _JsonDisplay(_Display):
    """JSON Lines on stdout: ``BatchEvent.to_dict()``, one per line, flushed."""

    def show(self, event: BatchEvent) -> None:
        if not _print_json(event.to_dict()) and self.control is not None and not self._stop_said:
            # Nobody reads the events any more (a closed pipe): stop paying for prompts.
            self._stop_said = True
            self.control.stop("paused", reason="The reader of the --json events went away.")


def _print_json(data: dict[str, Any]) -> bool:
    """One JSON line on stdout; False when stdout is gone (a closed pipe)."""
    try:
        sys.stdout.write(dump_json(data) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        return False
    return True


class _HumanDisplay(_Display):
    """A rich progress bar on a terminal's stderr; plain lines when stderr is not a terminal."""

    def __init__(self, services: Services, batch_id: int) -> None:
        super().__init__(batch_id)
        self.services = services
        self.progress_bar: Any = None
        self.task: Any = None
        self.console: Any = None
        self._texts: dict[int, str] = {}
        self._stopped = False
        if sys.stderr.isatty() and not _dumb_terminal():
            from rich.console import Console

            self.console = Console(file=sys.stderr, highlight=False, emoji=False, markup=False)

    # -- lines --------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        if self.console is not None and not self._stopped:
            from rich.text import Text

            self.console.print(Text(printable(text, single_line=True)), soft_wrap=True)
        else:
            _err(printable(text, single_line=True))

    def log_handler(self, handler: logging.Handler) -> logging.Handler | None:
        stream = getattr(handler, "stream", None)
        if self.console is None or stream not in (sys.stderr, sys.__stderr__):
            return None
        return _NoteHandler(self, handler)

    # -- events -------------------------------------------------------------------------------

    def show(self, event: BatchEvent) -> None:
        kind = event.kind
        progress = event.progress
        if kind == "started":
            self._list_items()
            self._start(progress)
            if self.console is None:  # a line an item: its prompt, read once here
                items = self.services.batches.items(self.batch_id)
                self._texts = {item.id: item.text for item in items}
        elif kind == "item_finished":
            self._item_finished(event)
        elif kind == "waiting" and event.message:
            where = f"Prompt {event.position + 1}: " if event.position is not None else ""
            self.note(f"{where}{event.message}")
        elif kind == "stopping" and not self._stop_said:
            self._stop_said = True
            self.note(f"Stopping batch #{self.batch_id}: {event.message or 'stopped.'}")
        if kind == "finished":
            self._update(progress)
            self.close()
        else:
            self._update(progress)

    def _list_items(self) -> None:
        """When the run begins: the prompts that may have been billed and are held back (their
        statuses, which this run does not change), and those sent again at the user's word (as
        they were before the run, since the run may already be sending them)."""
        _print_held(self.services, self.batch_id, "will not be sent again")
        resent = self.resent
        if resent:
            print(f"{self.resent_label(len(resent))}:")
            _print_items(resent, self.services.db.item_generations([i.id for i in resent]))
        sys.stdout.flush()

    def _start(self, progress: BatchProgress) -> None:
        if self.console is None:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress_bar = Progress(
            TextColumn(f"Batch #{self.batch_id}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.progress_bar.add_task(
            "batch", total=max(progress.total, 1), completed=progress.settled, detail=""
        )
        self.progress_bar.start()

    def _update(self, progress: BatchProgress) -> None:
        if self.progress_bar is None or self._stopped:
            return
        self.progress_bar.update(
            self.task,
            total=max(progress.total, 1),
            completed=progress.settled,
            detail=_line(progress.describe()),
        )

    def _item_finished(self, event: BatchEvent) -> None:
        status = event.status
        number = (event.position or 0) + 1
        message = _line(printable_message(event.message), 200) if event.message else ""
        if status in ("failed", "possibly_billed", "interrupted"):
            reason = f": {message}" if message else ""
            self.note(f"Prompt {number} {_status_word(status)}{reason}")
        elif status == "planned" or status is None:
            # Back in the queue (a refusal that surely was not billed), or not sent at all.
            if message:
                later = "; it will be sent later" if status == "planned" else ""
                self.note(f"Prompt {number}: {message}{later}")
        elif self.console is None:
            text = self._item_text(event.item_id)
            self.note(
                f"Prompt {number} of {event.progress.total} {_status_word(status)}"
                + (f": {text}" if text else "")
            )

    def _item_text(self, item_id: int | None) -> str:
        text = self._texts.get(item_id) if item_id is not None else None
        return _line(text, 70) if text else ""

    def close(self) -> None:
        if self.progress_bar is not None and not self._stopped:
            self._stopped = True
            self.progress_bar.stop()


class _NoteHandler(logging.Handler):
    """A log handler that prints through a display (above the progress bar)."""

    def __init__(self, display: _HumanDisplay, original: logging.Handler) -> None:
        super().__init__(original.level)
        self.display = display
        self.setFormatter(original.formatter)
        for kept in original.filters:
            self.addFilter(kept)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.note(self.format(record))
        except Exception:  # noqa: BLE001 (logging must never stop a batch)
            self.handleError(record)


def _dumb_terminal() -> bool:
    import os

    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


_STATUS_WORDS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "possibly_billed": "possibly billed",
    "interrupted": "interrupted (possibly billed)",
    "planned": "never sent",
    "running": "in flight",
}


def _status_word(status: str) -> str:
    return _STATUS_WORDS.get(status, status)


def _print_summary(progress: BatchProgress) -> None:
    """The last lines: id, status, counts, spend, time, why it stopped, what to do next."""
    batch_id = progress.batch_id
    took = f" in {_seconds(progress.elapsed)}" if progress.elapsed else ""
    print(f"Batch #{batch_id} {progress.status}{took}: {_line(progress.describe())}.")
    if progress.stop_reason and progress.status != "completed":
        print(f"Why: {_line(printable_message(progress.stop_reason))}")
    for hint in _hints(progress):
        print(hint)
    sys.stdout.flush()


def _seconds(seconds: float | None) -> str:
    from dalletui.generation.retry import format_seconds

    return format_seconds(seconds or 0.0)


def _hints(progress: BatchProgress) -> list[str]:
    """What the user can do next, from the counts."""
    batch_id = progress.batch_id
    hints: list[str] = []
    if progress.remaining and progress.status != "running":
        hints.append(
            f"`dalletui batch resume {batch_id}` sends the "
            f"{_plural(progress.remaining, 'prompt')} never sent."
        )
    if progress.failed:
        hints.append(
            f"`dalletui batch retry {batch_id}` sends the "
            f"{_plural(progress.failed, 'failed prompt')} again."
        )
    if progress.maybe_billed:
        hints.append(
            f"{_plural(progress.maybe_billed, 'prompt')} may have been billed without an image; "
            f"`dalletui batch resume {batch_id} --rerun-interrupted` sends them again (and they "
            "may then be billed twice)."
        )
    return hints


# -- batch resume / retry -----------------------------------------------------------------------


def _print_held(services: Services, batch_id: int, fate: str) -> None:
    """List (on stdout) the prompts that may have been billed without an image."""
    from dalletui.services.batches import MAYBE_BILLED  # loaded with the services

    held = services.batches.items(batch_id, MAYBE_BILLED)
    if not held:
        return
    print(
        f"{_plural(len(held), 'prompt')} of batch #{batch_id} may have been billed without an "
        f"image (in flight when it stopped, or cancelled in flight) and {fate}; "
        f"`dalletui batch resume {batch_id} --rerun-interrupted` sends them:"
    )
    _print_items(held, services.db.item_generations([item.id for item in held]))


def _cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    services = _open(settings)
    try:
        _get_batch(services, args.id)
        resent: list[BatchItem] = []
        if args.rerun_interrupted:
            resent = _maybe_billed_items(services, args.id)
        try:
            return _execute(
                services,
                args.id,
                args,
                resent=resent,
                resent_label=lambda count: (
                    f"Sending again {_plural(count, 'prompt')} that may have been billed already "
                    "(you asked, with --rerun-interrupted)"
                ),
                rerun_interrupted=args.rerun_interrupted,
            )
        except ValidationError:
            # Refused before anything was sent (nothing left, running elsewhere): still list
            # what is held back, as the refusal only counts it.
            if not args.json and not args.rerun_interrupted:
                with contextlib.suppress(Exception):
                    _print_held(services, args.id, "are not sent again")
            raise
    finally:
        services.close()


def _maybe_billed_items(services: Services, batch_id: int) -> list[BatchItem]:
    """Items that may have been billed, and items still marked in flight although no live
    process runs the batch (the runner settles those first: they were in flight when it died)."""
    batch = _get_batch(services, batch_id)
    from dalletui.services.batches import MAYBE_BILLED  # loaded with the services

    statuses = list(MAYBE_BILLED)
    if services.batches.owner_elsewhere(batch) is None:
        statuses.append("running")
    return services.batches.items(batch_id, statuses)


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    services = _open(settings)
    try:
        _get_batch(services, args.id)
        failed = services.batches.items(args.id, ["failed"])
        return _execute(
            services,
            args.id,
            args,
            resent=failed,
            resent_label=lambda count: f"Sending again {_plural(count, 'failed prompt')}",
            only_failed=True,
        )
    finally:
        services.close()


# -- batch cancel -------------------------------------------------------------------------------


def _cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    services = _open(settings)
    try:
        batch = _get_batch(services, args.id)
        owner = services.batches.owner_elsewhere(batch)
        if args.cancel_in_flight:
            services.batches.cancel(args.id, in_flight="cancel")
        else:
            services.batches.cancel(args.id)
        progress = services.batches.progress(args.id)
    finally:
        services.close()
    if owner is not None and args.cancel_in_flight:
        print(
            f"Batch #{args.id} cancelled: dalletui process {owner} sends no new request and "
            "cancels the requests it has in flight; the API may bill those all the same, so "
            "they are recorded as possibly billed."
        )
    elif owner is not None:
        print(
            f"Batch #{args.id} cancelled: dalletui process {owner} sends no new request; the "
            "requests it has in flight finish there and are recorded."
        )
    else:
        print(f"Batch #{args.id} cancelled; no dalletui was running it.")
    if progress.remaining:
        print(
            f"`dalletui batch resume {args.id}` would still send its "
            f"{_plural(progress.remaining, 'prompt')} never sent."
        )
    return 0


# -- batch list / show --------------------------------------------------------------------------


def _state(services: Services, batch: Batch) -> str:
    """The batch's status, saying when a 'running' batch's process is gone or elsewhere."""
    if batch.status != "running":
        return batch.status
    owner = services.batches.owner_elsewhere(batch)
    if owner is not None:
        return f"running (process {owner})"
    return "interrupted"


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    services = _open(settings)
    try:
        batches = services.batches.list()
        progress = services.batches.progress_many(batches)
        states = {batch.id: _state(services, batch) for batch in batches}
    finally:
        services.close()
    if args.json:
        rows = [
            {
                **_batch_json(batch),
                "state": states[batch.id],
                "progress": progress[batch.id].to_dict(),
            }
            for batch in batches
        ]
        print(dump_json(rows, indent=2))
        return 0
    if not batches:
        print("No batches yet; `dalletui batch run TEMPLATE --dry-run` plans one.", file=sys.stderr)
        return 0
    for batch in batches:
        p = progress[batch.id]
        created = batch.created_at.strftime("%Y-%m-%d %H:%M") if batch.created_at else "-"
        counts = f"{p.done}/{p.total}"
        extra = []
        if p.failed:
            extra.append(f"{p.failed} failed")
        if p.maybe_billed:
            extra.append(f"{p.maybe_billed} possibly billed")
        if p.remaining:
            extra.append(f"{p.remaining} left")
        tail = f" ({', '.join(extra)})" if extra else ""
        print(
            f"{batch.id:>5}  {states[batch.id]:<11} {counts:>11} {p.spend_display():>9}  "
            f"{created}  {_line(batch.name, 60)}{tail}"
        )
    return 0


def _batch_json(batch: Batch) -> dict[str, Any]:
    return batch.to_dict()


def _cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    services = _open(settings)
    try:
        batch = _get_batch(services, args.id)
        progress = services.batches.progress(args.id)
        state = _state(services, batch)
        items = services.batches.items(args.id)
        rows = services.db.item_generations([item.id for item in items])
    finally:
        services.close()
    if args.json:
        print(
            dump_json(
                {
                    "batch": _batch_json(batch),
                    "state": state,
                    "progress": progress.to_dict(),
                    "items": [_item_json(item, rows.get(item.id, [])) for item in items],
                },
                indent=2,
            )
        )
        return 0
    _print_batch(batch, state, progress)
    print("Prompts:")
    _print_items(items, rows)
    from dalletui.services.batches import MAYBE_BILLED  # loaded with the services

    maybe = [item for item in items if item.status in MAYBE_BILLED]
    stale = [item for item in items if item.status == "running"]
    if maybe:
        print(
            f"\n{_plural(len(maybe), 'prompt')} may have been billed without an image; they are "
            f"sent again only with `dalletui batch resume {batch.id} --rerun-interrupted`:"
        )
        _print_items(maybe, rows)
    if stale and not state.startswith("running ("):
        print(
            f"\n{_plural(len(stale), 'prompt')} still marked in flight although no dalletui runs "
            f"the batch (its process ended while they were sent; they may have been billed). "
            f"`dalletui batch resume {batch.id}` settles them first and sends them again only "
            "with --rerun-interrupted:"
        )
        _print_items(stale, rows)
    hints = _hints(progress)
    if hints and not state.startswith("running ("):
        print()
        for hint in hints:
            print(hint)
    return 0


def _print_batch(batch: Batch, state: str, progress: BatchProgress) -> None:
    params = dict(batch.params or {})
    n = params.get("n", 1)
    print(f"Batch #{batch.id} · {state} · {_line(batch.name, 80)}")
    source = f"{batch.source}"
    if batch.template_id is not None:
        source += f" (template #{batch.template_id})"
    print(f"  source:      {source} · {_mode_text(batch.mode, batch.seed)}")
    if batch.body:
        print(f"  {'file' if batch.source == 'file' else 'body'}:        {_line(batch.body, 200)}")
    for name, values in (batch.variables or {}).items():
        listed = ", ".join(str(value) for value in values)
        print(f"  variable:    {_line(name)} = {_line(listed, 160)}")
    print(f"  request:     {_request_line(params)} · n {n}")
    print(f"  concurrency: {batch.concurrency}")
    print(f"  progress:    {_line(progress.describe())}")
    print(f"  spend:       {progress.spend_display()} (from the ledger)")
    print(f"  created:     {_when(batch.created_at)}")
    if batch.started_at:
        print(f"  started:     {_when(batch.started_at)}")
    if batch.finished_at:
        took = ""
        if batch.started_at:
            took = f" (took {_seconds((batch.finished_at - batch.started_at).total_seconds())})"
        print(f"  finished:    {_when(batch.finished_at)}{took}")
    if batch.stop_reason:
        print(f"  stopped:     {_line(printable_message(batch.stop_reason), 200)}")


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def _print_items(items: Sequence[BatchItem], rows: dict[int, list[Generation]]) -> None:
    """One line an item: position (1-based), status, generation ids, prompt; then its error."""
    width = len(str(max((item.position + 1 for item in items), default=1)))
    for item in items:
        ids = ",".join(f"#{row.id}" for row in rows.get(item.id, [])) or "-"
        print(
            f"  {item.position + 1:>{width}}  {_status_word(item.status):<29} {ids:<10} "
            f"{_line(item.text, 100)}"
        )
        if item.error and item.status != "succeeded":
            print(f"  {'':>{width}}  {_line(printable_message(item.error), 160)}")


def _choice(item: BatchItem) -> dict[str, str]:
    """The item's placeholder values. Items stored so far hold them JSON-encoded twice (the
    store encodes them before ``insert_many`` encodes them again), so a string is decoded."""
    import json

    choice: Any = item.choice
    for _ in range(2):
        if not isinstance(choice, str):
            break
        try:
            choice = json.loads(choice)
        except ValueError:
            return {}
    return dict(choice) if isinstance(choice, dict) else {}


def _item_json(item: BatchItem, rows: list[Generation]) -> dict[str, Any]:
    return {
        "id": item.id,
        "position": item.position,
        "status": item.status,
        "text": item.text,
        "choice": _choice(item),
        "attempts": item.attempts,
        "error": item.error,
        "prompt_id": item.prompt_id,
        "generations": [
            {
                "id": row.id,
                "status": row.status,
                "path": row.file_path,
                "error_kind": row.error_kind,
            }
            for row in rows
        ],
    }
