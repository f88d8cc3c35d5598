"""Row 1: the History search call (page of 100 + count) against raw SQL that sorts only ids.

The call is what History asks the database per search: ``search_prompts`` (a page of 100) and
the count (``count_prompts_capped`` when the code has it, else ``count_prompts``). The floor is
the least SQL that answers the same question over the same file with the stdlib ``sqlite3``:
the ids of the page (FTS rowids, sorted by recency, limit first; the faster of walking the
recency index and sorting the FTS ids, query by query) and the FTS match count.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from stats import summary

_WORD = re.compile(r"[A-Za-z]{3,}")


def corpus_queries(lines: list[str], count: int, seed: int = 13) -> list[str]:
    """Seeded queries as typed: a first word, a 1-4 letter prefix of a word, or two words."""
    rng = random.Random(seed)
    worded = [words for words in (_WORD.findall(line) for line in lines) if words]
    queries: list[str] = []
    while len(queries) < count and worded:
        words = rng.choice(worded)
        kind = rng.randrange(3)
        if kind == 0:
            query = words[0]
        elif kind == 1:
            word = rng.choice(words)
            query = word[: rng.randint(1, min(4, len(word)))]
        else:
            if len(words) < 2:
                continue
            first = rng.randrange(len(words) - 1)
            query = f"{words[first]} {words[first + 1]}"
        queries.append(query.lower())
    return queries


def _product_call(db: Any, query_text: str) -> None:
    from dalletui.storage import PromptQuery

    query = PromptQuery(text=query_text, limit=100)
    db.search_prompts(query)
    if hasattr(db, "count_prompts_capped"):
        db.count_prompts_capped(PromptQuery(text=query_text))
    else:
        db.count_prompts(PromptQuery(text=query_text))


FLOOR_PAGE = (
    "SELECT id FROM prompts {hint} WHERE deleted_at IS NULL AND id IN "
    "(SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?) "
    "ORDER BY last_used_at DESC, id DESC LIMIT 101"
)
#: Walking the recency index (best for common words) or sorting the FTS ids (rare words).
HINTS = ("INDEXED BY prompts_recency", "NOT INDEXED")
FLOOR_COUNT = "SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH ?"


def _works(raw: sqlite3.Connection, hint: str) -> bool:
    try:
        raw.execute(FLOOR_PAGE.format(hint=hint), ('"a"',)).fetchall()
    except sqlite3.Error:
        return False  # e.g. no prompts_recency index in this schema
    return True


def _floor_ms(raw: sqlite3.Connection, expression: str | None, hints: list[str]) -> float:
    """The faster of the two id-only plans for the page, plus the FTS count, in ms."""
    if not expression:
        return 0.0
    best = None
    for hint in hints or [""]:
        start = time.perf_counter()
        raw.execute(FLOOR_PAGE.format(hint=hint), (expression,)).fetchall()
        spent = time.perf_counter() - start
        best = spent if best is None else min(best, spent)
    start = time.perf_counter()
    raw.execute(FLOOR_COUNT, (expression,)).fetchone()
    return ((best or 0.0) + time.perf_counter() - start) * 1000


def measure(home: Path, queries: list[str]) -> dict[str, Any]:
    """p50/p95/max of the product call and of the floor, query by query, same file."""
    from dalletui.storage import DatabaseManager
    from dalletui.storage.fts import match_expression

    db = DatabaseManager(home / "dalletui.db").open()
    raw = sqlite3.connect(home / "dalletui.db")
    product: list[float] = []
    floor: list[float] = []
    hints = [h for h in HINTS if _works(raw, h)]
    try:
        for text in queries[:5]:  # warm both page caches alike
            _product_call(db, text)
        for text in queries:
            start = time.perf_counter()
            _product_call(db, text)
            product.append((time.perf_counter() - start) * 1000)
            floor.append(_floor_ms(raw, match_expression(text), hints))
    finally:
        raw.close()
        db.close()
    return {"product": summary(product), "floor": summary(floor), "queries": len(queries)}
