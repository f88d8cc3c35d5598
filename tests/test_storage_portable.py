"""Migration 0004: timestamps in UTC with an offset (shown in local time), stable uids, and an
FTS table that sqlite-utils and Datasette detect and search, with dalletui's search unchanged."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playhouse.migrations import Runner

from dalletui.storage import DatabaseManager, PromptQuery
from dalletui.storage.database import MIGRATIONS_DIR
from dalletui.storage.models import Batch, Generation, Prompt, UsageStat, database

#: Naive local text as schema 0003 wrote it (Python's str(datetime.now())).
OLD = "2026-07-01 09:30:15.250000"
OLD_PLAIN = "2026-07-01 23:59:59"


@pytest.fixture
def new_york() -> Iterator[None]:
    """Local time five hours (in summer, four) behind UTC, restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _insert_0003(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0003_batches")
    database.pragma("user_version", 3)
    sql = database.execute_sql
    for pid, text, when in ((1, "a cyberpunk fox", OLD), (2, "an owl in ink", OLD_PLAIN)):
        sql(
            "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
            "is_favorite, notes) VALUES (?, ?, ?, ?, ?, 1, 0, '')",
            (pid, text, f"h{pid}", when, when),
        )
    sql(
        "INSERT INTO batches (id, name, status, planned, params, created_at, source, body, mode, "
        "variables, concurrency) VALUES (1, 'b', 'completed', 1, '{}', ?, 'text', 'x', "
        "'product', '{}', 4)",
        (OLD,),
    )
    for gid in (1, 2):
        sql(
            "INSERT INTO generations (id, prompt_id, request_key, image_index, provider, model, "
            "size, quality, output_format, background, status, params, created_at, finished_at) "
            "VALUES (?, 1, ?, 0, 'openai', 'gpt-image-1-mini', '1024x1024', 'low', 'png', "
            "'auto', 'succeeded', '{}', ?, NULL)",
            (gid, f"k{gid}", OLD),
        )
        sql(
            "INSERT INTO usage_stats (generation_id, kind, request_key, model, provider, "
            "input_text_tokens, input_image_tokens, output_image_tokens, output_text_tokens, "
            "total_tokens, cost, price_basis, prices, created_at) VALUES (?, 'image', ?, "
            "'gpt-image-1-mini', 'openai', 0, 0, 100, 0, 100, '0.01', 'tokens', '{}', ?)",
            (gid, f"k{gid}", OLD),
        )
    database.close()


def _raw(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_old_local_times_become_utc_with_an_offset_and_read_back_local(
    home: Path, new_york: None
) -> None:
    path = home / "dalletui.db"
    _insert_0003(path)
    db = DatabaseManager(path).open()
    try:
        stored = dict(_raw(path, "SELECT id, created_at FROM prompts"))
        # 09:30 in New York in July is 13:30 UTC; the microseconds survive.
        assert stored == {
            1: "2026-07-01 13:30:15.250000+00:00",
            2: "2026-07-02 03:59:59.000000+00:00",
        }
        assert _raw(path, "SELECT DISTINCT created_at FROM usage_stats") == [
            ("2026-07-01 13:30:15.250000+00:00",)
        ]
        assert _raw(path, "SELECT finished_at FROM generations WHERE id = 1") == [(None,)]
        fox = Prompt.get_by_id(1)
        assert fox.created_at.tzinfo is not None
        assert fox.created_at.utcoffset() == dt.timedelta(hours=-4)
        assert fox.created_at.replace(tzinfo=None) == dt.datetime(2026, 7, 1, 9, 30, 15, 250000)
        # What the user called "July 1st" is still July 1st, in local time.
        owl = Prompt.get_by_id(2)
        assert owl.created_at.date() == dt.date(2026, 7, 1)
    finally:
        db.close()


def test_new_rows_store_utc_and_queries_compare_moments(home: Path, new_york: None) -> None:
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        prompt = db.record_prompt_use("a heron at dawn")
        (text,) = _raw(
            home / "dalletui.db", f"SELECT created_at FROM prompts WHERE id={prompt.id}"
        )[0]
        assert text.endswith("+00:00") and len(text) == len("2026-07-01 13:30:15.250000+00:00")
        again = Prompt.get_by_id(prompt.id)
        assert abs((again.created_at - dt.datetime.now(dt.UTC)).total_seconds()) < 3600
        # A bound given in local time, naive or aware, selects by the instant.
        local_now = dt.datetime.now()
        before = local_now - dt.timedelta(minutes=5)
        assert Prompt.select().where(Prompt.created_at >= before).count() == 1
        aware_after = (local_now + dt.timedelta(minutes=5)).astimezone(dt.UTC)
        assert Prompt.select().where(Prompt.created_at >= aware_after).count() == 0
    finally:
        db.close()


def test_uids_are_backfilled_unique_and_set_on_new_rows(home: Path) -> None:
    path = home / "dalletui.db"
    _insert_0003(path)
    db = DatabaseManager(path).open()
    try:
        for model in (Generation, Batch, UsageStat):
            uids = [row.uid for row in model.select()]
            assert all(uid and len(uid) == 32 for uid in uids), model
            assert len(set(uids)) == len(uids)
        prompt = db.record_prompt_use("a new one")
        rows = db.create_generations(
            prompt,
            2,
            provider="offline",
            model="gpt-image-1-mini",
            size="1024x1024",
            quality="low",
            output_format="png",
        )
        assert len({row.uid for row in rows}) == 2
        assert "generations_uid" in db.index_names()
        with pytest.raises(Exception, match="UNIQUE"):
            database.execute_sql(
                "UPDATE generations SET uid = (SELECT uid FROM generations WHERE id = 1) "
                "WHERE id = 2"
            )
    finally:
        db.close()


def test_search_is_unchanged_after_the_fts_table_is_declared_again(home: Path) -> None:
    path = home / "dalletui.db"
    _insert_0003(path)
    db = DatabaseManager(path).open()
    try:
        found = db.search_prompts(PromptQuery(text="cyber"))
        assert [p.text for p in found.items] == ["a cyberpunk fox"]
        db.record_prompt_use("cyberpunk owl")
        assert db.count_prompts(PromptQuery(text="cyberpunk")) == 2
        (sql,) = _raw(path, "SELECT sql FROM sqlite_master WHERE name = 'prompts_fts'")[0]
        # 0007 declares it once more, with one-letter prefixes; the spelling stays.
        assert 'content="prompts"' in sql and "prefix='1 2 3'" in sql
    finally:
        db.close()


def test_sqlite_utils_detects_and_searches_the_fts_table(home: Path) -> None:
    sqlite_utils = pytest.importorskip("sqlite_utils")
    path = home / "dalletui.db"
    db = DatabaseManager(path).open()
    for text in ("a cyberpunk city at night", "a fox in the snow", "cyberpunk samurai"):
        db.record_prompt_use(text)
    db.close()
    tool = sqlite_utils.Database(path)
    assert tool["prompts"].detect_fts() == "prompts_fts"
    found = [row["text"] for row in tool["prompts"].search("cyberpunk")]
    assert sorted(found) == ["a cyberpunk city at night", "cyberpunk samurai"]


def test_datasette_detects_the_fts_table(home: Path) -> None:
    utils = pytest.importorskip("datasette.utils")
    path = home / "dalletui.db"
    DatabaseManager(path).open().close()
    with sqlite3.connect(path) as conn:
        assert utils.detect_fts(conn, "prompts") == "prompts_fts"


def test_the_migration_goes_down_and_up_again(home: Path, new_york: None) -> None:
    path = home / "dalletui.db"
    _insert_0003(path)
    DatabaseManager(path).open().close()
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).down(target="0004_portable")  # 0007 ... 0004
    database.close()
    assert dict(_raw(path, "SELECT id, created_at FROM prompts")) == {
        1: OLD,
        2: OLD_PLAIN + ".000000",  # the same instant, written out in full
    }
    assert "uid" not in {row[1] for row in _raw(path, "PRAGMA table_info(generations)")}
    db = DatabaseManager(path).open()
    try:
        assert db.schema_version() == 9
        assert db.count_prompts(PromptQuery(text="owl")) == 1
    finally:
        db.close()
