"""Storage you can trust: the ledger migration, newer databases refused, imports that never hold
the lock for long yet stay all or nothing, and writes that wait for another writer."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from playhouse.migrations import Runner

from dalletui.errors import StorageError
from dalletui.storage import DatabaseManager, PromptQuery, prompt_import
from dalletui.storage import prompts as prompt_store
from dalletui.storage.database import MIGRATIONS_DIR, code_schema_version
from dalletui.storage.models import ImportJournal, Prompt, UsageStat, database


def _old_database(path: Path) -> None:
    """A database made by schema 0001 (the previous release), with spend recorded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0001_initial")
    database.pragma("user_version", 1)
    now = "2026-11-20 10:00:00"
    database.execute_sql(
        "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
        "is_favorite, notes) VALUES (1, 'a fox', ?, ?, ?, 3, 1, ''), "
        "(2, ?, ?, ?, ?, 1, 0, ''), (3, 'a cat', ?, ?, ?, 2, 0, '')",
        (
            hashlib.sha256(b"a fox").hexdigest(),
            now,
            now,
            "a \x1b]52;c;aGk=\x07cat",
            hashlib.sha256(b"a \x1b]52;c;aGk=\x07cat").hexdigest(),
            now,
            now,
            hashlib.sha256(b"a cat").hexdigest(),
            now,
            now,
        ),
    )
    for gid, prompt_id in ((1, 1), (2, 1), (3, 2)):
        database.execute_sql(
            "INSERT INTO generations (id, prompt_id, request_key, image_index, provider, model, "
            "size, quality, output_format, background, status, params, created_at) VALUES "
            "(?, ?, 'k', 0, 'openai', 'gpt-image-1-mini', '1024x1024', 'low', 'png', 'auto', "
            "'succeeded', '{}', ?)",
            (gid, prompt_id, now),
        )
        database.execute_sql(
            "INSERT INTO usage_stats (generation_id, model, provider, input_text_tokens, "
            "input_image_tokens, output_image_tokens, output_text_tokens, total_tokens, cost, "
            "created_at) VALUES (?, 'gpt-image-1-mini', 'openai', 0, 0, 100, 0, 100, ?, ?)",
            (gid, "0.0071", now),
        )
    database.close()


def test_migration_keeps_spend_and_makes_the_ledger_append_only(home: Path) -> None:
    path = home / "dalletui.db"
    _old_database(path)
    db = DatabaseManager(path).open()
    try:
        assert db.schema_version() == code_schema_version() == 9
        assert db.usage_totals().cost == Decimal("0.0213")
        assert {u.request_key for u in UsageStat.select()} == {"k"}
        # The prompt holding an OSC 52 sequence was cleaned and merged into "a cat".
        texts = sorted(p.text for p in Prompt.select())
        assert texts == ["a cat", "a fox"]  # the whole escape sequence went, not only ESC
        cat = Prompt.get(Prompt.text == "a cat")
        assert cat.use_count == 3
        assert db.generations_for_prompt(cat.id)[0].id == 3
        # Purging the fox (3 images' worth of spend in all) leaves the totals alone.
        fox = Prompt.get(Prompt.text == "a fox")
        db.delete_prompt(fox.id)
        assert db.usage_totals().cost == Decimal("0.0213")
        assert UsageStat.select().where(UsageStat.generation.is_null()).count() == 2
    finally:
        db.close()


def test_a_newer_database_is_refused_and_left_byte_identical(home: Path) -> None:
    path = home / "dalletui.db"
    DatabaseManager(path).open().close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.execute("INSERT INTO schema_migration (name, applied) VALUES ('0010_future', '2027')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageError) as refused:
        DatabaseManager(path).open()
    message = str(refused.value)
    assert "newer dalletui" in message and "10" in message and "up to 9" in message
    assert path.read_bytes() == before
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_import_merges_in_short_chunks_and_is_all_or_nothing(
    db: DatabaseManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.record_prompt_use("existing prompt")
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 100)
    lines = ["existing prompt"] * 3 + [f"imported prompt {i}" for i in range(1000)]
    original = prompt_store.PromptStore._merge_chunk
    calls = {"n": 0}

    def failing(self, *args):  # noqa: ANN001, ANN002, ANN202
        calls["n"] += 1
        if calls["n"] == 6:
            raise sqlite3.OperationalError("disk is full")
        return original(self, *args)

    monkeypatch.setattr(prompt_store.PromptStore, "_merge_chunk", failing)
    with pytest.raises(StorageError, match="Nothing was imported"):
        db.import_prompts(lines)
    assert calls["n"] == 6  # five chunks had been merged (and were taken back)
    assert db.get_prompt(1).use_count == 1  # its bump from the first chunk was taken back
    assert db.count_prompts(PromptQuery()) == 1
    assert db.search_prompts(PromptQuery()).items[0].use_count == 1
    assert ImportJournal.select().count() == 0

    monkeypatch.setattr(prompt_store.PromptStore, "_merge_chunk", original)
    summary = db.import_prompts(lines)
    assert (summary.lines, summary.added, summary.bumped) == (1003, 1000, 1)
    assert Prompt.get(Prompt.text == "existing prompt").use_count == 4
    assert ImportJournal.select().count() == 0


def test_an_import_that_died_half_merged_is_taken_back_at_the_next_start(home: Path) -> None:
    path = home / "dalletui.db"
    db = DatabaseManager(path).open()
    kept = db.record_prompt_use("kept")
    fresh = db.record_prompt_use("from the dead import")
    dead_key = "999999999:deadbeef"
    ImportJournal.create(import_key=dead_key, first_id=fresh.id, last_id=fresh.id, created=True)
    Prompt.update(use_count=Prompt.use_count + 5).where(Prompt.id == kept.id).execute()
    ImportJournal.create(
        import_key=dead_key,
        prompt=kept.id,
        created=False,
        added_uses=5,
        previous_last_used_at=kept.last_used_at,
    )
    db.close()
    db = DatabaseManager(path).open()
    try:
        assert [p.text for p in Prompt.select()] == ["kept"]
        assert Prompt.get_by_id(kept.id).use_count == 1
        assert ImportJournal.select().count() == 0
    finally:
        db.close()


def test_read_then_write_never_fails_beside_a_long_import(home: Path) -> None:
    """toggle_favorite failed 7,278 of 9,122 calls beside a writer with deferred transactions."""
    path = home / "dalletui.db"
    db = DatabaseManager(path).open()
    prompt = db.record_prompt_use("star me")
    importing = threading.Event()
    failures: list[BaseException] = []

    def other_writer() -> None:
        try:
            importing.set()
            db.import_prompts(f"imported line {i}" for i in range(60_000))
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    thread = threading.Thread(target=other_writer)
    thread.start()
    importing.wait()
    toggles = waits = 0
    try:
        while thread.is_alive() or toggles < 50:
            started = time.monotonic()
            db.toggle_favorite(prompt.id)
            waits = max(waits, int((time.monotonic() - started) * 1000))
            toggles += 1
    finally:
        thread.join()
    assert not failures
    assert db.get_prompt(prompt.id).is_favorite is (toggles % 2 == 1)
    assert db.count_prompts(PromptQuery()) == 60_001
    assert waits < 5_000, f"a toggle waited {waits} ms for the write lock"
    db.close()
