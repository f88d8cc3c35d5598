"""verify_phase3 checks for batches: items, counts from items, a dead runner settled, spend kept."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from verification.registry import check


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@check("batches: a planned batch runs offline to completed, one image per prompt")
def check_batch_run(home: Path) -> None:
    from dalletui.config import Settings
    from dalletui.services.context import open_services

    services = open_services(Settings(home=home, provider="offline"))
    try:
        plan = services.batches.planner().plan(
            "a {colour} {animal}", variables={"colour": ["red", "blue"], "animal": ["fox", "owl"]}
        )
        assert plan.count == 4, plan.count
        batch = services.batches.create(plan, concurrency=2)
        progress = asyncio.run(services.batches.run(batch.id))
        assert progress.status == "completed" and progress.done == 4, progress
        rows = services.db.list_generations(batch_id=batch.id)
        assert sorted(g.prompt.text for g in rows) == sorted(i.text for i in plan.items), rows
        assert all(g.status == "succeeded" and g.batch_item_id for g in rows), rows
    finally:
        services.close()


@check("batches: a batch whose process died is settled: unsent planned, in flight interrupted")
def check_batch_settle(home: Path) -> None:
    from dalletui.storage import DatabaseManager

    db = DatabaseManager(home / "dalletui.db").open()
    try:
        batch = db.create_batch("dead", [("a fox", {}), ("an owl", {}), ("a cat", {})])
        pid = _dead_pid()
        db.start_batch(batch.id, pid)
        sent = db.claim_batch_item(batch.id, pid)
        unsent = db.claim_batch_item(batch.id, pid)
        assert sent is not None and unsent is not None
        prompt = db.record_prompt_use(sent.text)
        db.create_generations(
            prompt,
            1,
            provider="openai",
            model="gpt-image-1-mini",
            size="1024x1024",
            quality="low",
            output_format="png",
            batch_id=batch.id,
            batch_item_id=sent.id,
        )
        assert db.begin_sending(batch.id, sent.id, pid), "the request could not go"
        settled = db.settle_orphaned_items(batch.id, "the process died")
        assert settled == {"interrupted": 1, "planned": 1}, settled
        assert db.get_batch(batch.id).status == "paused"
        counts = db.batch_counts([batch.id])[batch.id]
        assert counts == {"interrupted": 1, "planned": 2}, counts
    finally:
        db.close()
