"""Migration 0007: ``prompts_fts`` gains one-letter prefixes (``prefix='1 2 3'``); every search
finds exactly what it found before, trashed prompts included, and the step goes down and up."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import string
import unicodedata
from pathlib import Path

import pytest
from playhouse.migrations import Runner

from dalletui.storage import DatabaseManager, PromptQuery
from dalletui.storage.database import MIGRATIONS_DIR
from dalletui.storage.models import database

WORDS = [
    "apple", "astronaut", "a", "art", "cyber", "city", "castle", "samurai", "sunset", "s",
    "Étoile", "éclair", "über", "zebra", "x", "9lives", "42", "fox", "forest", "neon",
]  # fmt: skip
LETTERS = [*string.ascii_lowercase, "4", "9", "é", "E", "Ü"]
TRASHED = "2020-01-01 00:00:00.000000+00:00"


def _raw(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def _fts_sql(path: Path) -> str:
    return _raw(path, "SELECT sql FROM sqlite_master WHERE name = 'prompts_fts'")[0][0]


def _fts_ids(path: Path, expression: str) -> list[int]:
    sql = "SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ? ORDER BY rowid"
    return [row_id for (row_id,) in _raw(path, sql, (expression,))]


def _database_at_0006(path: Path, count: int = 400) -> None:
    """A schema-6 database with ``count`` prompts, every 7th trashed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0006_search_indexes")
    database.pragma("user_version", 6)
    rng = random.Random(7)
    for pid in range(1, count + 1):
        text = " ".join(rng.choices(WORDS, k=rng.randint(1, 5))) + f" n{pid}"
        when = f"2026-11-{1 + pid % 28:02d} 10:00:00.{pid:06d}+00:00"
        database.execute_sql(
            "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
            "is_favorite, notes, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)",
            (
                pid,
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                when,
                when,
                1 + pid % 5,
                pid % 3 == 0,
                TRASHED if pid % 7 == 0 else None,
            ),
        )
    database.close()


def _app_search(path: Path, text: str, order: str = "recent") -> list[int]:
    """The History's ids for ``text`` (every page), without running any migration.

    The page's rows read ``prompts.family_key`` (0009): on a database older than that column
    the search runs on a copy given it, empty (a column added changes neither the FTS index
    nor what matches); the database itself stays as it was, for its migration.
    """
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    columns = {row[1] for row in database.execute_sql("PRAGMA table_info(prompts)")}
    database.close()
    if "family_key" not in columns:
        copy = path.with_name("search-copy.db")
        copy.unlink(missing_ok=True)
        _raw(path, f"VACUUM INTO '{copy}'")
        _raw(copy, "ALTER TABLE prompts ADD COLUMN family_key TEXT")
        path = copy
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    try:
        db = DatabaseManager(path)
        page = db.search_prompts(PromptQuery(text=text, order=order, limit=1000))
        return [p.id for p in page.items]
    finally:
        database.close()


def _snapshot(path: Path) -> dict[str, list[int]]:
    found = {}
    for letter in LETTERS:
        found[f"fts {letter}*"] = _fts_ids(path, f'"{letter}"*')
        found[f"app {letter}"] = _app_search(path, letter)
    for text in ("a", "s", "c", "cy", "ast", "samurai", "fox c", "e", "u", "9", "a s"):
        found[f"uses {text}"] = _app_search(path, text, order="uses")
        found[f"whole {text}"] = _app_search(path, text + " ")  # not a prefix: a whole word
    return found


@pytest.fixture
def v6(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "dalletui.db"
    _database_at_0006(path)
    return path


def test_migrating_a_v6_database_adds_one_letter_prefixes_and_finds_the_same(v6: Path) -> None:
    assert "prefix='2 3'" in _fts_sql(v6)
    before = _snapshot(v6)
    assert before["fts a*"] and before["app s"] and before["fts é*"] == before["fts e*"]
    assert any(row_id % 7 == 0 for row_id in before["fts a*"])  # the index holds the trashed
    assert not any(row_id % 7 == 0 for row_id in before["app a"])  # the History does not
    with DatabaseManager(v6) as db:
        assert db.schema_version() == 9
    sql = _fts_sql(v6)
    assert "prefix='1 2 3'" in sql
    assert 'content="prompts"' in sql and "tokenize='unicode61 remove_diacritics 2'" in sql
    assert _snapshot(v6) == before
    _raw(v6, "INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)")


def test_a_new_database_has_the_schema_of_a_migrated_one(v6: Path, tmp_path: Path) -> None:
    DatabaseManager(v6).open().close()
    fresh = tmp_path / "fresh" / "dalletui.db"
    DatabaseManager(fresh).open().close()
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    assert _raw(fresh, schema) == _raw(v6, schema)
    assert "prefix='1 2 3'" in _fts_sql(fresh)


def test_the_migration_goes_down_and_up_again(v6: Path) -> None:
    before = _snapshot(v6)
    DatabaseManager(v6).open().close()
    database.init(str(v6), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    assert Runner(database, str(MIGRATIONS_DIR)).down(target="0007_fts_one_letter_prefix") == [
        "0009_organize",
        "0008_lineage",
        "0007_fts_one_letter_prefix",
    ]
    database.close()
    assert "prefix='2 3'" in _fts_sql(v6) and "prefix='1 2 3'" not in _fts_sql(v6)
    triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    assert [name for (name,) in _raw(v6, triggers)] == [
        "prompts_fts_delete",
        "prompts_fts_insert",
        "prompts_fts_update",
    ]
    assert _snapshot(v6) == before
    with DatabaseManager(v6) as db:
        assert db.schema_version() == 9
    assert "prefix='1 2 3'" in _fts_sql(v6)
    assert _snapshot(v6) == before
    _raw(v6, "INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)")


def test_one_letter_prefix_queries_follow_every_write(v6: Path) -> None:
    with DatabaseManager(v6) as db:
        assert not _fts_ids(v6, "q*")  # no word of the corpus starts with q
        quail = db.record_prompt_use("quail at dawn")
        assert _fts_ids(v6, "q*") == [quail.id]
        assert [p.id for p in db.search_prompts(PromptQuery(text="q")).items] == [quail.id]
        db.db.execute_sql("UPDATE prompts SET text = 'owl at dusk' WHERE id = ?", (quail.id,))
        assert not _fts_ids(v6, "q*") and quail.id in _fts_ids(v6, "o*")
        db.db.execute_sql("DELETE FROM prompts WHERE id = ?", (quail.id,))
        assert quail.id not in _fts_ids(v6, "o*")
        # Direct FTS5 syntax: a bare one-letter prefix, a prefix in a phrase, ^ and NEAR.
        assert _fts_ids(v6, "a*")
        assert _fts_ids(v6, "a*") == _fts_ids(v6, "A*") == _fts_ids(v6, '"a"*')
        assert set(_fts_ids(v6, '"fox c"*')) <= set(_fts_ids(v6, "c*"))
        assert set(_fts_ids(v6, "^s*")) <= set(_fts_ids(v6, "s*"))
        assert set(_fts_ids(v6, "NEAR(a* s*, 2)")) <= set(_fts_ids(v6, "a* s*"))
    _raw(v6, "INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)")


def test_one_letter_prefix_matches_a_python_reference(v6: Path) -> None:
    DatabaseManager(v6).open().close()
    rows = _raw(v6, "SELECT id, text FROM prompts")
    for letter in "ascezu49":
        expected = sorted(
            row_id
            for row_id, text in rows
            if any(w.casefold().startswith(letter) for w in _fold(text).split())
        )
        assert _fts_ids(v6, f'"{letter}"*') == expected, letter


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def test_an_upgrade_is_announced_once_and_a_new_database_is_not(
    v6: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding a large history's index takes seconds at the first start: it is said, on a
    terminal, so the pause does not look like a hang; a new database or a current one says
    nothing, and neither does a script's stderr."""
    from dalletui import cli

    heard: list[str] = []
    DatabaseManager(v6).open(heard.append).close()
    assert len(heard) == 1 and heard[0].startswith("Upgrading the history in ")
    DatabaseManager(v6).open(heard.append).close()
    DatabaseManager(tmp_path / "new" / "dalletui.db").open(heard.append).close()
    assert len(heard) == 1

    old = tmp_path / "old" / "home"
    _database_at_0006(old / "dalletui.db", count=20)
    monkeypatch.setattr(cli, "_is_tty", lambda stream: True)
    assert cli.main(["--home", str(old), "history", "--limit", "1"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("dalletui: Upgrading the history in ") and err.count("\n") == 1

    older = tmp_path / "older" / "home"
    _database_at_0006(older / "dalletui.db", count=20)
    monkeypatch.setattr(cli, "_is_tty", lambda stream: False)
    assert cli.main(["--home", str(older), "history", "--limit", "1"]) == 0
    assert capsys.readouterr().err == ""
