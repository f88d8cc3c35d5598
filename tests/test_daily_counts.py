"""Counts that tell the truth, and the parameters the API says it applied (issue 12).

- A request that brought no image is one failed request, not ``n`` generations; images are
  counted as images (succeeded, with a file). Placeholder rows stay (recovery, the ledger).
- A use is a request that brought an image: a refused, failed or cancelled request adds none,
  in a batch and from the CLI too; the prompt is still in history, to retry.
- Importing the same (or an overlapping) prompt file again does not add its lines twice.
- ``Generation.applied`` keeps what the response said (quality ``auto`` -> ``medium``), through
  the real openai SDK against the fake server, plain and streamed, and through export/import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playhouse.migrations import Runner

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services, open_services
from dalletui.services.exchange import ExportOptions
from dalletui.storage import DatabaseManager, PromptQuery
from dalletui.storage.database import MIGRATIONS_DIR
from dalletui.storage.models import Generation, Prompt, UsageStat, database
from tests.fakes import FakeOpenAIServer, Fault

API_KEY = "sk-test-daily-counts"


def open_for(home: Path, server: FakeOpenAIServer | None = None) -> Services:
    if server is None:
        return open_services(Settings(home=home, provider="offline"))
    settings = Settings(home=home, api_key=API_KEY, base_url=server.base_url, provider="openai")
    return open_services(settings)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake
        fake.release_answers()
    assert not fake.errors, "fake OpenAI server raised:\n" + "\n".join(fake.errors)


@pytest.fixture
async def api(home: Path, server: FakeOpenAIServer) -> AsyncIterator[Services]:
    services = open_for(home, server)
    yield services
    await services.aclose()


def prompt_row(services: Services, text: str) -> Prompt:
    [row] = [
        p
        for p in services.db.search_prompts(PromptQuery(text=text, prefix_last=False)).items
        if p.text == text
    ]
    return row


def uses(services: Services) -> dict[str, int]:
    return {p.text: p.use_count for p in Prompt.select()}


# -- (a) a request without images is one failed request --------------------------------------


async def test_a_cancelled_request_of_ten_is_one_failed_request_beside_the_images(
    api: Services, server: FakeOpenAIServer
) -> None:
    fox = "a fox in the snow"
    done = await api.generation.generate(GenerationRequest(prompt=fox, n=4, quality="low"))
    assert len(done.succeeded) == 4

    server.hold_answers()
    task = asyncio.create_task(api.generation.generate(GenerationRequest(prompt=fox, n=10)))
    assert await asyncio.to_thread(server.wait_in_flight, 1, 30), "the request never arrived"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.release_answers()

    # The ten rows stay (they may have been billed; the ledger says so once) ...
    assert Generation.select().where(Generation.status == "possibly_billed").count() == 10
    assert UsageStat.select().where(UsageStat.kind == "possibly_billed").count() == 1
    # ... but History counts 4 images and 1 request without image, not "14 generations".
    row = prompt_row(api, fox)
    assert (row.image_count, row.generation_count) == (4, 4)
    assert (row.failed_request_count, row.pending_request_count) == (1, 0)
    counts = api.db.prompt_counts(row.id)
    assert (counts.images, counts.failed_requests, counts.pending_requests) == (4, 1, 0)

    entries = api.db.prompt_entries(row.id)
    assert [e.is_image for e in entries] == [False, True, True, True, True]
    failed = entries[0]
    assert (failed.rows, failed.asked, failed.request_images, failed.partial) == (10, 10, 0, False)
    assert failed.generation.status == "possibly_billed"
    # The entry is the row the possibly-billed ledger row hangs on: nothing billed is hidden.
    assert failed.generation.usage_row is not None
    assert failed.generation.usage_row.kind == "possibly_billed"
    assert all(e.rows == 1 and e.asked == 4 for e in entries[1:])
    assert [g.id for g in api.db.list_images(PromptQuery(text="fox"))] == [
        e.generation.id for e in entries[1:]
    ]
    assert api.db.count_images(PromptQuery(text="fox")) == 4
    assert row.use_count == 1  # only the request that brought images


async def test_an_api_that_returns_fewer_images_leaves_one_partial_entry(
    api: Services, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = server._images_response

    def two_of_them(job: Any) -> dict[str, Any]:
        payload = original(job)
        payload["data"] = payload["data"][:2]
        return payload

    monkeypatch.setattr(server, "_images_response", two_of_them)
    outcome = await api.generation.generate(GenerationRequest(prompt="four owls", n=4))
    assert len(outcome.succeeded) == 2
    row = prompt_row(api, "four owls")
    assert (row.image_count, row.failed_request_count, row.use_count) == (2, 0, 1)
    entries = api.db.prompt_entries(row.id)
    assert [(e.is_image, e.rows, e.asked) for e in entries] == [
        (False, 2, 4),
        (True, 1, 4),
        (True, 1, 4),
    ]
    assert entries[0].partial and entries[0].request_images == 2


def test_history_json_counts_images_not_trashed_ones_nor_placeholder_rows(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--provider", "offline", "-n", "3", "three cats"]) == 0
    with contextlib.closing(open_for(home)) as services:
        [first, *_] = services.db.generations_for_prompt(1)
        services.trash.trash_generation(first.id)
        # A request of five that was cancelled before it was sent (its rows stay).
        prompt = services.db.get_prompt(1)
        rows = services.db.create_generations(
            prompt,
            5,
            provider="offline",
            model=first.model,
            size="1024x1024",
            quality="auto",
            output_format="png",
        )
        services.db.fail_generations([r.id for r in rows], "cancelled", "cancelled", "stop")
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["generation_count"] == 2 and entry["use_count"] == 1


# -- (b) a use is a request that brought an image ----------------------------------------------


async def test_refused_failed_and_cancelled_requests_add_no_use(
    api: Services, server: FakeOpenAIServer
) -> None:
    text = "a cat on a bike"
    server.script(Fault.moderation(), Fault.server_error(500))
    refused = await api.generation.generate(GenerationRequest(prompt=text))
    assert refused.error is not None and not refused.possibly_billed
    maybe = await api.generation.generate(GenerationRequest(prompt=text))
    assert maybe.possibly_billed

    server.hold_answers()
    task = asyncio.create_task(api.generation.generate(GenerationRequest(prompt=text)))
    assert await asyncio.to_thread(server.wait_in_flight, 1, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.release_answers()

    # Still in history (to retry), used 0 times, three requests without image.
    row = prompt_row(api, text)
    assert row.use_count == 0 and row.validate() is None
    assert (row.image_count, row.failed_request_count) == (0, 3)
    assert [e.rows for e in api.db.prompt_entries(row.id)] == [1, 1, 1]

    outcome = await api.generation.generate(GenerationRequest(prompt=text, n=2))
    assert len(outcome.succeeded) == 2
    again = prompt_row(api, text)
    assert again.use_count == 1  # one request, two images: one use
    assert (again.image_count, again.failed_request_count) == (2, 3)


async def test_a_batch_counts_a_use_only_for_prompts_that_made_an_image(
    api: Services, server: FakeOpenAIServer
) -> None:
    request = GenerationRequest(prompt="-", model="gpt-image-1-mini", quality="low")
    params = {key: value for key, value in request.params().items() if key != "prompt"}
    params["provider"] = "openai"
    texts = ["a fox", "an owl at night", "a cat in the rain"]
    batch = api.db.create_batch(
        "counts",
        [(text, {}) for text in texts],
        params=params,
        source="text",
        body="\n".join(texts),
        mode="repeat",
        concurrency=1,
    )
    server.script(Fault.moderation())  # the first item sent is refused
    progress = await api.batches.run(batch.id)
    assert progress.done == 2 and progress.failed == 1
    items = api.batches.items(batch.id)
    expected = {item.text: 1 if item.status == "succeeded" else 0 for item in items}
    assert sorted(expected.values()) == [0, 1, 1]
    assert uses(api) == expected


def test_cli_generate_counts_a_use_only_when_an_image_came_and_prints_applied(
    monkeypatch: pytest.MonkeyPatch,
    server: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.script(Fault.moderation())
    assert main(["generate", "a lighthouse", "--model", "gpt-image-1-mini"]) == 1
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["use_count"], entry["generation_count"]) == (0, 0)

    code = main(["generate", "a lighthouse", "--model", "gpt-image-1-mini", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    [image] = json.loads(out)["images"]
    assert image["applied"] == {
        "quality": "medium",
        "size": "1024x1024",
        "background": "opaque",
        "output_format": "png",
    }
    assert main(["history", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["use_count"], entry["generation_count"]) == (1, 1)


def test_an_image_attached_later_counts_the_use_of_its_request_once(db: DatabaseManager) -> None:
    prompt = db.record_prompt_use("recovered", count=False)
    rows = db.create_generations(
        prompt,
        2,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    for row in rows:
        db.attach_image(row.id, usage=None, status="succeeded", file_path=f"/i/{row.id}.png")
    assert db.get_prompt(prompt.id).use_count == 1


# -- (c) importing the same file twice ----------------------------------------------------------


def test_importing_the_same_or_an_overlapping_file_again_does_not_double_uses(
    home: Path, tmp_path: Path
) -> None:
    first = tmp_path / "prompts.txt"
    first.write_text("a red fox\na red fox\nan owl\n", encoding="utf-8")
    longer = tmp_path / "prompts-later.txt"
    longer.write_text("a red fox\na red fox\na red fox\nan owl\na whale\n", encoding="utf-8")
    with contextlib.closing(open_for(home)) as services:
        services.db.record_prompt_use("an owl")  # used here once, before any import
        summary = services.history.import_file(first)
        assert (summary.added, summary.bumped, summary.already_counted) == (1, 1, 0)
        assert uses(services) == {"a red fox": 2, "an owl": 2}

        again = services.history.import_file(first)
        assert (again.added, again.bumped, again.already_counted, again.added_uses) == (
            0,
            2,
            2,
            0,
        )
        assert uses(services) == {"a red fox": 2, "an owl": 2}

        # A longer copy adds only what it holds beyond the first: one more fox, a whale.
        grown = services.history.import_file(longer)
        assert (grown.added, grown.already_counted, grown.added_uses) == (1, 1, 2)
        assert uses(services) == {"a red fox": 3, "an owl": 2, "a whale": 1}
        services.history.import_file(longer)
        services.history.import_file(first)
        assert uses(services) == {"a red fox": 3, "an owl": 2, "a whale": 1}

        page = services.db.search_prompts(PromptQuery(order="uses"))
        assert [p.text for p in page.items][:1] == ["a red fox"]


def test_a_failed_import_takes_back_what_it_counted(
    db: DatabaseManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dalletui.errors import StorageError
    from dalletui.storage import prompt_import
    from dalletui.storage import prompts as prompt_store

    db.import_prompts(["kept"] * 2)
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 10)
    original = prompt_store.PromptStore._merge_chunk
    calls = {"n": 0}

    def failing(self, *args):  # noqa: ANN001, ANN002, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise sqlite3.OperationalError("disk is full")
        return original(self, *args)

    monkeypatch.setattr(prompt_store.PromptStore, "_merge_chunk", failing)
    with pytest.raises(StorageError, match="Nothing was imported"):
        db.import_prompts(["kept"] * 5 + [f"line {i}" for i in range(30)])
    kept = Prompt.get(Prompt.text == "kept")
    assert (kept.use_count, kept.imported_uses) == (2, 2)
    assert Prompt.select().count() == 1


# -- migration 0005 --------------------------------------------------------------------------------


def _database_at_0004(path: Path) -> None:
    """A schema-4 database: one prompt used 5 times by 4 requests (2 brought no image) and one
    import line; one prompt from a file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0004_portable")
    database.pragma("user_version", 4)
    now = "2026-11-20 10:00:00.000000+00:00"
    for pid, text, use_count in ((1, "a fox", 5), (2, "from a file", 3)):
        database.execute_sql(
            "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
            "is_favorite, notes) VALUES (?, ?, ?, ?, ?, ?, 0, '')",
            (pid, text, hashlib.sha256(text.encode()).hexdigest(), now, now, use_count),
        )
    rows = [
        ("ok1", "succeeded", "/i/1.png"),
        ("ok1", "succeeded", "/i/2.png"),
        ("cancelled", "cancelled", None),
        ("cancelled", "cancelled", None),
        ("cancelled", "cancelled", None),
        ("billed", "possibly_billed", None),
        ("kept", "failed", "/recovery/7.png"),  # an image came but was not saved: it counts
        ("running", "pending", None),  # in flight: left alone
    ]
    for index, (key, status, file_path) in enumerate(rows, start=1):
        database.execute_sql(
            "INSERT INTO generations (id, uid, prompt_id, request_key, image_index, provider, "
            "model, size, quality, output_format, background, status, file_path, params, "
            "created_at) VALUES (?, ?, 1, ?, 0, 'openai', 'gpt-image-1-mini', '1024x1024', "
            "'low', 'png', 'auto', ?, ?, '{}', ?)",
            (index, f"{index:032x}", key, status, file_path, now),
        )
    database.close()


def test_migration_0005_takes_back_the_uses_of_requests_without_image(home: Path) -> None:
    path = home / "dalletui.db"
    _database_at_0004(path)
    with DatabaseManager(path) as db:
        assert db.schema_version() == 9  # 0005, 0006's search indexes, 0007's prefixes, 0008
        fox, from_file = Prompt.get_by_id(1), Prompt.get_by_id(2)
        # 5 uses by 5 requests: 2 brought nothing (cancelled, possibly billed) and go.
        assert (fox.use_count, fox.imported_uses) == (3, 0)
        assert (from_file.use_count, from_file.imported_uses) == (3, 3)
        assert Generation.select().count() == 8  # no row is touched
        # A file holding its text three times adds nothing: it was counted already.
        db.import_prompts(["from a file"] * 3)
        assert Prompt.get_by_id(2).use_count == 3
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone() == (9,)
    finally:
        con.close()


# -- applied parameters ------------------------------------------------------------------------


async def test_the_applied_quality_size_and_background_are_kept(
    api: Services, server: FakeOpenAIServer
) -> None:
    request = GenerationRequest(prompt="a teapot", quality="auto", size="auto", n=2)
    outcome = await api.generation.generate(request)
    assert len(outcome.succeeded) == 2
    for generation in outcome.succeeded:
        again = api.db.get_generation(generation.id)
        assert again.quality == "auto" and again.size == "auto"  # what was asked stays
        assert again.applied == {
            "quality": "medium",
            "size": "1024x1024",
            "background": "opaque",
            "output_format": "png",
        }
        assert again.params["applied"] == again.applied
        assert again.params["quality"] == "auto"  # the request can still be sent again as asked


async def test_a_stream_keeps_what_its_completed_event_said(
    home: Path, server: FakeOpenAIServer
) -> None:
    server.auto_quality = "high"
    services = open_for(home, server)
    try:
        request = GenerationRequest(
            prompt="a kite", quality="auto", background="transparent", partial_images=1
        )
        partials: list[int] = []
        outcome = await services.generation.generate(
            request, on_partial=lambda index, _data: partials.append(index)
        )
    finally:
        await services.aclose()
    assert partials == [0]
    [generation] = outcome.succeeded
    assert generation.applied == {
        "quality": "high",
        "size": "1024x1024",
        "background": "transparent",
        "output_format": "png",
    }


async def test_offline_states_what_it_drew_and_old_rows_have_nothing(home: Path) -> None:
    services = open_for(home)
    try:
        outcome = await services.generation.generate(
            GenerationRequest(prompt="a moth", quality="auto", size="auto", output_format="jpeg")
        )
    finally:
        await services.aclose()
    [generation] = outcome.succeeded
    assert generation.applied == {
        "quality": "medium",
        "size": "1024x1024",
        "background": "opaque",
        "output_format": "jpeg",
    }
    Generation.update(params={"quality": "auto"}).where(Generation.id == generation.id).execute()
    assert Generation.get_by_id(generation.id).applied == {}


async def test_export_and_import_carry_the_applied_parameters(
    home: Path, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    services = open_for(home, server)
    try:
        outcome = await services.generation.generate(GenerationRequest(prompt="a lamp"))
        data, _ = services.exchange.export_bytes(ExportOptions())
    finally:
        await services.aclose()
    [generation] = outcome.succeeded
    document = json.loads(data)
    [record] = document["generations"]
    assert record["params"]["applied"]["quality"] == "medium"

    path = tmp_path / "export.json"
    path.write_bytes(data)
    other = tmp_path / "other"
    with contextlib.closing(open_services(Settings(home=other))) as there:
        there.exchange.import_file(path)
        [copy] = list(Generation.select())
        assert copy.uid == generation.uid and copy.applied == generation.applied


def test_the_cli_says_a_second_import_counted_nothing_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DALLETUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    source = tmp_path / "prompts.txt"
    source.write_text("a fox\na fox\na owl\n", encoding="utf-8")
    assert main(["import-prompts", str(source)]) == 0
    first = capsys.readouterr().out
    assert "counted by an earlier import" not in first
    assert main(["import-prompts", str(source)]) == 0
    second = capsys.readouterr().out
    assert "0 new prompts, 2 already in history (2 counted by an earlier import" in second
