"""Running batches: many prompts through the one generation use case, billing-safe.

A batch is planned first (``batch_plan``: the prompts, the count, the estimate), stored with one
item per prompt, then run by workers that each claim the next planned item and send it through
``GenerationService.generate`` (the same request policy as one image).

At most ``concurrency`` requests are in flight: a request holds a slot of the batch's
``SharedBackoff`` exactly while the provider has it (sent, or waiting to be retried), through
a gated provider. A few more workers than slots make each prompt's rows before its turn and
save its images after it, so that work never keeps a slot from the next request.

Money rules, as for one image, and for the whole batch:

- An item is claimed (``running``) in the same transaction that checks the batch still runs in
  this process, and just before its request goes, one more transaction checks it again and
  records that it goes (``BatchStore.begin_sending``): a cancel from anywhere stops every
  request not sent yet.
- Resume sends only items never sent (``planned``). Items that were in flight when a process died
  become ``interrupted`` (their generation rows say the request may have been billed); they and
  possibly billed items are sent again only with ``rerun_interrupted`` (the user's word). Items
  whose rows were made but whose request never went are planned again, their rows removed.
- A 429 (or a 503 with ``Retry-After``) holds every worker (``SharedBackoff``) and halves the
  number of requests in flight, which grows back one by one as requests sent after it succeed.
- ``insufficient_quota``, a rejected key, a refused model or an images folder that cannot be
  written stop the batch with that reason: every other item would meet it too (the slot of a
  failed request is kept until its error is understood, so nothing more is sent meanwhile).
  Three requests in a row that may have been billed (timeouts) pause it instead of paying
  blindly.
- Cancel stops new requests, and retries waiting to be sent; in-flight ones finish, or are
  cancelled when the user chooses (then they are possibly billed, as the generation service
  records).

Counts come from the items and spend from the ledger (``usage_stats.batch_id``), never from
counters that could drift. Events reach ``on_event`` in order from one task, with one progress
read per burst of events: the workers never wait for a listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime as dt
import inspect
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from dalletui.errors import DalleTuiError, ErrorKind, GenerationError, ValidationError
from dalletui.formatting import format_money
from dalletui.generation.retry import (
    RATE_LIMITED,
    SERVER_BUSY,
    RetryWait,
    WaitCallback,
    format_seconds,
)
from dalletui.generation.types import (
    GenerationRequest,
    ImageProvider,
    PartialCallback,
    ProviderResult,
)
from dalletui.services.generation import REQUEST_FIELDS, GenerationOutcome, GenerationService
from dalletui.storage import DatabaseManager
from dalletui.storage.batches import STOP_IN_FLIGHT, busy_message, owner_elsewhere
from dalletui.storage.models import Batch, BatchItem, Generation

if TYPE_CHECKING:
    from dalletui.services.batch_plan import BatchPlan, BatchPlanner
    from dalletui.services.templates import TemplateService

log = logging.getLogger(__name__)

EventKind = Literal["started", "item_started", "item_finished", "waiting", "stopping", "finished"]
InFlight = Literal["finish", "cancel"]
#: Item statuses that may have been billed: re-sent only when the user asks.
MAYBE_BILLED = ("interrupted", "possibly_billed")
#: Errors every other item of the batch would meet too: the batch stops.
STOPPING_KINDS = {
    ErrorKind.QUOTA: "failed",
    ErrorKind.AUTHENTICATION: "failed",
    ErrorKind.PERMISSION: "failed",
    ErrorKind.NOT_FOUND: "failed",
    ErrorKind.FILESYSTEM: "failed",
}
#: Surely not billed, and gone after a while: the item is sent again later in the run.
TRANSIENT_KINDS = (ErrorKind.RATE_LIMIT, ErrorKind.SERVER, ErrorKind.CONNECTION)
#: How many requests in a row may fail transiently (or be possibly billed) before a pause.
IN_A_ROW = 3
#: Seconds every worker waits after a request gave up on rate limits or a busy server.
_TRANSIENT_HOLD_S = 5.0
#: How often a running batch looks for a cancel or pause from another process.
WATCH_S = 0.5


@dataclass
class BatchProgress:
    """Where a batch stands: counts of its prompts, spend from the ledger, timings."""

    batch_id: int
    name: str
    status: str
    total: int
    done: int = 0
    failed: int = 0
    possibly_billed: int = 0
    interrupted: int = 0
    running: int = 0
    remaining: int = 0
    images_per_prompt: int = 1
    spend: Decimal = Decimal(0)
    unknown_costs: int = 0
    stop_reason: str | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    #: Seconds this run has taken so far, and its estimate of the seconds left.
    elapsed: float | None = None
    eta: float | None = None

    @property
    def planned(self) -> int:
        """The batch's prompts (items), as in the batch record."""
        return self.total

    @property
    def settled(self) -> int:
        return self.done + self.failed + self.possibly_billed + self.interrupted

    @property
    def maybe_billed(self) -> int:
        return self.possibly_billed + self.interrupted

    def spend_display(self) -> str:
        text = format_money(self.spend)
        if self.unknown_costs:
            text += f" + {self.unknown_costs} unpriced"
        return text

    def describe(self) -> str:
        """E.g. ``7 of 12 done · 1 failed · 4 left · $0.28 · ETA 6 s``."""
        parts = [f"{self.done} of {self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.possibly_billed:
            parts.append(f"{self.possibly_billed} possibly billed")
        if self.interrupted:
            parts.append(f"{self.interrupted} interrupted")
        if self.running:
            parts.append(f"{self.running} in flight")
        if self.remaining:
            parts.append(f"{self.remaining} left")
        parts.append(self.spend_display())
        if self.eta is not None and self.status == "running":
            parts.append(f"ETA {format_seconds(self.eta)}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, float):
                value = round(value, 3)
            out[item.name] = value
        out["planned"] = self.total
        return out


@dataclass
class BatchEvent:
    """Something that happened in a running batch (one JSON Lines event with ``--json``)."""

    kind: EventKind
    batch_id: int
    progress: BatchProgress
    item_id: int | None = None
    position: int | None = None
    status: str | None = None
    generation_ids: list[int] = field(default_factory=list)
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "batch": self.batch_id,
            "item": self.item_id,
            "position": self.position,
            "status": self.status,
            "generations": self.generation_ids,
            "message": self.message,
            "progress": self.progress.to_dict(),
        }


EventCallback = Callable[[BatchEvent], Awaitable[None] | None]


class SharedBackoff:
    """One backoff for the whole batch, and an adaptive limit on requests in flight.

    ``hold(seconds)`` (a 429, or a busy 503 naming its wait, met by any item) stops every
    worker from sending until then; the first hold of an episode halves the limit. Each request
    sent after that which succeeds raises it by one again, up to the concurrency asked for
    (successes of requests sent before the halving do not count: they say nothing about the
    new rate).

    A worker holds a ``Slot`` while its request is in flight, including the waits before its
    own automatic retries. Slots are taken with ``acquire`` and given back with ``release``
    (both safe to call twice); every change wakes the waiting workers.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.allowed = limit
        self.active = 0
        #: The most slots ever taken at once.
        self.peak = 0
        self.resume_at = 0.0
        #: Holds asked (every 429 or busy 503), and how many of them halved the limit.
        self.holds = 0
        self.reductions = 0
        self.reduced_at = -math.inf
        self._clock = clock
        self._event = asyncio.Event()

    def _changed(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def acquire(
        self,
        slot: Slot,
        *,
        lead: float = 0.0,
        stopped: Callable[[], bool] | None = None,
    ) -> bool:
        """Take ``slot`` once no hold is in force and fewer than ``allowed`` are taken.

        ``lead``: the caller itself waits that long before sending (an automatic retry), so
        the slot may be taken that much before the hold ends. Returns False, without the
        slot, once ``stopped()`` is true (looked at whenever something changes).
        """
        while True:
            if stopped is not None and stopped():
                return False
            wait = self.resume_at - lead - self._clock()
            if wait <= 0 and self.active < self.allowed:
                if not slot.held:
                    slot.held = True
                    self.active += 1
                    self.peak = max(self.peak, self.active)
                slot.since = self._clock() + lead
                return True
            event = self._event
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), wait)
            else:
                await event.wait()

    async def wait_until(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` is true (looked at whenever something changes)."""
        while not check():
            await self._event.wait()

    def wake(self) -> None:
        """Something outside changed (a stop, an item settled): waiting workers look again."""
        self._changed()

    def release(self, slot: Slot) -> None:
        if slot.held:
            slot.held = False
            self.active -= 1
            self._changed()

    def hold(self, seconds: float) -> None:
        """No request is sent by anyone for ``seconds``; halves the limit once per episode."""
        now = self._clock()
        self.holds += 1
        if now >= self.resume_at:
            self.allowed = max(1, self.allowed // 2)
            self.reductions += 1
            self.reduced_at = now
        self.resume_at = max(self.resume_at, now + seconds)
        self._changed()

    def reserve(self, seconds: float) -> None:
        """Nobody sends before ``seconds`` from now (a retry that will be sent then): keeps
        the others from sending into a hold that retry could still meet."""
        self.resume_at = max(self.resume_at, self._clock() + seconds)
        self._changed()

    @property
    def over_limit(self) -> bool:
        return self.active > self.allowed

    def succeeded(self, slot: Slot | None = None) -> None:
        """A request succeeded: one more may be in flight (if it was sent after the halving)."""
        sent = slot.since if slot is not None else self._clock()
        if self.allowed < self.limit and sent >= self.reduced_at:
            self.allowed += 1
            self._changed()

    def remaining_hold(self, after: float = 0.0) -> float:
        """Seconds the shared hold lasts beyond ``after`` seconds from now."""
        return max(0.0, self.resume_at - (self._clock() + after))


@dataclass
class Slot:
    """One worker's place among the requests in flight (see ``SharedBackoff``)."""

    held: bool = False
    #: When the request holding it was (or will be) sent.
    since: float = 0.0


class BatchControl:
    """Stops a batch running in this process: ``stop()`` from a key, a signal or a test."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.reason: str | None = None
        self.in_flight: InFlight = "finish"
        self._listeners: list[Callable[[], None]] = []

    def stop(
        self,
        status: Literal["cancelled", "paused"] = "cancelled",
        *,
        in_flight: InFlight = "finish",
        reason: str | None = None,
    ) -> None:
        """Send no new request; in-flight ones finish, or are cancelled (possibly billed).

        A request waiting to be sent again (after a rate limit) is not sent: it was never
        billed, and its prompt stays to be sent by a resume.
        """
        self.status = status
        self.in_flight = (
            "cancel" if in_flight == "cancel" or self.in_flight == "cancel" else "finish"
        )
        self.reason = reason or (
            "Cancelled by the user." if status == "cancelled" else "Paused by the user."
        )
        for listener in list(self._listeners):
            listener()

    @property
    def stopped(self) -> bool:
        return self.status is not None

    def _listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _unlisten(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)


@dataclass
class _Pending:
    """An event not delivered yet (its progress is read when it is)."""

    kind: EventKind
    item: BatchItem | None
    status: str | None
    message: str | None
    generation_ids: list[int]


@dataclass
class _Flight:
    """One item's request: its task, its slot, and where it stands.

    ``preparing`` (its rows are being made; nothing sent), ``gate`` (waiting for a slot;
    nothing sent), ``wire`` (the provider has it: sent, or in a wait before an automatic retry
    until ``waiting_until``), ``done``.
    """

    item_id: int
    slot: Slot = field(default_factory=lambda: Slot())
    task: asyncio.Task[GenerationOutcome] | None = None
    state: Literal["preparing", "gate", "wire", "done"] = "preparing"
    #: Monotonic time its next automatic retry is sent; in the past while on the wire.
    waiting_until: float = 0.0
    cancelled: bool = False


#: The flight of the batch item whose request runs in this context (set for each request's
#: task, read by the gated provider).
_FLIGHT: contextvars.ContextVar[_Flight | None] = contextvars.ContextVar(
    "dalletui_batch_flight", default=None
)


class _NotSent(GenerationError):
    """Raised by the gated provider instead of sending: the batch stopped meanwhile."""

    def __init__(self) -> None:
        super().__init__(ErrorKind.CANCELLED, NOT_SENT, possibly_billed=False)


class _GatedProvider:
    """The real provider behind the batch's shared backoff: a request holds a slot exactly
    while the provider has it (sent, or waiting to be retried), so the rows made before and
    the files and rows recorded after it never keep a slot from the next request."""

    def __init__(self, inner: ImageProvider, run: _Run) -> None:
        self._inner = inner
        self._run = run
        self.name = inner.name
        self.offline = inner.offline

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        flight = _FLIGHT.get()
        if flight is None:  # not a batch item's request
            return await self._inner.generate(request, on_partial, on_wait)
        run = self._run
        flight.state = "gate"
        taken = await run.throttle.acquire(flight.slot, stopped=lambda: run.stopping)
        if taken and not await self._begin_sending(flight):
            run.throttle.release(flight.slot)
            taken = False
        if not taken:
            flight.state = "done"
            raise _NotSent
        flight.state = "wire"
        try:
            result = await self._inner.generate(request, on_partial, on_wait)
        finally:
            flight.state = "done"
        # Its images are here: the slot goes to the next request while they are saved. After
        # an error the slot stays until the batch knows what the error means (a quota stops
        # it: nothing more may be sent meanwhile); the worker gives it back then.
        run.throttle.release(flight.slot)
        return result

    async def _begin_sending(self, flight: _Flight) -> bool:
        """Whether the request may go: the batch still runs here as the database says (a
        cancel from another process stops every request not sent yet, as a claim would), and
        its rows now record that it was sent (see ``BatchStore.begin_sending``)."""
        run = self._run
        db = run.service_db
        if run.stopping or db is None:
            return False
        try:
            going = await asyncio.to_thread(db.begin_sending, run.batch.id, flight.item_id, run.pid)
        except DalleTuiError as exc:  # the database: the request is not sent
            run.stop("failed", str(exc))
            return False
        if not going:
            with contextlib.suppress(DalleTuiError):
                BatchService._stop_external(
                    run, await asyncio.to_thread(db.get_batch, run.batch.id)
                )
            return False
        return True  # recorded as sent: it goes, even if a stop came meanwhile

    async def aclose(self) -> None:
        """Nothing: the real provider belongs to the app's generation service."""


@dataclass
class _Run:
    """What one run of a batch knows while it goes."""

    batch: Batch
    pid: int
    request: GenerationRequest
    provider: str
    among: list[int] | None
    throttle: SharedBackoff
    control: BatchControl
    on_event: EventCallback | None
    started: float = field(default_factory=time.monotonic)
    finished_here: int = 0
    in_a_row: int = 0
    stop_status: str | None = None
    stop_reason: str | None = None
    external: bool = False
    announced: bool = False
    in_flight: dict[int, _Flight] = field(default_factory=dict)
    #: The generation service this run sends through (its provider is gated).
    service: GenerationService | None = None
    service_db: DatabaseManager | None = None
    #: Items claimed and not yet settled; at most ``allowed + extra``: the extra ones have their
    #: rows made (or their files saved) while the others' requests are in flight.
    claimed: int = 0
    extra: int = 0
    #: Events waiting for the emitter task, which delivers them in order.
    queued: list[_Pending] = field(default_factory=list)
    emitter: asyncio.Task[None] | None = None
    last_progress: BatchProgress | None = None

    @property
    def stopping(self) -> bool:
        return self.stop_status is not None

    def stop(
        self,
        status: str,
        reason: str | None,
        *,
        external: bool = False,
        in_flight: InFlight = "finish",
    ) -> None:
        """No new request from now on; with ``in_flight="cancel"`` the requests in flight are
        cancelled too. Requests waiting to be sent again are cancelled either way (nothing
        of them was billed)."""
        if self.stop_status is None:
            self.stop_status, self.stop_reason, self.external = status, reason, external
        now = time.monotonic()
        for flight in list(self.in_flight.values()):
            task = flight.task
            if flight.state != "wire" or flight.cancelled or task is None or task.done():
                continue  # not sent (the gate refuses it now), or already over
            if task.cancelling():
                continue  # a task being cancelled already must be left to record its rows
            if in_flight == "cancel" or flight.waiting_until > now:
                flight.cancelled = True
                task.cancel()
        self.throttle.wake()  # requests waiting for a slot are not sent


#: Why a stopped item's request was not sent.
NOT_SENT = "Not sent: the batch was stopped before this request went."
STOPPED_WHILE_RUNNING = "dalletui stopped while the batch ran."


def _extra_workers(limit: int) -> int:
    """Items prepared (rows made, files saved) beside the ``limit`` requests in flight."""
    return max(1, limit // 2)


#: Batches running in this process, by (database path, batch id), and those starting.
_RUNNING: dict[tuple[str, int], _Run] = {}
_STARTING: set[tuple[str, int]] = set()
#: Seconds a worker that met a rate limit lets the loop run before settling its wait: 429s that
#: arrived together all set their hold first, so no retry is timed before a later hold.
_COALESCE_S = 0.05


class BatchService:
    """Create, run, resume, retry and cancel batches; progress for the CLI and the TUI."""

    def __init__(
        self, db: DatabaseManager, generation: GenerationService, templates: TemplateService
    ) -> None:
        self.db = db
        self.generation = generation
        self.templates = templates

    def planner(self) -> BatchPlanner:
        """What turns a template, a text or a prompts file into a ``BatchPlan``."""
        from dalletui.services.batch_plan import BatchPlanner

        return BatchPlanner(
            self.db, self.templates, self.generation.catalog, self.generation.settings
        )

    # -- records ----------------------------------------------------------------------------

    def create(self, plan: BatchPlan, concurrency: int | None = None) -> Batch:
        """Store ``plan`` as a planned batch with one item per prompt (nothing is sent)."""
        request = plan.request
        params = {key: value for key, value in request.params().items() if key != "prompt"}
        params["provider"] = self.generation.provider_name
        limit = concurrency or self.generation.settings.batch_concurrency
        return self.db.create_batch(
            plan.name,
            [(item.text, dict(item.choice)) for item in plan.items],
            template_id=plan.template_id,
            params=params,
            source=plan.source,
            body=plan.body,
            mode=plan.mode,
            seed=plan.seed,
            variables={name: list(values) for name, values in plan.variables.items()},
            concurrency=limit,
        )

    def get(self, batch_id: int) -> Batch:
        return self.db.get_batch(batch_id)

    def list(self, limit: int = 100) -> list[Batch]:
        return self.db.list_batches(limit)

    def items(self, batch_id: int, statuses: Sequence[str] | None = None) -> list[BatchItem]:
        return self.db.batch_items(batch_id, statuses)

    def progress(self, batch_id: int) -> BatchProgress:
        return self.progress_many([self.db.get_batch(batch_id)])[batch_id]

    def progress_many(self, batches: Sequence[Batch | int]) -> dict[int, BatchProgress]:
        """Progress of each batch (``Batch`` rows or ids) in two queries (counts, then spend)."""
        rows = [
            batch if isinstance(batch, Batch) else self.db.get_batch(int(batch))
            for batch in batches
        ]
        ids = [batch.id for batch in rows]
        counts = self.db.batch_counts(ids)
        spend = self.db.batch_spend(ids)
        found: dict[int, BatchProgress] = {}
        for batch in rows:
            by = counts.get(batch.id, {})
            money = spend[batch.id]
            found[batch.id] = BatchProgress(
                batch_id=batch.id,
                name=batch.name,
                status=batch.status,
                total=sum(by.values()),
                done=by.get("succeeded", 0),
                failed=by.get("failed", 0),
                possibly_billed=by.get("possibly_billed", 0),
                interrupted=by.get("interrupted", 0),
                running=by.get("running", 0),
                remaining=by.get("planned", 0),
                images_per_prompt=int((batch.params or {}).get("n", 1) or 1),
                spend=money.cost,
                unknown_costs=money.unknown,
                stop_reason=batch.stop_reason,
                created_at=batch.created_at,
                started_at=batch.started_at,
                finished_at=batch.finished_at,
            )
        return found

    def thumbnails(self, batch_id: int) -> list[tuple[BatchItem, Generation | None]]:
        """Each item with the image to show for it: its newest succeeded image, else its
        newest generation row, else None (never sent)."""
        items = self.db.batch_items(batch_id)
        rows = self.db.item_generations([item.id for item in items])
        shown: list[tuple[BatchItem, Generation | None]] = []
        for item in items:
            attempts = rows.get(item.id, [])
            good = [row for row in attempts if row.status == "succeeded" and row.deleted_at is None]
            shown.append((item, good[-1] if good else (attempts[-1] if attempts else None)))
        return shown

    def cancel(
        self,
        batch_id: int,
        reason: str = "Cancelled by the user.",
        *,
        in_flight: InFlight = "finish",
    ) -> Batch:
        """Stop a batch from anywhere: no new request is sent; requests in flight finish, or
        are cancelled with ``in_flight="cancel"`` (then they are possibly billed), in the
        process running it. A batch not running is simply marked cancelled (resumable)."""
        batch = self.db.request_batch_stop(batch_id, "cancelled", reason, in_flight=in_flight)
        run = _RUNNING.get(self._key(batch_id))
        if run is not None:  # running here: stop now rather than at the next look
            run.stop("cancelled", reason, external=True, in_flight=in_flight)
        return batch

    def owner_elsewhere(self, batch: Batch) -> int | None:
        """The pid of another live process running ``batch`` (or still finishing its requests
        in flight after a cancel), if any."""
        return owner_elsewhere(batch, os.getpid())

    def running_here(self, batch_id: int) -> bool:
        """Whether this process is running batch ``batch_id`` now."""
        return self._key(batch_id) in _RUNNING

    def _key(self, batch_id: int) -> tuple[str, int]:
        return (str(self.db.path), batch_id)

    # -- running ----------------------------------------------------------------------------

    async def run(
        self,
        batch_id: int,
        *,
        concurrency: int | None = None,
        on_event: EventCallback | None = None,
        rerun_interrupted: bool = False,
        only_failed: bool = False,
        control: BatchControl | None = None,
    ) -> BatchProgress:
        """Run (or resume) a batch until every planned item is sent or it is stopped.

        ``rerun_interrupted`` also sends again the items that may have been billed (in flight
        when a process died, or possibly billed); ``only_failed`` sends only the failed items
        again (retry). Raises ``ValidationError`` when there is nothing to send or another
        process runs the batch, before anything is sent.
        """
        key = self._key(batch_id)
        if key in _RUNNING or key in _STARTING:
            raise ValidationError(f"Batch #{batch_id} is already running here.")
        _STARTING.add(key)
        try:
            run, notice = await self._start(
                batch_id, concurrency, rerun_interrupted, only_failed, control, on_event
            )
        finally:
            _STARTING.discard(key)
        _RUNNING[key] = run

        def control_stop() -> None:
            run.stop(
                run.control.status or "cancelled",
                run.control.reason,
                in_flight=run.control.in_flight,
            )

        run.control._listen(control_stop)
        if run.control.stopped:  # stopped before it started
            control_stop()
        try:
            return await self._go(run, notice)
        finally:
            run.control._unlisten(control_stop)
            _RUNNING.pop(key, None)

    async def _start(
        self,
        batch_id: int,
        concurrency: int | None,
        rerun_interrupted: bool,
        only_failed: bool,
        control: BatchControl | None,
        on_event: EventCallback | None,
    ) -> tuple[_Run, str | None]:
        preparing = asyncio.ensure_future(
            asyncio.to_thread(
                self._prepare,
                batch_id,
                concurrency,
                rerun_interrupted,
                only_failed,
                control,
                on_event,
            )
        )
        try:
            return await asyncio.shield(preparing)
        except asyncio.CancelledError:
            # Cancelled while the batch was being started: once it has, stop it again.
            with contextlib.suppress(Exception):
                run, _ = await preparing
                run.stop("paused", STOPPED_WHILE_RUNNING)
                await self._finish(run)
            raise

    async def _go(self, run: _Run, notice: str | None) -> BatchProgress:
        batch_id = run.batch.id
        workers: list[asyncio.Task[None]] = []
        watcher: asyncio.Task[None] | None = None
        try:
            await self._emit(run, "started", message=notice)
            workers = [
                asyncio.create_task(self._worker(run), name=f"batch-{batch_id}-worker-{index}")
                for index in range(run.throttle.limit + run.extra)
            ]
            watcher = asyncio.create_task(self._watch(run), name=f"batch-{batch_id}-watch")
            results = await asyncio.gather(*workers, return_exceptions=True)
        except asyncio.CancelledError:
            # The run itself was cancelled (the app is closing): the gather cancelled the
            # workers, which cancel their requests in flight (recorded as possibly billed).
            run.stop("paused", STOPPED_WHILE_RUNNING, in_flight="cancel")
            await asyncio.shield(asyncio.gather(*workers, return_exceptions=True))
            await asyncio.shield(self._finish(run))
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("batch %s worker failed", batch_id, exc_info=result)
                run.stop("failed", f"Unexpected error: {result}")
        return await self._finish(run)

    def _prepare(
        self,
        batch_id: int,
        concurrency: int | None,
        rerun_interrupted: bool,
        only_failed: bool,
        control: BatchControl | None,
        on_event: EventCallback | None,
    ) -> tuple[_Run, str | None]:
        batch = self.db.get_batch(batch_id)
        pid = os.getpid()
        other = owner_elsewhere(batch, pid)
        if other is not None:
            raise ValidationError(busy_message(batch, other))
        if batch.status == "running" or self.db.batch_items(batch_id, ["running"], limit=1):
            # Not running here (run() checked): its process ended without settling it.
            owner = f"process {batch.owner_pid}" if batch.owner_pid else "its process"
            settled = self.db.settle_orphaned_items(
                batch_id, f"dalletui stopped ({owner} ended) while the batch ran.", pid=pid
            )
            log.info("batch %s: settled orphaned items %s", batch_id, settled)
        request = self._request(batch)
        provider = str((batch.params or {}).get("provider") or self.generation.provider_name)
        chosen = self.generation.provider(provider)  # a missing key is said now
        warm_up = getattr(chosen, "warm_up", None)
        if callable(warm_up):
            warm_up()  # in this thread, not on the event loop at the first request
        counts = self.db.batch_counts([batch_id])[batch_id]
        requeue: tuple[str, ...] = ()
        among: list[int] | None = None
        if only_failed:
            failed = self.db.batch_items(batch_id, ["failed"])
            if not failed:
                raise ValidationError(f"Batch #{batch_id} has no failed prompts to retry.")
            requeue, among = ("failed",), [item.id for item in failed]
        if rerun_interrupted:
            requeue += MAYBE_BILLED
            if among is not None:
                among += [item.id for item in self.db.batch_items(batch_id, MAYBE_BILLED)]
        maybe = sum(counts.get(status, 0) for status in MAYBE_BILLED)
        to_send = counts.get("planned", 0) if among is None else len(among)
        if rerun_interrupted and among is None:
            to_send += maybe
        if to_send == 0:
            raise ValidationError(self._nothing_to_send(batch_id, counts))
        notice = None
        if maybe and not rerun_interrupted:
            notice = (
                f"{maybe} {'prompt was' if maybe == 1 else 'prompts were'} in flight or possibly "
                "billed and will not be sent again; run "
                f"`dalletui batch resume {batch_id} --rerun-interrupted` to send "
                f"{'it' if maybe == 1 else 'them'} again."
            )
        batch = self.db.start_batch(batch_id, pid, requeue=requeue, only=among)
        limit = max(1, min(64, concurrency or batch.concurrency or 4))
        run = _Run(
            batch=batch,
            pid=pid,
            request=request,
            provider=provider,
            among=among,
            throttle=SharedBackoff(limit),
            control=control or BatchControl(),
            on_event=on_event,
            extra=_extra_workers(limit),
            service_db=self.db,
        )
        gated = _GatedProvider(chosen, run)
        generation = self.generation
        run.service = GenerationService(
            self.db,
            generation.images,
            generation.settings,
            generation.catalog,
            provider_factory=lambda _settings, _name: gated,
        )
        return run, notice

    @staticmethod
    def _nothing_to_send(batch_id: int, counts: dict[str, int]) -> str:
        done = counts.get("succeeded", 0)
        maybe = sum(counts.get(status, 0) for status in MAYBE_BILLED)
        failed = counts.get("failed", 0)
        parts = [f"Batch #{batch_id} has nothing left to send ({done} done"]
        if failed:
            parts.append(f", {failed} failed: `dalletui batch retry {batch_id}` sends them again")
        if maybe:
            parts.append(
                f", {maybe} possibly billed: `dalletui batch resume {batch_id} "
                "--rerun-interrupted` sends them again"
            )
        return "".join(parts) + ")."

    @staticmethod
    def _request(batch: Batch) -> GenerationRequest:
        params = {k: v for k, v in (batch.params or {}).items() if k in REQUEST_FIELDS}
        params["prompt"] = "-"
        try:
            return GenerationRequest(**params)
        except TypeError as exc:
            raise ValidationError(
                f"Batch #{batch.id} does not record a request that can be sent."
            ) from exc

    async def _watch(self, run: _Run) -> None:
        """Notice a cancel or pause asked by another process (or another screen)."""
        while not run.stopping:
            await asyncio.sleep(WATCH_S)
            try:
                batch = await asyncio.to_thread(self.db.get_batch, run.batch.id)
            except DalleTuiError:
                continue
            if batch.status != "running" or batch.owner_pid != run.pid:
                self._stop_external(run, batch)
                await self._announce(run)

    @staticmethod
    def _stop_external(run: _Run, batch: Batch) -> None:
        """The database says the batch should stop (a cancel or pause from elsewhere)."""
        status = batch.status if batch.status in ("cancelled", "paused") else "paused"
        if batch.owner_pid != run.pid:
            reason = batch.stop_reason or "Another dalletui took the batch over."
        else:
            reason = batch.stop_reason
        cancel = (batch.params or {}).get(STOP_IN_FLIGHT) == "cancel"
        run.stop(status, reason, external=True, in_flight="cancel" if cancel else "finish")

    async def _worker(self, run: _Run) -> None:
        try:
            await self._work(run)
        except Exception as exc:  # noqa: BLE001 (one worker's bug stops the batch, said once)
            log.error("batch %s worker failed", run.batch.id, exc_info=exc)
            run.stop("failed", f"Unexpected error: {exc}")

    async def _work(self, run: _Run) -> None:
        throttle = run.throttle

        def may_claim() -> bool:
            return run.stopping or run.claimed < throttle.allowed + run.extra

        while not run.stopping:
            await throttle.wait_until(may_claim)
            if run.stopping:
                return
            run.claimed += 1
            try:
                item = await self._claim(run)
                if item is None:
                    if not run.stopping:
                        await self._check_stopped(run)
                    return
                await self._send(run, item)
            finally:
                run.claimed -= 1
                throttle.wake()

    async def _claim(self, run: _Run) -> BatchItem | None:
        """The next item, marked running; a cancel meanwhile puts it back (nothing was sent)."""
        claiming = asyncio.ensure_future(
            asyncio.to_thread(self.db.claim_batch_item, run.batch.id, run.pid, run.among)
        )
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                item = await claiming
                if item is not None:
                    await asyncio.to_thread(
                        self.db.finish_batch_item, item.id, "planned", undo_attempt=True
                    )
            raise

    async def _check_stopped(self, run: _Run) -> None:
        """Nothing to claim: if it is because the batch was stopped elsewhere, say so now."""
        try:
            batch = await asyncio.to_thread(self.db.get_batch, run.batch.id)
        except DalleTuiError:
            return
        if batch.status != "running" or batch.owner_pid != run.pid:
            self._stop_external(run, batch)
            await self._announce(run)

    async def _send(self, run: _Run, item: BatchItem) -> None:
        if run.stopping:  # stopped while this item was being claimed: nothing was sent
            await asyncio.to_thread(
                self.db.finish_batch_item, item.id, "planned", undo_attempt=True
            )
            return
        request = dataclasses.replace(run.request, prompt=item.text)
        await self._emit(run, "item_started", item=item, status="running")
        throttle = run.throttle
        flight = _Flight(item.id)
        slot = flight.slot

        async def on_wait(wait: RetryWait) -> None:
            """Before an automatic retry (nothing of this request is in flight meanwhile)."""
            if run.stopping:  # no new request after a stop; nothing of this one was billed
                raise asyncio.CancelledError
            flight.waiting_until = math.inf
            held = wait.reason in (RATE_LIMITED, SERVER_BUSY)
            if held:
                throttle.hold(wait.seconds)
            await self._emit(run, "waiting", item=item, message=wait.describe())
            if held:
                await asyncio.sleep(_COALESCE_S)
            if throttle.over_limit:
                # Fewer requests may be in flight now: wait for a slot like everyone else,
                # and keep the others from sending before this retry goes.
                throttle.release(slot)
                taken = await throttle.acquire(
                    slot, lead=wait.seconds, stopped=lambda: run.stopping
                )
                if not taken:
                    raise asyncio.CancelledError
                throttle.reserve(wait.seconds)
            extra = throttle.remaining_hold(wait.seconds)
            if extra > 0:
                await asyncio.sleep(extra)
            if run.stopping:
                raise asyncio.CancelledError
            flight.waiting_until = time.monotonic() + wait.seconds
            slot.since = flight.waiting_until

        assert run.service is not None
        token = _FLIGHT.set(flight)
        try:
            task = asyncio.create_task(
                run.service.generate(
                    request,
                    provider=run.provider,
                    on_wait=on_wait,
                    batch_id=run.batch.id,
                    batch_item_id=item.id,
                ),
                name=f"batch-{run.batch.id}-item-{item.id}",
            )
        finally:
            _FLIGHT.reset(token)
        flight.task = task
        run.in_flight[item.id] = flight
        try:
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    # This worker is being cancelled (the whole run is): stop the run, which
                    # cancels the request or keeps it from being sent, and record what its
                    # rows say before going.
                    run.stop("paused", STOPPED_WHILE_RUNNING, in_flight="cancel")
                    while not task.done():
                        with contextlib.suppress(asyncio.CancelledError):
                            await asyncio.wait({task})
                    await asyncio.shield(self._conclude(run, item, task))
                    raise
            await self._conclude(run, item, task)
        finally:
            run.in_flight.pop(item.id, None)
            throttle.release(slot)

    async def _conclude(
        self, run: _Run, item: BatchItem, task: asyncio.Task[GenerationOutcome]
    ) -> None:
        """Record what the request of ``item`` became."""
        if task.cancelled():
            # A stop cancelled it: the generation service recorded its rows (possibly billed,
            # or cancelled before it was sent again); the item becomes what they say.
            await self._settle_cancelled(run, item)
            return
        exc = task.exception()
        if exc is None:
            await self._record(run, item, task.result())
        elif isinstance(exc, ValidationError):  # this prompt cannot be sent (nothing was)
            await self._settle(run, item, "failed", str(exc))
        elif isinstance(exc, DalleTuiError):  # the images folder or the database
            # Nothing was sent when no row was made; else the rows say what may have been.
            status: str | None = None
            with contextlib.suppress(DalleTuiError):
                await asyncio.to_thread(self.db.settle_items, [item.id])
                status = (await asyncio.to_thread(self.db.get_batch_item, item.id)).status
            run.stop("failed", str(exc))
            await self._emit(run, "item_finished", item=item, status=status, message=str(exc))
            await self._announce(run)
        else:
            raise exc

    async def _record(self, run: _Run, item: BatchItem, outcome: GenerationOutcome) -> None:
        error = outcome.error
        ids = [row.id for row in outcome.generations]
        message = str(error) if error is not None else None
        flight = run.in_flight.get(item.id)
        if isinstance(error, _NotSent):
            # Stopped while it waited for a slot: its rows go, the prompt is planned again.
            await asyncio.to_thread(self._not_sent, item, ids)
            await self._emit(run, "item_finished", item=item, status="planned", message=NOT_SENT)
            await self._announce(run)
            return
        if outcome.succeeded:
            status = "succeeded"
            run.in_a_row = 0
            run.throttle.succeeded(flight.slot if flight is not None else None)
        elif error is not None and error.possibly_billed:
            status = "possibly_billed"
            run.in_a_row += 1
            if run.in_a_row >= IN_A_ROW:
                run.stop(
                    "paused",
                    f"{IN_A_ROW} requests in a row may have been billed without an answer "
                    f"(the last: {error}); the batch is paused so as not to pay blindly. "
                    f"Resume it when the API answers again.",
                )
        elif error is not None and error.kind in TRANSIENT_KINDS:
            # Surely not billed: the prompt goes back to be sent later in this run.
            status = "planned"
            run.in_a_row += 1
            run.throttle.hold(_TRANSIENT_HOLD_S)
            if run.in_a_row >= IN_A_ROW:
                run.stop("paused", f"The API kept refusing requests: {error}")
        else:
            status = "failed"
            if error is not None and error.kind in STOPPING_KINDS:
                run.stop(STOPPING_KINDS[error.kind], str(error))
        await self._settle(run, item, status, message, outcome.prompt.id, ids)

    async def _settle(
        self,
        run: _Run,
        item: BatchItem,
        status: str,
        error: str | None,
        prompt_id: int | None = None,
        generation_ids: list[int] | None = None,
    ) -> None:
        await asyncio.to_thread(
            self.db.finish_batch_item, item.id, status, error=error, prompt_id=prompt_id
        )
        if status != "planned":
            run.finished_here += 1
        await self._emit(
            run,
            "item_finished",
            item=item,
            status=status,
            message=error,
            generation_ids=generation_ids or [],
        )
        await self._announce(run)

    async def _announce(self, run: _Run) -> None:
        """One ``stopping`` event when the run begins to stop (for whatever reason)."""
        if run.stopping and not run.announced:
            run.announced = True
            await self._emit(run, "stopping", message=run.stop_reason)

    def _not_sent(self, item: BatchItem, ids: list[int]) -> None:
        """The request never went: its rows go (history keeps what reached the provider)."""
        with self.db.atomic():
            self.db.discard_unsent(ids)
            self.db.finish_batch_item(item.id, "planned", undo_attempt=True)

    async def _settle_cancelled(self, run: _Run, item: BatchItem) -> None:
        """A cancelled request: what its rows say (possibly billed, or never sent)."""
        await asyncio.to_thread(self.db.settle_items, [item.id])
        settled = await asyncio.to_thread(self.db.get_batch_item, item.id)
        if settled.status != "planned":
            run.finished_here += 1
        rows = await asyncio.to_thread(self.db.item_generations, [item.id])
        await self._emit(
            run,
            "item_finished",
            item=settled,
            status=settled.status,
            message=settled.error,
            generation_ids=[row.id for row in rows[item.id] if row.status == "succeeded"],
        )
        await self._announce(run)

    async def _finish(self, run: _Run) -> BatchProgress:
        batch_id = run.batch.id
        progress = await asyncio.to_thread(self.progress, batch_id)
        if run.stopping:
            status, reason = run.stop_status or "paused", run.stop_reason
        elif progress.remaining and run.among is None:
            status, reason = "paused", "Stopped before every prompt was sent."
        elif progress.done == 0 and progress.total:
            status, reason = "failed", "No prompt of the batch made an image."
        else:
            status, reason = "completed", None
        if progress.remaining and run.among is not None and not run.stopping:
            status, reason = "paused", f"{progress.remaining} prompts were never sent."
        if status not in ("cancelled", "paused", "completed", "failed"):
            status = "paused"
        await asyncio.to_thread(self.db.stop_batch, batch_id, status, reason, pid=run.pid)
        progress = await asyncio.to_thread(self.progress, batch_id)
        progress.elapsed = time.monotonic() - run.started
        await self._emit(run, "finished", message=progress.stop_reason, progress=progress)
        return progress

    async def _emit(
        self,
        run: _Run,
        kind: EventKind,
        *,
        item: BatchItem | None = None,
        status: str | None = None,
        message: str | None = None,
        generation_ids: list[int] | None = None,
        progress: BatchProgress | None = None,
    ) -> None:
        """Queue an event for the listener; the workers never wait for it (nor for the
        progress it carries). ``progress`` given: delivered after every queued event."""
        if run.on_event is None:
            return
        pending = _Pending(kind, item, status, message, list(generation_ids or []))
        if progress is not None:  # the last event of a run: everything before it first
            await self._drain(run)
            await self._deliver(run, pending, progress)
            return
        run.queued.append(pending)
        if run.emitter is None or run.emitter.done():
            run.emitter = asyncio.create_task(
                self._emitter(run), name=f"batch-{run.batch.id}-events"
            )

    async def _emitter(self, run: _Run) -> None:
        """Deliver the queued events in order, with one progress read for all those queued
        by the time it is taken (a busy batch costs a query per burst, not per event)."""
        while run.queued:
            try:
                progress = await asyncio.to_thread(self.progress, run.batch.id)
                self._timing(run, progress)
                run.last_progress = progress
            except DalleTuiError as exc:  # shown with the newest progress known
                log.warning("batch %s: progress unavailable: %s", run.batch.id, exc)
                progress = run.last_progress
            events, run.queued = run.queued, []
            if progress is None:
                continue
            for pending in events:
                await self._deliver(run, pending, progress)

    async def _drain(self, run: _Run) -> None:
        while run.emitter is not None and not run.emitter.done():
            await asyncio.shield(run.emitter)
        if run.queued:  # the emitter was cancelled with the run: deliver the rest here
            await self._emitter(run)

    async def _deliver(self, run: _Run, pending: _Pending, progress: BatchProgress) -> None:
        item = pending.item
        event = BatchEvent(
            kind=pending.kind,
            batch_id=run.batch.id,
            progress=progress,
            item_id=item.id if item is not None else None,
            position=item.position if item is not None else None,
            status=pending.status,
            generation_ids=pending.generation_ids,
            message=pending.message,
        )
        try:
            outcome = run.on_event(event)  # type: ignore[misc]
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # noqa: BLE001 (a broken listener must not stop a paid batch)
            log.exception("batch %s: event listener failed", run.batch.id)

    @staticmethod
    def _timing(run: _Run, progress: BatchProgress) -> None:
        elapsed = time.monotonic() - run.started
        progress.elapsed = elapsed
        left = progress.remaining + progress.running
        if run.finished_here and left:
            progress.eta = elapsed / run.finished_here * left
        elif not left:
            progress.eta = 0.0
