"""Row 6: importing prompts through dalletui against a raw sqlite3 floor with the same schema.

Both start from an empty database made by ``DatabaseManager.open()`` (so the floor writes the
same tables, indexes and FTS triggers) and get the lines already in memory. The floor is the
least an import must do to reach the same database: count the distinct texts in memory (a dict),
hash each once, insert each once (its lines as its uses, in hash order) and build the full-text
index in one pass (FTS5 'rebuild' instead of a trigger per row), in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stats import peak_rss_mb

FLOOR_SQL = (
    "INSERT INTO prompts (text, text_hash, created_at, last_used_at, use_count, is_favorite,"
    " notes, imported_uses) VALUES (?, ?, ?, ?, ?, 0, '', ?)"
)


def _empty_db(home: Path) -> Path:
    from dalletui.storage import DatabaseManager

    home.mkdir(parents=True, exist_ok=True)
    DatabaseManager(home / "dalletui.db").open().close()
    return home / "dalletui.db"


def product(home: Path, lines: list[str]) -> dict[str, Any]:
    """Seconds for ``DatabaseManager.import_prompts(lines)`` into an empty database."""
    from dalletui.storage import DatabaseManager

    db = DatabaseManager(_empty_db(home)).open()
    start = time.perf_counter()
    summary = db.import_prompts(lines)
    seconds = time.perf_counter() - start
    db.close()
    return {"seconds": seconds, "added": summary.added, "peak_rss_mb": peak_rss_mb()}


def floor(home: Path, lines: list[str]) -> dict[str, Any]:
    """Seconds for the raw sqlite3 import of the same lines into the same schema."""
    path = _empty_db(home)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=1")
    when = dt.datetime.now().isoformat(sep=" ")
    start = time.perf_counter()
    uses = Counter(text for text in (line.strip() for line in lines) if text)
    rows = [
        (text, hashlib.sha256(text.encode()).hexdigest(), when, when, n, n)
        for text, n in uses.items()
    ]
    rows.sort(key=lambda r: r[1])  # the unique hash index filled in order
    (trigger,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'prompts_fts_insert'"
    ).fetchone()
    conn.execute("BEGIN")
    conn.execute("DROP TRIGGER prompts_fts_insert")
    conn.executemany(FLOOR_SQL, rows)
    conn.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")
    conn.execute(trigger)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def own_peak_rss_mb() -> float:
    """This process's own peak RSS: ``VmHWM``, which starts afresh at exec.

    ``ru_maxrss`` does not: on Linux a child started by ``subprocess`` inherits the peak of the
    parent it was forked from (run.py, holding the corpus), so both import-file runs reported
    the parent's 175 MB. Falls back to ``ru_maxrss`` where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def from_file(home: Path, path: Path) -> dict[str, Any]:
    """Seconds and peak RSS of importing a file as the CLI does (streamed lines); also the RSS
    before the import (the services opened), so the import's own share shows."""
    from dalletui.config import Settings
    from dalletui.services.context import open_services

    services = open_services(Settings(home=home))
    before = own_peak_rss_mb()
    start = time.perf_counter()
    summary = services.history.import_file(path)
    seconds = time.perf_counter() - start
    services.close()
    return {
        "seconds": seconds,
        "lines": summary.lines,
        "added": summary.added,
        "rss_before_mb": before,
        "peak_rss_mb": own_peak_rss_mb(),
    }
