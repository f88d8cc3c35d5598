"""BatchStore: migration 0003 from a 0002-era database, spend kept per batch, claims that
check who runs the batch, counts from the items, and settling what a dead process left."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playhouse.migrations import Runner

from dalletui.errors import ValidationError
from dalletui.storage import DatabaseManager
from dalletui.storage.batches import STOP_IN_FLIGHT
from dalletui.storage.database import MIGRATIONS_DIR, code_schema_version
from dalletui.storage.models import Batch, BatchItem, Generation, UsageStat, database

PID = 4242  # a process id that is not ours; the tests that need it dead or alive make one
NOW = "2026-11-20 10:00:00"


def _insert_0002(path: Path) -> None:
    """A database made by schema 0002: three batches (old statuses and counters), generations
    linked to them and to none, and their ledger rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0002_trust")
    database.pragma("user_version", 2)
    sql = database.execute_sql
    sql(
        "INSERT INTO templates (id, name, body, description, created_at, updated_at) "
        "VALUES (1, 'animals', 'a {animal}', '', ?, ?)",
        (NOW, NOW),
    )
    for batch_id, status, total, succeeded, failed in (
        (1, "succeeded", 3, 3, 0),
        (2, "partial", 4, 2, 2),
        (3, "pending", 5, 0, 0),
        (4, "cancelled", 2, 0, 0),
    ):
        sql(
            "INSERT INTO batches (id, name, template_id, status, total, succeeded, failed, "
            'params, created_at) VALUES (?, ?, 1, ?, ?, ?, ?, \'{"model": '
            '"gpt-image-1-mini"}\', ?)',
            (batch_id, f"batch {batch_id}", status, total, succeeded, failed, NOW),
        )
    sql(
        "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
        "is_favorite, notes) VALUES (1, 'a fox', 'h1', ?, ?, 3, 0, ''), "
        "(2, 'an owl', 'h2', ?, ?, 1, 0, '')",
        (NOW, NOW, NOW, NOW),
    )
    # Generations 1-3 belong to batch 1, 4-5 to batch 2, 6 to no batch.
    for gid, prompt_id, batch_id, cost in (
        (1, 1, 1, "0.0100"),
        (2, 1, 1, "0.0200"),
        (3, 2, 1, "0.0300"),
        (4, 2, 2, "0.0400"),
        (5, 2, 2, None),
        (6, 1, None, "0.5000"),
    ):
        sql(
            "INSERT INTO generations (id, prompt_id, batch_id, request_key, image_index, "
            "provider, model, size, quality, output_format, background, status, params, "
            "created_at) VALUES (?, ?, ?, ?, 0, 'openai', 'gpt-image-1-mini', '1024x1024', "
            "'low', 'png', 'auto', 'succeeded', '{}', ?)",
            (gid, prompt_id, batch_id, f"k{gid}", NOW),
        )
        sql(
            "INSERT INTO usage_stats (generation_id, kind, request_key, model, provider, "
            "input_text_tokens, input_image_tokens, output_image_tokens, output_text_tokens, "
            "total_tokens, cost, price_basis, prices, created_at) VALUES (?, 'image', ?, "
            "'gpt-image-1-mini', 'openai', 0, 0, 100, 0, 100, ?, 'tokens', '{}', ?)",
            (gid, f"k{gid}", cost, NOW),
        )
    database.close()


def test_migration_0003_keeps_batches_their_links_and_their_spend(home: Path) -> None:
    path = home / "dalletui.db"
    _insert_0002(path)
    db = DatabaseManager(path).open()
    try:
        assert db.schema_version() == code_schema_version()
        batches = {batch.id: batch for batch in Batch.select()}
        assert {i: b.status for i, b in batches.items()} == {
            1: "completed",
            2: "completed",
            3: "planned",
            4: "cancelled",
        }
        assert {i: b.planned for i, b in batches.items()} == {1: 3, 2: 4, 3: 5, 4: 2}
        assert batches[1].template_id == 1 and batches[1].params == {"model": "gpt-image-1-mini"}
        assert batches[1].owner_pid is None and batches[1].concurrency == 4
        # The table was altered in place: no generation lost its batch.
        links = {g.id: g.batch_id for g in Generation.select()}
        assert links == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: None}
        assert {g.batch_item_id for g in Generation.select()} == {None}
        ledger = {u.generation_id: u.batch_id for u in UsageStat.select()}
        assert ledger == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: None}
        spend = db.batch_spend([1, 2, 3])
        assert spend[1].cost == Decimal("0.06") and spend[1].unknown == 0
        assert spend[2].cost == Decimal("0.04") and spend[2].unknown == 1
        assert spend[3].cost == Decimal(0)
        # Purging every image of batch 1 (prompt 1 and 2 cascade) keeps what it cost.
        db.delete_prompt(1)
        db.delete_prompt(2)
        assert Generation.select().count() == 0
        assert db.batch_spend([1])[1].cost == Decimal("0.06")
        assert db.usage_totals().cost == Decimal("0.60")
        # The migrated batches are usable: counts come from items (none for the old ones).
        assert db.batch_counts([1, 3]) == {1: {}, 3: {}}
        assert BatchItem.select().count() == 0
    finally:
        db.close()


@pytest.fixture
def batch(db: DatabaseManager) -> Batch:
    return db.create_batch(
        "fox batch",
        [(f"a fox {index}", {"colour": f"c{index}"}) for index in range(5)],
        params={"model": "gpt-image-1-mini", "provider": "openai"},
        source="text",
        body="a fox",
        mode="repeat",
    )


def add_generation(
    db: DatabaseManager, batch: Batch, item: BatchItem | None, *, cost: str | None = "0.01"
) -> Generation:
    """A finished (succeeded) generation of ``batch`` with its ledger row."""
    prompt = db.record_prompt_use(item.text if item is not None else "a fox")
    [row] = db.create_generations(
        prompt,
        1,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
        batch_id=batch.id,
        batch_item_id=item.id if item is not None else None,
    )
    return db.finish_generation(
        row.id,
        usage={"cost": Decimal(cost) if cost is not None else None, "price_basis": "tokens"},
        status="succeeded",
        finished_at=dt.datetime.now(),
    )


def test_create_batch_stores_items_in_order(db: DatabaseManager, batch: Batch) -> None:
    items = db.batch_items(batch.id)
    assert [item.position for item in items] == [0, 1, 2, 3, 4]
    assert [item.choice for item in items] == [{"colour": f"c{i}"} for i in range(5)]
    assert {item.status for item in items} == {"planned"} and batch.planned == 5
    assert db.batch_counts([batch.id]) == {batch.id: {"planned": 5}}
    with pytest.raises(ValidationError):
        db.create_batch("empty prompt", [("   ", {})])
    assert Batch.select().count() == 1  # nothing of the refused batch was stored


def test_spend_per_batch_survives_purging_its_generations(
    db: DatabaseManager, batch: Batch
) -> None:
    items = db.batch_items(batch.id)
    for item, cost in zip(items, ("0.01", "0.02", None), strict=False):
        add_generation(db, batch, item, cost=cost)
    other = db.create_batch("other", [("an owl", {})])
    add_generation(db, other, None, cost="0.50")
    spend = db.batch_spend([batch.id, other.id])
    assert (spend[batch.id].cost, spend[batch.id].unknown) == (Decimal("0.03"), 1)
    assert spend[other.id].cost == Decimal("0.5")
    for generation in Generation.select().where(Generation.batch == batch.id):
        db.delete_prompt(generation.prompt_id)
    assert Generation.select().where(Generation.batch == batch.id).count() == 0
    assert db.batch_spend([batch.id])[batch.id].cost == Decimal("0.03")
    # Deleting the batch record keeps its ledger rows too (the money was spent).
    db.delete_batch(batch.id)
    assert UsageStat.select().where(UsageStat.batch_id == batch.id).count() == 3


def test_claim_refuses_unless_the_batch_runs_in_this_process(
    db: DatabaseManager, batch: Batch
) -> None:
    me = 1001
    assert db.claim_batch_item(batch.id, me) is None  # planned, not running
    db.start_batch(batch.id, PID)  # PID is not alive: taken over by anyone
    assert db.claim_batch_item(batch.id, me) is None  # running, but in another process
    db.start_batch(batch.id, me)
    first = db.claim_batch_item(batch.id, me)
    assert (first.position, first.status, first.attempts) == (0, "running", 1)
    second = db.claim_batch_item(batch.id, me, among=[db.batch_items(batch.id)[3].id])
    assert second.position == 3
    assert db.claim_batch_item(batch.id, me, among=[first.id]) is None  # not planned
    db.request_batch_stop(batch.id, "cancelled", "Cancelled by the user.")
    assert db.claim_batch_item(batch.id, me) is None
    stored = db.get_batch(batch.id)
    assert stored.status == "cancelled" and stored.owner_pid == me  # still finishing
    counts = db.batch_counts([batch.id])[batch.id]
    assert counts == {"running": 2, "planned": 3}
    db.finish_batch_item(first.id, "succeeded")
    db.finish_batch_item(second.id, "planned", undo_attempt=True)
    assert db.batch_counts([batch.id])[batch.id] == {"succeeded": 1, "planned": 4}
    assert db.get_batch_item(second.id).attempts == 0
    # The run ends: only its owner's stop counts.
    assert db.stop_batch(batch.id, "paused", "late", pid=PID) is None
    ended = db.stop_batch(batch.id, "cancelled", "Cancelled by the user.", pid=me)
    assert ended.owner_pid is None and ended.finished_at is not None
    with pytest.raises(ValidationError, match="nothing to cancel"):
        db.request_batch_stop(batch.id, "cancelled", "again")


def test_a_stop_from_elsewhere_can_ask_to_cancel_the_requests_in_flight(
    db: DatabaseManager, batch: Batch
) -> None:
    db.start_batch(batch.id, 1001)
    stopped = db.request_batch_stop(batch.id, "cancelled", "from a shell", in_flight="cancel")
    assert stopped.params[STOP_IN_FLIGHT] == "cancel"
    assert stopped.params["model"] == "gpt-image-1-mini"
    db.stop_batch(batch.id, "cancelled", "from a shell", pid=1001)
    restarted = db.start_batch(batch.id, 1001)
    assert STOP_IN_FLIGHT not in restarted.params and restarted.stop_reason is None
    assert restarted.status == "running" and restarted.finished_at is None


@pytest.fixture
def live_pid() -> Iterator[int]:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def test_a_batch_of_a_live_process_is_neither_started_nor_settled_elsewhere(
    db: DatabaseManager, batch: Batch, live_pid: int
) -> None:
    db.start_batch(batch.id, live_pid)
    item = db.claim_batch_item(batch.id, live_pid)
    with pytest.raises(ValidationError, match=f"process {live_pid}"):
        db.start_batch(batch.id, 1001)
    with pytest.raises(ValidationError, match=f"process {live_pid}"):
        db.settle_orphaned_items(batch.id, "gone", pid=1001)
    db.request_batch_stop(batch.id, "cancelled", "stop")
    with pytest.raises(ValidationError, match="still finishing its requests in flight"):
        db.start_batch(batch.id, 1001)
    assert db.get_batch_item(item.id).status == "running"
    assert db.get_batch(batch.id).owner_pid == live_pid


def _pending(db: DatabaseManager, item: BatchItem, batch: Batch, **when: dt.datetime) -> list:
    prompt = db.record_prompt_use(item.text)
    rows = db.create_generations(
        prompt,
        2,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
        batch_id=batch.id,
        batch_item_id=item.id,
    )
    for row in rows:
        if when:
            Generation.update(**when).where(Generation.id == row.id).execute()
    return [row.id for row in rows]


def test_settling_what_a_dead_process_left(db: DatabaseManager, batch: Batch) -> None:
    db.start_batch(batch.id, PID)
    items = [db.claim_batch_item(batch.id, PID) for _ in range(5)]
    never, pending, done, billed, cancelled = items
    _pending(db, pending, batch)
    assert db.begin_sending(batch.id, pending.id, PID)  # sent: it may have been billed
    ids = _pending(db, done, batch)
    db.finish_generation(ids[0], usage={"cost": Decimal("0.01")}, status="succeeded")
    db.fail_generations(ids[1:], "failed", "server", "one of two missing")
    db.mark_possibly_billed(_pending(db, billed, batch), "timeout", "may have been billed")
    db.fail_generations(_pending(db, cancelled, batch), "cancelled", "cancelled", "cancelled")

    settled = db.settle_orphaned_items(batch.id, "its process ended", pid=1001)
    assert settled == {"planned": 2, "interrupted": 1, "succeeded": 1, "possibly_billed": 1}
    by_id = {item.id: item for item in db.batch_items(batch.id)}
    assert by_id[never.id].status == "planned" and by_id[never.id].attempts == 0
    assert by_id[pending.id].status == "interrupted"
    assert "may have been billed" in by_id[pending.id].error
    assert by_id[done.id].status == "succeeded" and by_id[done.id].prompt_id is not None
    assert by_id[billed.id].status == "possibly_billed"
    assert by_id[cancelled.id].status == "planned"  # cancelled before an answer: never billed
    stopped = db.get_batch(batch.id)
    assert stopped.status == "paused" and stopped.stop_reason == "its process ended"
    assert stopped.owner_pid is None


def test_an_attempt_that_made_no_row_is_planned_whatever_earlier_attempts_left(
    db: DatabaseManager, batch: Batch
) -> None:
    # An item rate-limited once (failed rows, sent back to planned), claimed again, and the
    # process died before the new attempt made its rows: nothing of it was sent.
    db.start_batch(batch.id, PID)
    item = db.claim_batch_item(batch.id, PID)
    earlier = dt.datetime.now() - dt.timedelta(seconds=30)
    db.fail_generations(
        _pending(db, item, batch, created_at=earlier), "failed", "rate_limit", "rate limited"
    )
    db.finish_batch_item(item.id, "planned", error="rate limited")
    again = db.claim_batch_item(batch.id, PID)
    assert again.id == item.id and again.attempts == 2
    assert db.settle_items([item.id]) == {"planned": 1}
    settled = db.get_batch_item(item.id)
    assert (settled.status, settled.attempts) == ("planned", 1)
    # Possibly billed rows of an earlier attempt stay what they were (never re-sent unasked).
    billed = db.claim_batch_item(batch.id, PID)
    db.mark_possibly_billed(
        _pending(db, billed, batch, created_at=earlier), "timeout", "may have been billed"
    )
    assert db.settle_items([billed.id]) == {"possibly_billed": 1}


def test_rows_made_but_never_sent_are_planned_again(db: DatabaseManager, batch: Batch) -> None:
    db.start_batch(batch.id, PID)
    waited, went = db.claim_batch_item(batch.id, PID), db.claim_batch_item(batch.id, PID)
    waited_rows, went_rows = _pending(db, waited, batch), _pending(db, went, batch)
    assert db.begin_sending(batch.id, went.id, PID)
    assert not db.begin_sending(batch.id, waited.id, 1001)  # not this process's batch
    rows = {row.id: row for row in Generation.select()}
    assert all(rows[i].started_at == rows[i].created_at for i in waited_rows)
    assert all(rows[i].started_at != rows[i].created_at for i in went_rows)
    # The doctor marks pending rows of a dead process interrupted at the next start.
    db.fail_generations(waited_rows + went_rows, "interrupted", "interrupted", "stopped")
    assert db.settle_orphaned_items(batch.id, "gone") == {"planned": 1, "interrupted": 1}
    assert db.get_batch_item(waited.id).status == "planned"
    assert db.get_batch_item(went.id).status == "interrupted"
    statuses = {row.id: row.status for row in Generation.select()}
    assert not set(waited_rows) & set(statuses)  # never sent: no row left behind
    assert {statuses[i] for i in went_rows} == {"interrupted"}
    # Rows with a file or a ledger row are never discarded.
    kept = add_generation(db, batch, None)
    assert db.discard_unsent([kept.id, *went_rows]) == 0
    # A stopped batch sends nothing more.
    db.stop_batch(batch.id, "paused", "gone")
    assert not db.begin_sending(batch.id, went.id, PID)


def test_a_request_sent_outside_the_run_is_never_taken_for_unsent(
    db: DatabaseManager, batch: Batch
) -> None:
    # A retry of an item's generation (GenerationService.retry) sends without begin_sending;
    # if a run then claims the item and dies before making its own rows, those rows are the
    # newest: they were sent and may have been billed.
    db.start_batch(batch.id, PID)
    item = db.claim_batch_item(batch.id, PID)
    earlier = dt.datetime.now() - dt.timedelta(seconds=5)
    rows = _pending(db, item, batch, created_at=earlier, started_at=earlier)
    assert db.settle_items([item.id]) == {"interrupted": 1}
    assert {row.status for row in Generation.select().where(Generation.id.in_(rows))} == {"pending"}
