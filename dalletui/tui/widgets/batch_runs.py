"""The batches this app runs: one worker and one ``BatchControl`` per batch, kept by the app.

A batch keeps running while the user moves between screens, so its run belongs to the app and
not to the Batches screen. ``BatchService.run`` calls back on the app's event loop for every
``BatchEvent``; the events are coalesced here into at most one ``BatchesChanged`` message per
``interval`` (a batch of many fast images must not redraw the screen for each), and a
``BatchEnded`` message says when a run is over and how.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from textual.message import Message

from dalletui.errors import DalleTuiError
from dalletui.services.batches import BatchControl, BatchEvent, BatchProgress, InFlight
from dalletui.textsafe import printable, printable_message

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer
    from textual.worker import Worker

    from dalletui.services.batch_plan import BatchPlan
    from dalletui.services.context import Services

#: Seconds between two BatchesChanged messages, at most (about ten refreshes a second).
REFRESH_INTERVAL = 0.1


@dataclass
class BatchesChanged(Message):
    """Batches running here moved on: their newest progress, and whether images arrived."""

    progress: dict[int, BatchProgress]
    #: Batch ids for which an item finished since the last message (thumbnails to load).
    finished_items: set[int]


@dataclass
class BatchEnded(Message):
    """A run is over: its final progress, or the error that kept it from running at all."""

    batch_id: int
    name: str
    progress: BatchProgress | None
    error: BaseException | None = None
    #: What a re-run asked for ("run", "resume", "retry", "rerun"), for the toast's wording.
    kind: str = "run"


@dataclass
class BatchRun:
    """One batch running in this app."""

    batch_id: int
    name: str
    control: BatchControl = field(default_factory=BatchControl)
    kind: str = "run"
    worker: Worker[Any] | None = None
    progress: BatchProgress | None = None
    #: The newest "waiting" or "stopping" message (a rate limit, a stop on its way).
    note: str | None = None
    #: What the user asked: None while running, else "paused" or "cancelled".
    stopping: str | None = None
    #: When this run started (monotonic seconds).
    started: float = field(default_factory=time.monotonic)

    @property
    def in_flight(self) -> int:
        return self.progress.running if self.progress is not None else 0


RunKind = Literal["run", "resume", "retry", "rerun"]


class BatchRuns:
    """Starts, stops and follows batch runs for the app; posts messages to it."""

    def __init__(
        self,
        app: App[Any],
        services: Services,
        *,
        interval: float = REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.services = services
        self.interval = interval
        self._clock = clock
        self._runs: dict[int, BatchRun] = {}
        self._dirty: set[int] = set()
        self._finished_items: set[int] = set()
        self._last_flush = 0.0
        self._timer: Timer | None = None

    # -- what runs ------------------------------------------------------------------------

    def get(self, batch_id: int) -> BatchRun | None:
        return self._runs.get(batch_id)

    def is_running(self, batch_id: int) -> bool:
        return batch_id in self._runs

    @property
    def running(self) -> list[BatchRun]:
        return list(self._runs.values())

    def __bool__(self) -> bool:
        return bool(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    # -- starting ---------------------------------------------------------------------------

    def start(
        self,
        batch_id: int,
        name: str,
        *,
        kind: RunKind = "run",
        concurrency: int | None = None,
    ) -> BatchRun:
        """Run (``run``/``resume``), retry the failed items (``retry``) or also send again the
        possibly billed ones (``rerun``) of batch ``batch_id`` in an async worker of the app."""
        if batch_id in self._runs:
            return self._runs[batch_id]
        run = BatchRun(batch_id=batch_id, name=name, kind=kind)
        self._runs[batch_id] = run
        run.worker = self.app.run_worker(
            self._run(run, concurrency),
            name=f"batch-{batch_id}",
            group="batch-run",
            description=f"Batch #{batch_id}",
            exit_on_error=False,
        )
        return run

    def create_and_start(
        self,
        plan: BatchPlan,
        concurrency: int | None,
        then: Callable[[int], Awaitable[Any] | Any] | None = None,
    ) -> None:
        """Store ``plan`` as a batch in a thread worker, start it, then call ``then(id)``."""

        def create() -> None:
            try:
                batch = self.services.batches.create(plan, concurrency=concurrency)
            except Exception as exc:  # noqa: BLE001 (reported as the batch's end, never raised)
                self.app.call_from_thread(
                    self.app.post_message, BatchEnded(0, plan.name, None, exc, "run")
                )
                return
            self.app.call_from_thread(self._created, int(batch.id), str(batch.name), then)

        self.app.run_worker(
            create, thread=True, group="batch-create", name="batch-create", exit_on_error=False
        )

    async def _created(
        self, batch_id: int, name: str, then: Callable[[int], Awaitable[Any] | Any] | None
    ) -> None:
        self.start(batch_id, name)
        if then is not None:
            outcome = then(batch_id)
            if inspect.isawaitable(outcome):
                await outcome

    async def _run(self, run: BatchRun, concurrency: int | None) -> BatchProgress | None:
        """The one place a run ends: a BatchEnded message with its progress or its error."""
        progress: BatchProgress | None = None
        error: BaseException | None = None
        try:
            progress = await self.services.batches.run(
                run.batch_id,
                concurrency=concurrency,
                on_event=lambda event: self._event(run, event),
                rerun_interrupted=run.kind == "rerun",
                only_failed=run.kind == "retry",
                control=run.control,
            )
        except asyncio.CancelledError:
            # The app is closing; the service has recorded what the cancel left behind.
            self._runs.pop(run.batch_id, None)
            raise
        except DalleTuiError as exc:  # refused before anything was sent, or a storage error
            error = exc
        except Exception as exc:  # noqa: BLE001 (one error path: shown, never a traceback)
            error = exc
        self._runs.pop(run.batch_id, None)
        self._dirty.discard(run.batch_id)
        if progress is not None:
            run.progress = progress
        self.flush()
        self.app.post_message(
            BatchEnded(run.batch_id, run.name, progress or run.progress, error, run.kind)
        )
        return progress

    # -- stopping ---------------------------------------------------------------------------

    def stop(
        self,
        batch_id: int,
        status: Literal["cancelled", "paused"],
        *,
        in_flight: InFlight = "finish",
        reason: str | None = None,
    ) -> bool:
        """Ask a run here to stop: no new request; in-flight ones finish or are cancelled."""
        run = self._runs.get(batch_id)
        if run is None:
            return False
        run.stopping = status
        if reason is None and status == "cancelled" and in_flight == "cancel":
            reason = "Cancelled by the user, with the requests in flight."
        run.control.stop(status, in_flight=in_flight, reason=reason)
        self._mark(batch_id)
        return True

    def stop_all(
        self,
        status: Literal["cancelled", "paused"],
        *,
        in_flight: InFlight,
        reason: str | None = None,
    ) -> None:
        for batch_id in list(self._runs):
            self.stop(batch_id, status, in_flight=in_flight, reason=reason)

    async def wait_all(self, timeout: float | None = None) -> bool:
        """Wait for every run to end; False when some are still going after ``timeout``."""
        workers = [run.worker for run in self._runs.values() if run.worker is not None]
        if not workers:
            return True
        waits = [asyncio.ensure_future(worker.wait()) for worker in workers]
        done, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            task.exception()  # a worker's own error was reported by _run; read it here
        return not pending

    # -- events -----------------------------------------------------------------------------

    def _event(self, run: BatchRun, event: BatchEvent) -> None:
        """Called by the service on the app's loop: cheap, never a query, never a redraw."""
        run.progress = event.progress
        # The "started" notice names CLI flags; the Batches screen says the same in its keys.
        if event.kind in ("waiting", "stopping") and event.message:
            run.note = event.message
        elif event.kind == "item_finished":
            self._finished_items.add(run.batch_id)
            if run.note and run.stopping is None and event.status == "succeeded":
                run.note = None  # the wait is over
        self._mark(run.batch_id)

    def _mark(self, batch_id: int) -> None:
        self._dirty.add(batch_id)
        if self._timer is not None:
            return
        wait = self.interval - (self._clock() - self._last_flush)
        if wait <= 0:
            self.flush()
        else:
            self._timer = self.app.set_timer(wait, self.flush, name="batch-refresh")

    def flush(self) -> None:
        """Post what changed since the last message (now, whatever the interval)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._dirty and not self._finished_items:
            return
        progress = {
            batch_id: run.progress
            for batch_id in self._dirty
            if (run := self._runs.get(batch_id)) is not None and run.progress is not None
        }
        finished, self._finished_items = self._finished_items, set()
        self._dirty = set()
        self._last_flush = self._clock()
        self.app.post_message(BatchesChanged(progress, finished))

    # -- the status line --------------------------------------------------------------------

    def status_text(self) -> str:
        """``batch #3 7/12`` or ``2 batches 9/24`` (empty when nothing runs)."""
        runs = [run for run in self._runs.values() if run.progress is not None]
        if not self._runs:
            return ""
        done = sum(run.progress.settled for run in runs if run.progress)
        total = sum(run.progress.total for run in runs if run.progress)
        counts = f" {done}/{total}" if total else ""
        if len(self._runs) == 1:
            batch_id = next(iter(self._runs))
            return f"batch #{batch_id}{counts}"
        return f"{len(self._runs)} batches{counts}"


# -- what the app says about runs --------------------------------------------------------------

Severity = Literal["information", "warning", "error"]


def ended_toast(message: BatchEnded) -> tuple[str, Severity] | None:
    """``Batch #3 'foxes' completed: 12 of 12 done · $0.48`` (and why it stopped, if it did)."""
    progress = message.progress
    if progress is None:
        return None
    name = printable(message.name, single_line=True)
    text = f"Batch #{message.batch_id} '{name}' {progress.status}: {progress.describe()}"
    if progress.stop_reason and progress.status != "completed":
        text += "\n" + printable(progress.stop_reason)
    severity: Severity = "warning"
    if progress.status in ("completed", "failed"):
        severity = "information" if progress.status == "completed" else "error"
    return text, severity


def ended_error(message: BatchEnded) -> tuple[str, str, Severity]:
    """Text, title and severity for a run that could not start (or stopped on an error)."""
    error = message.error
    which = f"Batch #{message.batch_id}" if message.batch_id else "Batch not created"
    title = getattr(error, "title", None)
    return printable_message(error), (f"{which}: {title}" if title else which), "error"


def quit_question(runs: BatchRuns, offline: bool) -> str:
    """What quitting now would do to the batches running here."""
    running = runs.running
    flying = sum(run.in_flight for run in running)
    names = ", ".join(
        f"#{run.batch_id} '{printable(run.name, single_line=True)}'" for run in running
    )
    count = len(running)
    what = f"Batch {names} is" if count == 1 else f"{count} batches ({names}) are"
    them = "it" if count == 1 else "them"
    text = f"{what} running. Quitting pauses {them} (R resumes)."
    if flying:
        are = "request is" if flying == 1 else "requests are"
        cancelled = (
            "offline, nothing is billed"
            if offline
            else "the API may still bill them, with no image: they count as possibly billed"
        )
        text += (
            f" {flying} {are} in flight: quit now cancels them ({cancelled}), or let them "
            "finish first."
        )
    return text
