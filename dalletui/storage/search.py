"""The History search's SQL: sort only ids, through an index, then fetch the page.

SQLite evaluates a result column's subqueries for every row it sorts, and a
``TEMP B-TREE FOR ORDER BY`` sorts every match before ``LIMIT``. So the page is chosen first as
bare ids, walking ``prompts_recency`` / ``prompts_uses`` (``INDEXED BY``) and stopping at the
page's end; annotations are computed for those ids only.

For a text search two plans compete: walking the sort index and probing FTS membership (fast
when matches are many: the page fills early) or collecting the FTS rowids and sorting only them
(fast when matches are few: walking the index would scan most of history). A capped count of
the FTS matches (``FTS_WALK_FROM``) picks the plan.
"""

from __future__ import annotations

from typing import Any

#: At this many FTS matches or more, walking the sort index fills a page sooner than sorting.
FTS_WALK_FROM = 2000
INDEX = {"recent": "prompts_recency", "uses": "prompts_uses"}


def fts_matches_at_least(db: Any, expression: str, cap: int) -> int:
    """How many prompts the FTS expression matches, counted up to ``cap`` (cheap: rowids)."""
    (n,) = db.execute_sql(
        "SELECT COUNT(*) FROM (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ? LIMIT ?)",
        (expression, cap),
    ).fetchone()
    return int(n)


def indexed(sql: str, order: str) -> str:
    """The compiled id query with the sort index forced (the planner may prefer the FTS side)."""
    return sql.replace(
        'FROM "prompts" AS "t1"', f'FROM "prompts" AS "t1" INDEXED BY {INDEX[order]}', 1
    )
