"""verify_phase3 checks for portable data: UTC timestamps, uids, an FTS table other tools find."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from verification.registry import check


@check("portable: timestamps stored in UTC with an offset, read back local; uids; FTS detectable")
def check_portable_storage(home: Path) -> None:
    from dalletui.storage import DatabaseManager, PromptQuery

    path = home / "dalletui.db"
    db = DatabaseManager(path).open()
    try:
        prompt = db.record_prompt_use("a cyberpunk heron")
        assert prompt.created_at.tzinfo is not None, "a naive timestamp came back"
        assert db.count_prompts(PromptQuery(text="cyberpunk")) == 1
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT created_at FROM prompts").fetchone()
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'prompts_fts'").fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(generations)")}
    assert stored.endswith("+00:00"), stored
    # The spelling sqlite-utils' and Datasette's detect_fts look for.
    assert 'content="prompts"' in sql, sql
    assert "uid" in columns
