"""Running batches: many prompts through the one generation use case, billing-safe.

A batch is planned first (``batch_plan``: the prompts, the count, the estimate), stored with one
item per prompt, then run by ``concurrency`` workers that each claim the next planned item and
send it through ``GenerationService.generate`` (the same request policy as one image).

Money rules, as for one image, and for the whole batch:

- An item is claimed (``running``) in the same transaction that checks the batch still runs in
  this process, so a cancel from anywhere stops new requests at the next claim.
- Resume sends only items never sent (``planned``). Items that were in flight when a process died
  become ``interrupted`` (their generation rows say the request may have been billed); they and
  possibly billed items are sent again only with ``rerun_interrupted`` (the user's word).
- A 429 (or a 503 with ``Retry-After``) holds every worker (``SharedBackoff``) and halves the
  number of requests in flight, which grows back one by one as requests succeed.
- ``insufficient_quota``, a rejected key, a refused model or an images folder that cannot be
  written stop the batch with that reason: every other item would meet it too. Three requests
  in a row that may have been billed (timeouts) pause it instead of paying blindly.
- Cancel stops new requests; in-flight ones finish, or are cancelled when the user chooses
  (then they are possibly billed, as the generation service records).

Counts come from the items and spend from the ledger (``usage_stats.batch_id``), never from
counters that could drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from dalletui.errors import DalleTuiError, ErrorKind, ValidationError
from dalletui.formatting import format_money
from dalletui.generation.retry import RATE_LIMITED, SERVER_BUSY, RetryWait, format_seconds
from dalletui.generation.types import GenerationRequest
from dalletui.processes import process_alive
from dalletui.services.generation import REQUEST_FIELDS, GenerationOutcome, GenerationService
from dalletui.storage import DatabaseManager
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

    ``hold(seconds)`` (a 429 or a busy 503 met by any item) stops every worker from sending
    until then and halves the limit; each success after that raises it by one, up to the
    concurrency asked for.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.allowed = limit
        self.active = 0
        self.resume_at = 0.0
        self.holds = 0
        self._clock = clock
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            while True:
                wait = self.resume_at - self._clock()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), wait)
                    continue
                if self.active < self.allowed:
                    self.active += 1
                    return
                await self._changed.wait()

    async def release(self) -> None:
        async with self._changed:
            self.active -= 1
            self._changed.notify_all()

    def hold(self, seconds: float) -> None:
        self.holds += 1
        self.resume_at = max(self.resume_at, self._clock() + seconds)
        self.allowed = max(1, self.allowed // 2)

    async def succeeded(self) -> None:
        if self.allowed < self.limit:
            async with self._changed:
                self.allowed += 1
                self._changed.notify_all()

    def remaining_hold(self, after: float = 0.0) -> float:
        """Seconds the shared hold lasts beyond ``after`` seconds from now."""
        return max(0.0, self.resume_at - (self._clock() + after))


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
        """Send no new request; in-flight ones finish, or are cancelled (possibly billed)."""
        self.status = status
        self.in_flight = (
            "cancel" if in_flight == "cancel" or self.in_flight == "cancel" else "finish"
        )
        self.reason = reason or (
            "Cancelled by the user." if status == "cancelled" else "Paused by the user."
        )
        for listener in list(self._listeners):
            listener()

    def _listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


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
    in_flight: dict[int, asyncio.Task[Any]] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return self.stop_status is not None

    def stop(self, status: str, reason: str | None, *, external: bool = False) -> None:
        if self.stop_status is None:
            self.stop_status, self.stop_reason, self.external = status, reason, external


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

    def create(self, plan: BatchPlan, *, concurrency: int | None = None) -> Batch:
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

    def progress_many(self, batches: Sequence[Batch]) -> dict[int, BatchProgress]:
        """Progress of each batch in two queries (counts, then spend)."""
        ids = [batch.id for batch in batches]
        counts = self.db.batch_counts(ids)
        spend = self.db.batch_spend(ids)
        found: dict[int, BatchProgress] = {}
        for batch in batches:
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

    def cancel(self, batch_id: int, reason: str = "Cancelled by the user.") -> Batch:
        """Stop a batch from anywhere: no new request is sent; in-flight ones finish in the
        process running it. A batch not running is simply marked cancelled (resumable)."""
        return self.db.request_batch_stop(batch_id, "cancelled", reason)

    def owner_elsewhere(self, batch: Batch) -> int | None:
        """The pid of another live process running ``batch``, if any."""
        if batch.status != "running" or batch.owner_pid in (None, os.getpid()):
            return None
        return batch.owner_pid if process_alive(batch.owner_pid) else None

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
        run, notice = await asyncio.to_thread(
            self._prepare, batch_id, concurrency, rerun_interrupted, only_failed, control, on_event
        )
        await self._emit(run, "started", message=notice)
        run.control._listen(lambda: self._control_stop(run))
        workers = [
            asyncio.create_task(self._worker(run), name=f"batch-{batch_id}-worker-{index}")
            for index in range(run.throttle.limit)
        ]
        watcher = asyncio.create_task(self._watch(run), name=f"batch-{batch_id}-watch")
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
        except asyncio.CancelledError:
            # The run itself was cancelled (the app is closing): in-flight requests are
            # cancelled too, and the generation service records them as possibly billed.
            run.stop("paused", "dalletui stopped while the batch ran.")
            for worker in workers:
                worker.cancel()
            await asyncio.shield(asyncio.gather(*workers, return_exceptions=True))
            await asyncio.shield(self._finish(run))
            raise
        finally:
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
        other = self.owner_elsewhere(batch)
        if other is not None:
            raise ValidationError(
                f"Batch #{batch_id} is running in another dalletui (process {other}); stop it "
                f"there, or run `dalletui batch cancel {batch_id}`."
            )
        if batch.status == "running" and batch.owner_pid == pid:
            raise ValidationError(f"Batch #{batch_id} is already running here.")
        if batch.status == "running" or self.db.batch_items(batch_id, ["running"], limit=1):
            owner = f"process {batch.owner_pid}" if batch.owner_pid else "its process"
            settled = self.db.settle_orphaned_items(
                batch_id, f"dalletui stopped ({owner} ended) while the batch ran."
            )
            log.info("batch %s: settled orphaned items %s", batch_id, settled)
        request = self._request(batch)
        provider = str((batch.params or {}).get("provider") or self.generation.provider_name)
        self.generation.provider(provider)  # a missing key is said now, before anything runs
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

    def _control_stop(self, run: _Run) -> None:
        control = run.control
        run.stop(control.status or "cancelled", control.reason)
        if control.in_flight == "cancel":
            for task in list(run.in_flight.values()):
                task.cancel()

    async def _watch(self, run: _Run) -> None:
        """Notice a cancel or pause asked by another process (or another screen)."""
        while not run.stopping:
            await asyncio.sleep(WATCH_S)
            try:
                batch = await asyncio.to_thread(self.db.get_batch, run.batch.id)
            except DalleTuiError:
                continue
            if batch.status != "running" or batch.owner_pid != run.pid:
                run.stop(batch.status, batch.stop_reason, external=True)
                await self._emit(run, "stopping", message=batch.stop_reason)

    async def _worker(self, run: _Run) -> None:
        while not run.stopping:
            await run.throttle.acquire()
            try:
                if run.stopping:
                    return
                item = await asyncio.to_thread(
                    self.db.claim_batch_item, run.batch.id, run.pid, run.among
                )
                if item is None:
                    return
                run.in_flight[item.id] = asyncio.current_task()  # type: ignore[assignment]
                try:
                    await self._send(run, item)
                finally:
                    run.in_flight.pop(item.id, None)
            finally:
                await asyncio.shield(run.throttle.release())

    async def _send(self, run: _Run, item: BatchItem) -> None:
        request = dataclasses.replace(run.request, prompt=item.text)
        await self._emit(run, "item_started", item=item, status="running")

        async def on_wait(wait: RetryWait) -> None:
            if wait.reason in (RATE_LIMITED, SERVER_BUSY):
                run.throttle.hold(wait.seconds)
            await self._emit(run, "waiting", item=item, message=wait.describe())
            extra = run.throttle.remaining_hold(wait.seconds)
            if extra > 0:
                await asyncio.sleep(extra)

        try:
            outcome = await self.generation.generate(
                request,
                provider=run.provider,
                on_wait=on_wait,
                batch_id=run.batch.id,
                batch_item_id=item.id,
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._settle_cancelled(run, item))
            raise
        except ValidationError as exc:  # this prompt cannot be sent (nothing was)
            await self._settle(run, item, "failed", str(exc))
            return
        except DalleTuiError as exc:  # the images folder or the database: nothing was sent
            await asyncio.to_thread(
                self.db.finish_batch_item, item.id, "planned", undo_attempt=True
            )
            run.stop("failed", str(exc))
            await self._emit(run, "stopping", item=item, status="planned", message=str(exc))
            return
        await self._record(run, item, outcome)

    async def _record(self, run: _Run, item: BatchItem, outcome: GenerationOutcome) -> None:
        error = outcome.error
        ids = [row.id for row in outcome.generations]
        message = str(error) if error is not None else None
        if outcome.succeeded:
            status = "succeeded"
            run.in_a_row = 0
            await run.throttle.succeeded()
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
        if run.stopping and not run.external:
            await self._emit(run, "stopping", message=run.stop_reason)

    async def _settle_cancelled(self, run: _Run, item: BatchItem) -> None:
        """A cancelled request: what its rows say (possibly billed, or never sent)."""
        await asyncio.to_thread(self.db.settle_items, [item.id])
        settled = await asyncio.to_thread(self.db.get_batch_item, item.id)
        if settled.status != "planned":
            run.finished_here += 1
        await self._emit(run, "item_finished", item=settled, status=settled.status)

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
        await self._emit(run, "finished", message=reason, progress=progress)
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
        if run.on_event is None:
            return
        if progress is None:
            progress = await asyncio.to_thread(self.progress, run.batch.id)
            self._timing(run, progress)
        event = BatchEvent(
            kind=kind,
            batch_id=run.batch.id,
            progress=progress,
            item_id=item.id if item is not None else None,
            position=item.position if item is not None else None,
            status=status,
            generation_ids=generation_ids or [],
            message=message,
        )
        try:
            outcome = run.on_event(event)
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
