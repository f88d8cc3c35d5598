"""BatchService.run end to end: the real openai SDK against the fake server on 127.0.0.1.

Bounded concurrency measured in the server, one shared backoff for 429s, batches stopped by
errors every item would meet, possibly billed items never sent twice unless asked, cancel and
resume without duplicates, retry of the failed items, and batches left by a dead (or still
live) process. Timing-dependent steps wait on conditions (``wait_in_flight``,
``hold_answers``), never on sleeps with tight bounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.generation.types import GenerationRequest
from dalletui.services.batches import BatchControl, BatchEvent, SharedBackoff, Slot
from dalletui.services.context import Services, open_services
from dalletui.storage.models import Batch, Generation, UsageStat
from tests.fakes import FakeOpenAIServer, Fault, Ok

API_KEY = "sk-test-batches"
REQUEST = GenerationRequest(prompt="-", model="gpt-image-1-mini", size="1024x1024", quality="low")


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake
        fake.release_answers()
    assert not fake.errors, "fake OpenAI server raised:\n" + "\n".join(fake.errors)


def open_for(home: Path, server: FakeOpenAIServer, *, timeout: float = 10.0) -> Services:
    settings = Settings(
        home=home,
        api_key=API_KEY,
        base_url=server.base_url,
        provider="openai",
        request_timeout=timeout,
    )
    return open_services(settings)


@pytest.fixture
async def services(home: Path, server: FakeOpenAIServer) -> Any:
    opened = open_for(home, server)
    yield opened
    await opened.aclose()


def make_batch(services: Services, count: int, *, concurrency: int = 4) -> Batch:
    """A planned batch of ``count`` distinct prompts (as ``BatchService.create`` stores one)."""
    params = {key: value for key, value in REQUEST.params().items() if key != "prompt"}
    params["provider"] = "openai"
    return services.db.create_batch(
        "test batch",
        [(f"a fox, picture {index}", {}) for index in range(count)],
        params=params,
        source="text",
        body="a fox",
        mode="repeat",
        concurrency=concurrency,
    )


def release_when_in_flight(server: FakeOpenAIServer, count: int) -> threading.Thread:
    """Hold every answer until ``count`` requests are in flight at once, then let them go."""
    server.hold_answers()

    def release() -> None:
        server.wait_in_flight(count, timeout=30)
        server.release_answers()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


async def wait_in_flight(server: FakeOpenAIServer, count: int) -> None:
    assert await asyncio.to_thread(server.wait_in_flight, count, 30), "requests never arrived"


class Events:
    """Every BatchEvent of a run, checked to be JSON-safe as it arrives."""

    def __init__(self) -> None:
        self.seen: list[BatchEvent] = []

    def __call__(self, event: BatchEvent) -> None:
        json.dumps(event.to_dict())
        self.seen.append(event)

    def kinds(self, kind: str) -> list[BatchEvent]:
        return [event for event in self.seen if event.kind == kind]


def item_rows(services: Services, batch_id: int) -> dict[int, list[Generation]]:
    items = services.batches.items(batch_id)
    return services.db.item_generations([item.id for item in items])


def assert_each_item_succeeded_once(services: Services, batch_id: int) -> None:
    """Every item succeeded, with exactly one succeeded generation row (and one file)."""
    items = services.batches.items(batch_id)
    rows = item_rows(services, batch_id)
    assert {item.status for item in items} == {"succeeded"}
    for item in items:
        good = [row for row in rows[item.id] if row.status == "succeeded"]
        assert len(good) == 1, (item.text, [row.status for row in rows[item.id]])
        assert Path(good[0].file_path).is_file()
        assert good[0].prompt.text == item.text


def answered_prompts(server: FakeOpenAIServer) -> Counter[str | None]:
    """How many times each prompt was answered with images (200)."""
    return Counter(r.prompt for r in server.generation_requests if r.status == 200)


# -- concurrency ------------------------------------------------------------------------------


async def test_twelve_images_at_concurrency_four(
    services: Services, server: FakeOpenAIServer
) -> None:
    plan = services.batches.planner().plan(
        "a {fox|owl|cat} in the {snow|rain|sun|fog}", request=REQUEST
    )
    assert plan.count == 12
    batch = services.batches.create(plan, concurrency=4)
    server.latency = 0.05
    release_when_in_flight(server, 4)  # proves 4 went out at once
    events = Events()
    progress = await services.batches.run(batch.id, on_event=events)

    assert progress.status == "completed" and progress.done == 12 and progress.total == 12
    assert (progress.failed, progress.remaining, progress.running) == (0, 0, 0)
    assert server.generation_count == 12
    assert server.max_in_flight == 4
    assert sorted(server.prompts) == sorted(item.text for item in plan.items)
    assert_each_item_succeeded_once(services, batch.id)
    rows = Generation.select().where(Generation.batch == batch.id)
    files = {row.file_path for row in rows if row.status == "succeeded"}
    assert len(files) == 12 and all(Path(path).is_file() for path in files)
    # Spend from the ledger, kept per batch; every prompt is in history, linked to its item.
    ledger = UsageStat.select().where(UsageStat.batch_id == batch.id)
    assert ledger.count() == 12
    assert progress.spend == sum(row.cost for row in ledger) and progress.spend > 0
    assert all(item.prompt_id is not None for item in services.batches.items(batch.id))
    # Events: started first, finished last, one item_started and item_finished per prompt.
    assert events.seen[0].kind == "started" and events.seen[-1].kind == "finished"
    assert len(events.kinds("item_started")) == 12
    finished = events.kinds("item_finished")
    assert len(finished) == 12 and all(len(event.generation_ids) == 1 for event in finished)
    assert events.seen[-1].progress.done == 12
    assert services.batches.get(batch.id).owner_pid is None
    assert "12 of 12 done" in progress.describe()


async def test_a_batch_never_has_more_in_flight_than_asked(
    services: Services, server: FakeOpenAIServer
) -> None:
    server.latency = 0.02
    server.latency_jitter = 0.05
    batch = make_batch(services, 20, concurrency=3)
    release_when_in_flight(server, 3)
    progress = await services.batches.run(batch.id)
    assert progress.done == 20 and server.generation_count == 20
    assert server.max_in_flight == 3
    assert_each_item_succeeded_once(services, batch.id)


# -- rate limits --------------------------------------------------------------------------------


#: Requests arriving this soon after a 429 was answered were sent before the client could have
#: read it (two retries sent at the same instant): not "during" its hold.
TIE_S = 0.02


def assert_no_request_during_a_hold(server: FakeOpenAIServer) -> list[tuple[float, float]]:
    """No generation request arrived while a 429 answered before it asked everyone to wait."""
    requests = server.generation_requests
    holds = []
    for limited in requests:
        if limited.status != 429:
            continue
        wait = float(dict(limited.behaviour.headers)["retry-after-ms"]) / 1000
        assert limited.answered is not None
        start, end = limited.answered, limited.answered + wait
        holds.append((start, end))
        during = [r.prompt for r in requests if start + TIE_S < r.arrived < end]
        assert during == [], f"sent during the hold of {limited.prompt!r}: {during}"
    return holds


async def test_rate_limits_hold_every_worker_and_halve_the_limit(
    services: Services, server: FakeOpenAIServer
) -> None:
    server.latency = 0.25
    batch = make_batch(services, 12, concurrency=4)
    # Of the first four requests (all in flight at once), two meet a 429 asking for 0.5 s.
    server.script(Fault.rate_limit(retry_after_ms=500), Fault.rate_limit(retry_after_ms=500))
    release_when_in_flight(server, 4)
    events = Events()
    progress = await services.batches.run(batch.id, on_event=events)

    assert progress.status == "completed" and progress.done == 12
    assert_each_item_succeeded_once(services, batch.id)
    assert server.generation_count == 14  # 12 prompts + 2 retries
    assert set(answered_prompts(server).values()) == {1}  # every prompt made images once
    assert len(events.kinds("waiting")) == 2
    [(_, first_end), (_, second_end)] = sorted(assert_no_request_during_a_hold(server))
    hold_end = max(first_end, second_end)
    # After the hold only half as many are in flight (the two retries) until a request sent
    # after it succeeds; then the limit grows back to 4.
    after = [r for r in server.generation_requests if r.arrived >= hold_end]
    first_answer = min(r.answered for r in after if r.answered is not None)
    assert server.max_in_flight_between(hold_end, first_answer) == 2
    assert server.max_in_flight_between(first_answer, after[-1].answered) == 4
    assert server.max_in_flight == 4


async def test_a_rate_limit_storm_slows_the_batch_and_it_still_completes(
    services: Services, server: FakeOpenAIServer
) -> None:
    server.latency = 0.1
    batch = make_batch(services, 8, concurrency=4)
    # All four first requests are limited, and so are the next two sent.
    server.script(*Fault.rate_limit_storm(6, retry_after_ms=300))
    release_when_in_flight(server, 4)
    progress = await services.batches.run(batch.id)

    assert progress.status == "completed" and progress.done == 8
    assert_each_item_succeeded_once(services, batch.id)
    assert server.generation_count == 14
    assert set(answered_prompts(server).values()) == {1}
    assert_no_request_during_a_hold(server)
    # The first hold halved the limit to 2 (the two retries after it), the second to 1: one
    # request at a time until one sent after it succeeds.
    second = max(r.answered for r in server.generation_requests if r.status == 429)
    assert 429 not in {r.status for r in server.generation_requests if r.arrived > second}
    ok = min(r.answered for r in server.generation_requests if r.arrived > second)
    assert server.max_in_flight_between(second + TIE_S, ok) == 1


def test_the_shared_backoff_halves_once_per_episode_and_grows_back() -> None:
    clock = [100.0]
    throttle = SharedBackoff(8, clock=lambda: clock[0])
    early = Slot(since=99.0)
    throttle.hold(2.0)
    throttle.hold(3.0)  # a second 429 of the same episode: a longer hold, not a second halving
    assert (throttle.allowed, throttle.resume_at, throttle.reductions) == (4, 103.0, 1)
    throttle.succeeded(early)  # sent before the halving: says nothing about the new rate
    assert throttle.allowed == 4
    clock[0] = 104.0
    throttle.succeeded(Slot(since=103.5))
    assert throttle.allowed == 5
    throttle.hold(1.0)  # a new episode
    assert throttle.allowed == 2 and throttle.reductions == 2
    assert throttle.remaining_hold() == 1.0
    assert throttle.remaining_hold(after=0.4) == pytest.approx(0.6)


# -- errors every item would meet --------------------------------------------------------------


async def test_insufficient_quota_stops_the_batch_and_nothing_more_is_sent(
    services: Services, server: FakeOpenAIServer
) -> None:
    server.latency = 0.1
    batch = make_batch(services, 12, concurrency=4)
    server.script(Fault.insufficient_quota())
    release_when_in_flight(server, 4)
    events = Events()
    progress = await services.batches.run(batch.id, on_event=events)

    assert progress.status == "failed"
    assert "credit" in progress.stop_reason and "quota" in progress.stop_reason
    assert server.generation_count == 4  # the three already in flight finished; no more
    [quota] = [r for r in server.generation_requests if r.status == 429]
    assert not [r for r in server.generation_requests if r.arrived > quota.answered]
    assert (progress.done, progress.failed, progress.remaining) == (3, 1, 8)
    [stopping] = events.kinds("stopping")
    assert "quota" in stopping.message
    stored = services.batches.get(batch.id)
    assert stored.status == "failed" and stored.finished_at is not None
    assert stored.owner_pid is None


async def test_a_rejected_key_stops_the_batch(home: Path) -> None:
    with FakeOpenAIServer(api_key="sk-the-right-key") as server:
        services = open_for(home, server)
        try:
            batch = make_batch(services, 10, concurrency=2)
            release_when_in_flight(server, 2)
            progress = await services.batches.run(batch.id)
        finally:
            await services.aclose()
            server.release_answers()
    assert progress.status == "failed" and "API key was rejected" in progress.stop_reason
    assert server.generation_count == 2
    assert (progress.failed, progress.remaining, progress.done) == (2, 8, 0)


# -- possibly billed ------------------------------------------------------------------------


async def test_possibly_billed_items_are_sent_again_only_when_asked(
    home: Path, server: FakeOpenAIServer
) -> None:
    services = open_for(home, server, timeout=0.5)
    try:
        batch = make_batch(services, 5, concurrency=1)
        server.script(Ok(), Fault.slow(5), Ok(), Fault.cut_after_headers(), Ok())
        progress = await services.batches.run(batch.id)
        assert (progress.done, progress.possibly_billed, progress.remaining) == (3, 2, 0)
        assert server.generation_count == 5
        maybe = [item for item in services.batches.items(batch.id) if item.error]
        assert {item.status for item in maybe} == {"possibly_billed"}
        assert all("may have been billed" in item.error for item in maybe)

        # A plain resume sends nothing again, and says how to.
        with pytest.raises(ValidationError) as refused:
            await services.batches.run(batch.id)
        assert "--rerun-interrupted" in str(refused.value)
        assert server.generation_count == 5

        # Asked: exactly those two are sent again.
        events = Events()
        progress = await services.batches.run(batch.id, rerun_interrupted=True, on_event=events)
        assert progress.status == "completed" and progress.done == 5
        assert sorted(server.prompts[5:]) == sorted(item.text for item in maybe)
        assert_each_item_succeeded_once(services, batch.id)
        rows = item_rows(services, batch.id)
        for item in maybe:
            assert [row.status for row in rows[item.id]] == ["possibly_billed", "succeeded"]
        assert events.seen[0].message is None  # nothing left behind this time
    finally:
        await services.aclose()


async def test_three_possibly_billed_in_a_row_pause_the_batch(
    home: Path, server: FakeOpenAIServer
) -> None:
    services = open_for(home, server, timeout=0.5)
    try:
        batch = make_batch(services, 6, concurrency=1)
        server.script(Fault.cut_after_headers(), Fault.drop_connection(), Fault.slow(5))
        progress = await services.batches.run(batch.id)
        assert progress.status == "paused"
        assert "3 requests in a row may have been billed" in progress.stop_reason
        assert server.generation_count == 3
        assert (progress.possibly_billed, progress.remaining, progress.done) == (3, 3, 0)

        events = Events()
        progress = await services.batches.run(batch.id, on_event=events)
        assert "3 prompts were in flight or possibly billed" in events.seen[0].message
        assert progress.status == "completed"
        assert (progress.done, progress.possibly_billed) == (3, 3)
        assert server.generation_count == 6
        assert len(set(server.prompts)) == 6  # no prompt was sent twice
    finally:
        await services.aclose()


# -- cancel and resume ----------------------------------------------------------------------


async def start_held(
    services: Services, server: FakeOpenAIServer, batch: Batch, **options: Any
) -> asyncio.Task[Any]:
    """Start running ``batch`` with every answer held; returns once 4 requests are in flight."""
    server.hold_answers()
    task = asyncio.create_task(services.batches.run(batch.id, **options))
    await wait_in_flight(server, 4)
    return task


async def resume_and_check_no_duplicates(
    services: Services, server: FakeOpenAIServer, batch: Batch, *, sent: int
) -> None:
    progress = await services.batches.run(batch.id)
    assert progress.status == "completed" and progress.done == 12
    assert server.generation_count == sent
    assert len(set(server.prompts)) == sent
    assert_each_item_succeeded_once(services, batch.id)
    assert {item.attempts for item in services.batches.items(batch.id)} == {1}


async def test_cancel_letting_in_flight_finish_then_resume(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 12, concurrency=4)
    control = BatchControl()
    task = await start_held(services, server, batch, control=control)
    control.stop("cancelled", in_flight="finish")
    server.release_answers()
    progress = await task
    assert progress.status == "cancelled" and progress.stop_reason == "Cancelled by the user."
    assert (progress.done, progress.remaining, progress.running) == (4, 8, 0)
    assert server.generation_count == 4
    await resume_and_check_no_duplicates(services, server, batch, sent=12)


async def test_cancel_cancelling_in_flight_then_resume_and_rerun(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 12, concurrency=4)
    control = BatchControl()
    task = await start_held(services, server, batch, control=control)
    control.stop("cancelled", in_flight="cancel")
    progress = await task
    server.release_answers()
    assert progress.status == "cancelled"
    assert (progress.possibly_billed, progress.remaining, progress.done) == (4, 8, 0)
    cancelled = {item.text for item in services.batches.items(batch.id, ["possibly_billed"])}
    assert cancelled == set(server.prompts)
    # The four sent are possibly billed; prompts whose rows were made but that were not sent
    # yet are planned again, and their rows are gone (history keeps what was sent).
    rows = item_rows(services, batch.id)
    for item in services.batches.items(batch.id):
        statuses = [row.status for row in rows[item.id]]
        assert statuses == (["possibly_billed"] if item.text in cancelled else [])

    # Resume sends only what was never sent...
    progress = await services.batches.run(batch.id)
    assert (progress.done, progress.possibly_billed) == (8, 4)
    assert server.generation_count == 12 and len(set(server.prompts)) == 12
    # ... and the cancelled requests only when asked.
    progress = await services.batches.run(batch.id, rerun_interrupted=True)
    assert progress.status == "completed" and progress.done == 12
    assert server.generation_count == 16
    assert sorted(server.prompts[12:]) == sorted(cancelled)
    assert_each_item_succeeded_once(services, batch.id)


async def test_cancel_from_this_process_through_the_service(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 12, concurrency=4)
    task = await start_held(services, server, batch)
    assert services.batches.running_here(batch.id)
    services.batches.cancel(batch.id, in_flight="cancel")
    progress = await task
    server.release_answers()
    assert progress.status == "cancelled" and progress.possibly_billed == 4
    assert not services.batches.running_here(batch.id)
    stored = services.batches.get(batch.id)
    assert stored.owner_pid is None and stored.finished_at is not None
    with pytest.raises(ValidationError):
        services.batches.cancel(batch.id)  # already over


@pytest.mark.parametrize("in_flight", ["finish", "cancel"])
async def test_cancel_from_another_process_then_resume(
    services: Services, server: FakeOpenAIServer, home: Path, in_flight: str
) -> None:
    batch = make_batch(services, 12, concurrency=4)
    task = await start_held(services, server, batch)
    code = (
        "from pathlib import Path\n"
        "from dalletui.config import Settings\n"
        "from dalletui.services.context import open_services\n"
        f"services = open_services(Settings(home=Path({str(home)!r})))\n"
        f"services.batches.cancel({batch.id}, 'Cancelled from a shell.', in_flight={in_flight!r})\n"
        "services.close()\n"
    )
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=Path(__file__).resolve().parents[1]
    )
    assert await other.wait() == 0
    if in_flight == "finish":
        server.release_answers()
    progress = await task
    server.release_answers()
    assert progress.status == "cancelled" and progress.stop_reason == "Cancelled from a shell."
    assert server.generation_count == 4
    if in_flight == "finish":
        assert (progress.done, progress.remaining) == (4, 8)
        await resume_and_check_no_duplicates(services, server, batch, sent=12)
    else:
        assert (progress.possibly_billed, progress.remaining) == (4, 8)
        progress = await services.batches.run(batch.id)
        assert (progress.done, progress.possibly_billed) == (8, 4)
        assert server.generation_count == 12 and len(set(server.prompts)) == 12


async def test_cancelling_the_run_itself_records_what_was_in_flight(
    services: Services, server: FakeOpenAIServer
) -> None:
    # The app closing cancels the run's task: the four requests sent are possibly billed, the
    # prompts prepared but not sent are planned again, and the batch is paused, not running.
    batch = make_batch(services, 12, concurrency=4)
    task = await start_held(services, server, batch)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.release_answers()
    progress = services.batches.progress(batch.id)
    assert progress.status == "paused" and "stopped while the batch ran" in progress.stop_reason
    assert (progress.possibly_billed, progress.remaining, progress.running) == (4, 8, 0)
    assert services.batches.get(batch.id).owner_pid is None
    assert not services.batches.running_here(batch.id)
    progress = await services.batches.run(batch.id)
    assert (progress.done, progress.possibly_billed) == (8, 4)
    assert server.generation_count == 12 and len(set(server.prompts)) == 12


async def test_a_batch_runs_once_at_a_time_here(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 6, concurrency=4)
    task = await start_held(services, server, batch)
    with pytest.raises(ValidationError, match="already running here"):
        await services.batches.run(batch.id)
    server.release_answers()
    progress = await task
    assert progress.done == 6 and server.generation_count == 6


# -- retry failed ---------------------------------------------------------------------------


async def test_retry_sends_only_the_failed_items(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 6, concurrency=1)
    server.script(Ok(), Fault.moderation(), Ok(), Fault.moderation(), Ok(), Ok())
    progress = await services.batches.run(batch.id)
    assert progress.status == "completed"
    assert (progress.done, progress.failed) == (4, 2)
    failed = services.batches.items(batch.id, ["failed"])
    assert all("content policy" in item.error for item in failed)

    progress = await services.batches.run(batch.id, only_failed=True)
    assert progress.status == "completed" and progress.done == 6
    assert server.generation_count == 8
    assert sorted(server.prompts[6:]) == sorted(item.text for item in failed)
    assert_each_item_succeeded_once(services, batch.id)
    with pytest.raises(ValidationError, match="no failed prompts"):
        await services.batches.run(batch.id, only_failed=True)


async def test_retry_leaves_prompts_never_sent_alone(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 6, concurrency=1)
    server.script(Fault.moderation(), Ok(), Fault.insufficient_quota())
    progress = await services.batches.run(batch.id)
    assert progress.status == "failed"
    assert (progress.done, progress.failed, progress.remaining) == (1, 2, 3)

    progress = await services.batches.run(batch.id, only_failed=True)
    assert server.generation_count == 5
    assert (progress.done, progress.remaining) == (3, 3)
    assert progress.status == "paused" and "3 prompts were never sent" in progress.stop_reason
    progress = await services.batches.run(batch.id)
    assert progress.status == "completed" and progress.done == 6
    assert_each_item_succeeded_once(services, batch.id)


# -- a process that went away ---------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def leave_in_flight(services: Services, batch: Batch, pid: int) -> tuple[Any, Any]:
    """What a process ``pid`` that died mid-way leaves: the batch running, three items
    claimed: the first with its request's pending row, sent; the second before any row; the
    third with its row made, waiting for its turn (neither of those two was sent)."""
    db = services.db
    db.start_batch(batch.id, pid)
    sent = db.claim_batch_item(batch.id, pid)
    unsent = db.claim_batch_item(batch.id, pid)
    waiting = db.claim_batch_item(batch.id, pid)
    for item in (sent, waiting):
        db.create_generations(
            db.record_prompt_use(item.text),
            1,
            provider="openai",
            model=REQUEST.model,
            size=REQUEST.size,
            quality=REQUEST.quality,
            output_format="png",
            params={"owner_pid": pid},
            batch_id=batch.id,
            batch_item_id=item.id,
        )
    assert db.begin_sending(batch.id, sent.id, pid)
    return sent, unsent, waiting


async def test_a_batch_left_by_a_dead_process_is_settled_on_resume(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 4, concurrency=2)
    sent, unsent, waiting = leave_in_flight(services, batch, dead_pid())
    events = Events()
    progress = await services.batches.run(batch.id, on_event=events)

    assert "1 prompt was in flight or possibly billed" in events.seen[0].message
    assert progress.status == "completed"
    assert (progress.done, progress.interrupted) == (3, 1)
    assert services.db.get_batch_item(sent.id).status == "interrupted"
    assert services.db.get_batch_item(unsent.id).status == "succeeded"
    assert services.db.get_batch_item(waiting.id).status == "succeeded"
    assert sent.text not in server.prompts and server.generation_count == 3
    assert {item.attempts for item in services.batches.items(batch.id)} == {1}
    # The request that never went left no row behind (nor a "may have been billed").
    assert [row.status for row in item_rows(services, batch.id)[waiting.id]] == ["succeeded"]

    progress = await services.batches.run(batch.id, rerun_interrupted=True)
    assert progress.done == 4 and server.prompts[-1] == sent.text
    assert_each_item_succeeded_once(services, batch.id)


async def test_a_batch_owned_by_a_live_process_is_refused(
    services: Services, server: FakeOpenAIServer
) -> None:
    batch = make_batch(services, 4, concurrency=2)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sent, unsent, waiting = leave_in_flight(services, batch, sleeper.pid)
        assert services.batches.owner_elsewhere(services.batches.get(batch.id)) == sleeper.pid
        with pytest.raises(ValidationError) as refused:
            await services.batches.run(batch.id)
        assert f"process {sleeper.pid}" in str(refused.value)
        assert "dalletui batch cancel" in str(refused.value)
        # A cancel is recorded, but the live owner still finishes its requests in flight.
        services.batches.cancel(batch.id)
        with pytest.raises(ValidationError, match="still finishing its requests in flight"):
            await services.batches.run(batch.id)
        assert server.generation_count == 0
        for item in (sent, unsent, waiting):
            assert services.db.get_batch_item(item.id).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()
    # Once it is gone, its batch is settled and resumed.
    progress = await services.batches.run(batch.id)
    assert (progress.done, progress.interrupted) == (3, 1)
    assert os.getpid() != sleeper.pid
