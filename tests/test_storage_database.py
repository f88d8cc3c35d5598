"""DatabaseManager: creation, pragmas, migrations, errors."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from dalletui.errors import StorageError
from dalletui.storage import DatabaseManager

EXPECTED_TABLES = {
    "prompts",
    "templates",
    "template_variables",
    "generations",
    "batches",
    "usage_stats",
    "prompts_fts",
    "schema_migration",
}


def test_open_creates_folders_tables_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "dalletui.db"
    with DatabaseManager(path) as db:
        assert path.is_file()
        assert set(db.table_names()) >= EXPECTED_TABLES
        indexes = set(db.index_names())
        for name in (
            "prompt_created_at",
            "prompt_is_favorite",
            "prompts_recency",
            "prompts_uses",
            "prompt_text_hash",
            "generation_prompt_id",
            "generation_batch_id",
            "generation_model",
            "generation_created_at",
            "generations_prompt_created",
            "usagestat_model",
            "usagestat_created_at",
            "usagestat_generation_id",
        ):
            assert name in indexes, name


def test_pragmas_and_schema_version(db: DatabaseManager) -> None:
    assert db.pragma("journal_mode") == "wal"
    assert db.pragma("foreign_keys") == 1
    assert db.pragma("busy_timeout") == 30_000
    assert db.pragma("synchronous") == 1
    assert db.schema_version() == 9
    assert db.pragma("user_version") == 9


def test_reopen_runs_no_migration_twice_and_keeps_data(home: Path) -> None:
    with DatabaseManager(home / "dalletui.db") as db:
        db.record_prompt_use("kept across restarts")
    with DatabaseManager(home / "dalletui.db") as db:
        assert db.schema_version() == 9
        assert db.counts()["prompts"] == 1


def test_corrupt_file_gives_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "dalletui.db"
    garbage = b"this is not sqlite at all" * 100
    path.write_bytes(garbage)
    with pytest.raises(StorageError, match="damaged or is not a dalletui database"):
        DatabaseManager(path).open()
    assert path.read_bytes() == garbage


def test_locked_database_gives_clear_error(db: DatabaseManager) -> None:
    db.db.pragma("busy_timeout", 50)
    other = sqlite3.connect(db.path, timeout=0.05)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another program"):
            db.record_prompt_use("blocked")
    finally:
        other.rollback()
        other.close()
    assert db.record_prompt_use("works again").id


def test_unopenable_folder_gives_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError):
        DatabaseManager(blocker / "dalletui.db").open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_gives_clear_error(home: Path) -> None:
    with DatabaseManager(home / "dalletui.db") as db:
        db.record_prompt_use("x")
    os.chmod(home / "dalletui.db", 0o444)
    try:
        with (
            pytest.raises(StorageError, match="read-only"),
            DatabaseManager(home / "dalletui.db") as db,
        ):
            db.record_prompt_use("y")
    finally:
        os.chmod(home / "dalletui.db", 0o644)


def test_atomic_rolls_back_every_write(db: DatabaseManager) -> None:
    with pytest.raises(RuntimeError), db.atomic():
        db.record_prompt_use("one")
        db.record_prompt_use("two")
        raise RuntimeError("boom")
    assert db.counts()["prompts"] == 0


def test_thread_workers_see_the_same_database(db: DatabaseManager) -> None:
    db.record_prompt_use("from the main thread")
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(db.counts()["prompts"]))
    worker.start()
    worker.join()
    assert seen == [1]


def test_reopening_elsewhere_moves_every_threads_connection(tmp_path: Path) -> None:
    """A thread that connected to the old database must not keep writing to it."""
    from dalletui.storage.models import Prompt

    first = DatabaseManager(tmp_path / "a.db").open()
    first.record_prompt_use("only in a")
    connected, proceed = threading.Event(), threading.Event()
    counts: list[int] = []

    def worker() -> None:
        counts.append(Prompt.select().count())
        connected.set()
        proceed.wait(5)
        counts.append(Prompt.select().count())

    thread = threading.Thread(target=worker)
    thread.start()
    connected.wait(5)
    second = DatabaseManager(tmp_path / "b.db").open()
    proceed.set()
    thread.join(5)
    assert counts == [1, 0]
    second.close()
