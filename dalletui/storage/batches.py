"""Batches and their items: what was planned, what is in flight, what each prompt became.

Counts are computed from the items (``batch_counts``) and spend from the ledger
(``batch_spend``), never kept in counters that could drift. Claiming an item for sending is one
write transaction that also checks the batch is still running in this process, so a cancel from
another process stops new requests at the next claim. Items whose process died while they were in
flight are settled by ``settle_orphaned_items`` from what their generation rows say.

A batch is owned by the process running it (``owner_pid``) from ``start_batch`` until
``stop_batch``, also while a cancel asked from elsewhere waits for its requests in flight: a live
owner's batch is never settled or started by another process (both check it in their write
transaction, so two processes cannot both take it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from peewee import fn

from dalletui.errors import ValidationError
from dalletui.processes import process_alive
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Batch, BatchItem, Generation, UsageStat, now

#: Items are inserted in chunks of this many rows (SQLite's variable limit is 32766).
_CHUNK = 500
#: Batch statuses that are over: nothing runs, and nothing will unless the user resumes it.
FINISHED = ("completed", "failed", "cancelled")
#: Key in ``Batch.params`` by which a stop asked from another process says what to do with the
#: requests in flight ("cancel"); absent: they finish. Cleared when the batch starts again.
STOP_IN_FLIGHT = "stop_in_flight"


def owner_elsewhere(batch: Batch, pid: int) -> int | None:
    """The pid of a live process other than ``pid`` that owns ``batch`` (runs it, or is
    finishing its requests in flight after a cancel), else None."""
    owner = batch.owner_pid
    if owner is None or owner == pid:
        return None
    return owner if process_alive(owner) else None


def busy_message(batch: Batch, owner: int) -> str:
    """Why a batch owned by another live process cannot be run here."""
    if batch.status == "running":
        return (
            f"Batch #{batch.id} is running in another dalletui (process {owner}); stop it "
            f"there, or run `dalletui batch cancel {batch.id}`."
        )
    return (
        f"Batch #{batch.id} is {batch.status} but another dalletui (process {owner}) is still "
        "finishing its requests in flight; try again when it is done."
    )


@dataclass(frozen=True)
class BatchSpend:
    """What a batch has cost so far, from the ledger."""

    cost: Decimal
    #: Images billed whose cost is unknown (no price for the model).
    unknown: int
    #: Requests whose outcome is unknown: they may have been billed.
    possibly_billed: int


class BatchStore(StoreBase):
    """Batch records (a run of many generations) and their items."""

    @guarded
    def create_batch(
        self,
        name: str,
        items: Iterable[tuple[str, dict[str, str]]] = (),
        *,
        template_id: int | None = None,
        params: dict | None = None,
        **fields: Any,
    ) -> Batch:
        """A planned batch and its items (text, choice), in one transaction."""
        rows = [(text, choice) for text, choice in items]
        batch = Batch(
            name=name,
            template=template_id,
            params=params or {},
            planned=len(rows),
            status="planned",
            **fields,
        )
        batch.validate()
        created = now()
        with self.write():
            batch.save()
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                values = []
                for offset, (text, choice) in enumerate(chunk):
                    item = BatchItem(
                        batch=batch.id,
                        position=start + offset,
                        text=text,
                        choice=choice,
                        updated_at=created,
                    )
                    item.validate()
                    values.append(
                        {
                            "batch": batch.id,
                            "position": item.position,
                            "text": text,
                            "choice": choice,  # insert_many applies the field's db_value
                            "status": "planned",
                            "attempts": 0,
                            "updated_at": created,
                        }
                    )
                BatchItem.insert_many(values).execute()
        return batch

    @guarded
    def get_batch(self, batch_id: int) -> Batch:
        return self._get(Batch, batch_id)

    @guarded
    def list_batches(self, limit: int = 100) -> list[Batch]:
        return list(Batch.select().order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit))

    @guarded
    def update_batch(self, batch_id: int, **changes: Any) -> Batch:
        return self._save(self._get(Batch, batch_id), **changes)

    @guarded
    def delete_batch(self, batch_id: int) -> None:
        """Delete a batch record and its items; its generations stay in history, unlinked."""
        self._get(Batch, batch_id)
        Batch.delete().where(Batch.id == batch_id).execute()

    # -- items ------------------------------------------------------------------------------

    @guarded
    def batch_items(
        self,
        batch_id: int,
        statuses: Sequence[str] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BatchItem]:
        select = BatchItem.select().where(BatchItem.batch == batch_id)
        if statuses is not None:
            select = select.where(BatchItem.status.in_(list(statuses)))
        select = select.order_by(BatchItem.position)
        if limit is not None:
            select = select.limit(limit).offset(offset)
        return list(select)

    @guarded
    def get_batch_item(self, item_id: int) -> BatchItem:
        return self._get(BatchItem, item_id)

    @guarded
    def batch_counts(self, batch_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Items by status, for each batch (one query)."""
        counts: dict[int, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
        if not batch_ids:
            return counts
        query = (
            BatchItem.select(BatchItem.batch, BatchItem.status, fn.COUNT(BatchItem.id))
            .where(BatchItem.batch.in_(list(batch_ids)))
            .group_by(BatchItem.batch, BatchItem.status)
            .tuples()
        )
        for batch_id, status, count in query:
            counts.setdefault(batch_id, {})[status] = count
        return counts

    @guarded
    def batch_spend(self, batch_ids: Sequence[int]) -> dict[int, BatchSpend]:
        """Spend per batch from the ledger: it stays when the batch's images are purged."""
        found: dict[int, BatchSpend] = {
            batch_id: BatchSpend(Decimal(0), 0, 0) for batch_id in batch_ids
        }
        if not batch_ids:
            return found
        image = UsageStat.kind == "image"
        query = (
            UsageStat.select(
                UsageStat.batch_id,
                fn.SUM(UsageStat.cost),
                fn.SUM(image & UsageStat.cost.is_null()),
                fn.SUM(UsageStat.kind == "possibly_billed"),
            )
            .where(UsageStat.batch_id.in_(list(batch_ids)))
            .group_by(UsageStat.batch_id)
            .tuples()
        )
        for batch_id, cost, unknown, possibly in query:
            found[batch_id] = BatchSpend(
                Decimal(str(cost or 0)).quantize(Decimal("0.000001")),
                int(unknown or 0),
                int(possibly or 0),
            )
        return found

    @guarded
    def item_generations(self, item_ids: Sequence[int]) -> dict[int, list[Generation]]:
        """Every generation row of each item, oldest first."""
        found: dict[int, list[Generation]] = {item_id: [] for item_id in item_ids}
        for start in range(0, len(item_ids), _CHUNK):
            chunk = list(item_ids[start : start + _CHUNK])
            select = (
                Generation.select().where(Generation.batch_item.in_(chunk)).order_by(Generation.id)
            )
            for row in select:
                found[row.batch_item_id].append(row)
        return found

    # -- running ----------------------------------------------------------------------------

    @guarded
    def start_batch(
        self,
        batch_id: int,
        pid: int,
        *,
        requeue: Sequence[str] = (),
        only: Sequence[int] | None = None,
    ) -> Batch:
        """Mark the batch running in process ``pid``; items in ``requeue`` become planned again.

        ``only`` limits the requeue to those item ids. Refused (``ValidationError``) while
        another live process owns the batch; the caller has settled orphaned items.
        """
        with self.write():
            batch = self._get(Batch, batch_id)
            owner = owner_elsewhere(batch, pid)
            if owner is not None:
                raise ValidationError(busy_message(batch, owner))
            params = dict(batch.params or {})
            params.pop(STOP_IN_FLIGHT, None)
            if requeue:
                update = BatchItem.update(status="planned", error=None, updated_at=now()).where(
                    (BatchItem.batch == batch_id) & BatchItem.status.in_(list(requeue))
                )
                if only is not None:
                    update = update.where(BatchItem.id.in_(list(only)))
                update.execute()
            started = now()
            return self._save(
                batch,
                params=params,
                status="running",
                owner_pid=pid,
                stop_reason=None,
                started_at=batch.started_at or started,
                finished_at=None,
            )

    @guarded
    def claim_batch_item(
        self, batch_id: int, pid: int, among: Sequence[int] | None = None
    ) -> BatchItem | None:
        """The next planned item, marked running; None when none is left or the batch is no
        longer running in process ``pid`` (cancelled or paused elsewhere)."""
        with self.write():
            batch = Batch.get_or_none(Batch.id == batch_id)
            if batch is None or batch.status != "running" or batch.owner_pid != pid:
                return None
            select = BatchItem.select().where(
                (BatchItem.batch == batch_id) & (BatchItem.status == "planned")
            )
            if among is not None:
                select = select.where(BatchItem.id.in_(list(among)))
            item = select.order_by(BatchItem.position).first()
            if item is None:
                return None
            item.status = "running"
            item.attempts += 1
            item.updated_at = now()
            item.save()
            return item

    @guarded
    def begin_sending(self, batch_id: int, item_id: int, pid: int) -> bool:
        """Just before an item's request is sent: False (send nothing) unless the batch still
        runs in process ``pid``; else its pending rows record that it goes now.

        ``started_at`` of a row is its ``created_at`` until then, and differs from it after:
        settling what a dead process left tells a request sent from one that never was.
        """
        with self.write():
            batch = Batch.get_or_none(Batch.id == batch_id)
            if batch is None or batch.status != "running" or batch.owner_pid != pid:
                return False
            sent = now()
            pending = (Generation.batch_item == item_id) & (Generation.status == "pending")
            Generation.update(started_at=sent).where(
                pending & (Generation.created_at != sent)
            ).execute()
            Generation.update(started_at=sent + dt.timedelta(microseconds=1)).where(
                pending & (Generation.created_at == sent)
            ).execute()
            return True

    @guarded
    def discard_unsent(self, generation_ids: Sequence[int]) -> int:
        """Remove the rows of a batch request that was never sent (it waited for its turn
        when the batch stopped): history keeps only requests that reached the provider. A row
        sent (``begin_sending``), with a file or with a ledger row is never removed. Returns
        how many went."""
        if not generation_ids:
            return 0
        billed = UsageStat.select(UsageStat.generation).where(
            UsageStat.generation.in_(list(generation_ids))
        )
        with self.write():
            return (
                Generation.delete()
                .where(
                    Generation.id.in_(list(generation_ids))
                    & Generation.status.in_(["pending", "interrupted", "failed", "cancelled"])
                    & (Generation.started_at == Generation.created_at)
                    & Generation.file_path.is_null()
                    & Generation.id.not_in(billed)
                )
                .execute()
            )

    @guarded
    def finish_batch_item(
        self,
        item_id: int,
        status: str,
        *,
        error: str | None = None,
        prompt_id: int | None = None,
        undo_attempt: bool = False,
    ) -> BatchItem:
        """Record what an item's attempt became (``planned`` again when nothing was sent)."""
        with self.write():
            item = self._get(BatchItem, item_id)
            changes: dict[str, Any] = {"status": status, "error": error}
            if prompt_id is not None:
                changes["prompt"] = prompt_id
            if undo_attempt:
                changes["attempts"] = max(0, item.attempts - 1)
            return self._save(item, **changes)

    @guarded
    def stop_batch(
        self, batch_id: int, status: str, reason: str | None = None, *, pid: int | None = None
    ) -> Batch | None:
        """End a run: the new status and why; with ``pid``, only if that process still owns it.

        Returns None when ``pid`` no longer owns the batch (the status set elsewhere stays).
        """
        with self.write():
            batch = self._get(Batch, batch_id)
            if pid is not None and batch.owner_pid != pid:
                return None
            changes: dict[str, Any] = {"status": status, "stop_reason": reason, "owner_pid": None}
            if status in FINISHED:
                changes["finished_at"] = now()
            return self._save(batch, **changes)

    @guarded
    def request_batch_stop(
        self, batch_id: int, status: str, reason: str, *, in_flight: str = "finish"
    ) -> Batch:
        """Ask a batch to stop (``cancelled`` or ``paused``): its runner sees it at its next
        claim (or within a moment); ``in_flight="cancel"`` asks it to cancel its requests in
        flight too. Refused for a batch that is already over."""
        if status not in ("cancelled", "paused"):
            raise ValueError(status)
        if in_flight not in ("finish", "cancel"):
            raise ValueError(in_flight)
        with self.write():
            batch = self._get(Batch, batch_id)
            if batch.status in ("completed", "cancelled", "failed"):
                raise ValidationError(
                    f"Batch #{batch_id} is {batch.status}; there is nothing to "
                    f"{'cancel' if status == 'cancelled' else 'pause'}."
                )
            changes: dict[str, Any] = {"status": status, "stop_reason": reason}
            if status in FINISHED:
                changes["finished_at"] = now()
            if batch.status != "running" and not process_alive(batch.owner_pid):
                changes["owner_pid"] = None
            if in_flight == "cancel":
                changes["params"] = {**(batch.params or {}), STOP_IN_FLIGHT: "cancel"}
            return self._save(batch, **changes)

    @guarded
    def settle_items(self, item_ids: Sequence[int]) -> dict[str, int]:
        """Running items whose request is over without a recorded outcome (a cancel, a dead
        process) become what their newest attempt's generation rows say.

        No rows (the request was never created, so never sent): planned again. A succeeded
        row: succeeded. Pending or interrupted rows: interrupted (the request may have been
        billed), unless they never went (``begin_sending``): then they are removed and the
        item is planned. Possibly billed, failed: the same. Cancelled before an answer:
        planned. Returns how many items became what.
        """
        settled: dict[str, int] = {}
        with self.write():
            running = list(
                BatchItem.select().where(
                    BatchItem.id.in_(list(item_ids)) & (BatchItem.status == "running")
                )
            )
            rows = self.item_generations([item.id for item in running])
            for item in running:
                # A running item was last saved when it was claimed: rows older than that
                # belong to an earlier attempt.
                status, error, prompt_id = _settled(rows[item.id], item.updated_at)
                unsent = [
                    row.id
                    for row in _newest_attempt(rows[item.id])
                    if row.status in ("pending", "interrupted")
                ]
                if status == "planned" and unsent:
                    self.discard_unsent(unsent)
                changes: dict[str, Any] = {"status": status, "error": error}
                if prompt_id is not None and item.prompt_id is None:
                    changes["prompt"] = prompt_id
                if status == "planned":
                    changes["attempts"] = max(0, item.attempts - 1)
                self._save(item, **changes)
                settled[status] = settled.get(status, 0) + 1
        return settled

    @guarded
    def settle_orphaned_items(
        self, batch_id: int, reason: str, *, pid: int | None = None
    ) -> dict[str, int]:
        """A batch whose process died: its running items are settled (``settle_items``) and
        a batch still marked running becomes paused with ``reason``.

        With ``pid`` (the caller's), refused (``ValidationError``) while another live process
        owns the batch: its items in flight are not orphans.
        """
        with self.write():
            batch = self._get(Batch, batch_id)
            if pid is not None:
                owner = owner_elsewhere(batch, pid)
                if owner is not None:
                    raise ValidationError(busy_message(batch, owner))
            running = BatchItem.select(BatchItem.id).where(
                (BatchItem.batch == batch_id) & (BatchItem.status == "running")
            )
            settled = self.settle_items([item.id for item in running])
            if batch.status == "running":
                self._save(batch, status="paused", stop_reason=reason, owner_pid=None)
        return settled


def _newest_attempt(rows: list[Generation]) -> list[Generation]:
    if not rows:
        return []
    key = rows[-1].request_key
    return [row for row in rows if row.request_key == key]


def _settled(rows: list[Generation], claimed_at: Any = None) -> tuple[str, str | None, int | None]:
    """An orphaned item's status from its newest attempt's generation rows.

    ``claimed_at`` is when the item was claimed for the attempt being settled: when the newest
    rows surely were not billed (failed, cancelled) and are older than that, they belong to an
    earlier attempt (a rate-limited one sent again), and this attempt never made a row:
    planned. Rows that may have been billed or succeeded are kept whatever their age, except
    pending rows this attempt made and never sent (``begin_sending`` did not mark them): those
    are planned. Rows made outside a batch run (``GenerationService.retry`` of an item's
    generation sends without ``begin_sending``) are older than the claim, so never taken for
    unsent; a clock set back makes them look older too, which only keeps them interrupted.
    """
    if not rows:
        return "planned", None, None
    attempt = _newest_attempt(rows)
    statuses = {row.status for row in attempt}
    prompt_id = attempt[0].prompt_id
    earlier = claimed_at is not None and all(
        row.created_at is not None and row.created_at < claimed_at for row in attempt
    )
    if earlier and statuses <= {"failed", "cancelled"}:
        return "planned", None, prompt_id
    if "succeeded" in statuses:
        return "succeeded", None, prompt_id
    if (
        claimed_at is not None
        and statuses <= {"pending", "interrupted"}
        and all(
            row.created_at is not None
            and row.created_at >= claimed_at  # made by the attempt that claimed the item
            and row.started_at == row.created_at  # and never sent (see ``begin_sending``)
            for row in attempt
        )
    ):
        return "planned", None, prompt_id
    if statuses & {"pending", "interrupted"}:
        return (
            "interrupted",
            "dalletui stopped while this request was in flight; it may have been billed.",
            prompt_id,
        )
    if "possibly_billed" in statuses:
        return "possibly_billed", attempt[0].error_message, prompt_id
    if statuses == {"cancelled"}:
        return "planned", None, prompt_id
    return "failed", attempt[0].error_message, prompt_id
