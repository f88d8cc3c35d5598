"""The History search's SQL: sort only ids, through an index, then fetch the page.

SQLite evaluates a result column's subqueries for every row it sorts, and a
``TEMP B-TREE FOR ORDER BY`` sorts every match before ``LIMIT``. So the page is chosen first as
bare ids, walking ``prompts_recency`` / ``prompts_uses`` (``INDEXED BY``, written in the SQL)
and stopping at the page's end; annotations are computed for those ids only, by one more
query (``PAGE_ROWS``) whose tuples become the page's ``Prompt`` rows directly: compiling Peewee
expressions and running its row wrapper cost more than the SQL itself.

For a text search two plans compete: walking the sort index and probing FTS membership (fast
when matches are many: the page fills early) or collecting the FTS rowids and sorting only them
(``NOT INDEXED``: each found by rowid; fast when matches are few, as walking the index would
scan most of history). A capped count of the FTS matches picks the plan (``walk_from``): the
walk reads about ``page × history / matches`` index entries and the sort ``matches`` rows, so
they cross near the square root of the history's size (measured: ~500 matches of 37k prompts,
~750 of 100k).

All SQL here is plain text with ``?`` parameters: user text (the FTS expression, the LIKE
pattern, the model, dates, tag and collection names, the cursor) is only ever bound, never
formatted in.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from typing import TYPE_CHECKING, Any

from dalletui.storage import fts
from dalletui.storage.counts import NO_IMAGE_STATUSES
from dalletui.storage.models import Prompt

if TYPE_CHECKING:
    from dalletui.storage.prompts import PromptQuery

#: From ``WALK_FACTOR × √(history size)`` FTS matches (at least ``WALK_FROM_MIN``), walking the
#: sort index fills a page sooner than sorting the matches.
WALK_FACTOR = 2.5
WALK_FROM_MIN = 200
INDEX = {"recent": "prompts_recency", "uses": "prompts_uses"}
SORT_COLUMN = {"recent": "last_used_at", "uses": "use_count"}


def fts_matches_at_least(db: Any, expression: str, cap: int) -> int:
    """How many prompts the FTS expression matches, counted up to ``cap`` (cheap: rowids)."""
    (n,) = db.execute_sql(
        "SELECT COUNT(*) FROM (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ? LIMIT ?)",
        (expression, cap),
    ).fetchone()
    return int(n)


#: What ``count_prompts_capped`` counts to by default (it asks for one more, to say "10,000+").
COUNT_CAP = 10_000

_last_count = threading.local()


def fts_count(db: Any, expression: str, cap: int) -> int:
    """``fts_matches_at_least``, remembered while nothing changed the database.

    History asks the same count twice per keystroke on one thread: to pick the page's plan,
    then for its total. For a short prefix each count merges the doclists of every matching
    term (a one-letter prefix: ~15 ms of 100k prompts), so the second is answered from the
    first while ``PRAGMA data_version`` (commits by other connections) and this connection's
    ``total_changes`` (its own writes) are unchanged.
    """
    conn = db.connection()
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    state = (conn, version, conn.total_changes, expression)
    last = getattr(_last_count, "value", None)
    if last is not None and last[0] is state[0] and last[1:4] == state[1:]:
        counted_to, n = last[4], last[5]
        if n < counted_to or cap <= counted_to:
            return min(n, cap)
    n = fts_matches_at_least(db, expression, cap)
    _last_count.value = (*state, cap, n)
    return n


def walk_from(db: Any) -> int:
    """How many FTS matches make walking the sort index the faster plan, for this history."""
    (size,) = db.execute_sql("SELECT max(rowid) FROM prompts").fetchone()  # O(1): the last row
    return max(WALK_FROM_MIN, int(WALK_FACTOR * math.sqrt(size or 0)))


def _stored(value: dt.datetime) -> Any:
    return Prompt.last_used_at.db_value(value)  # the one stored text form of a moment


#: Tags by name key (``= ?``, or a prefix range ``>= ? AND < ?``: the key index serves both).
_TAGGED = (
    "(SELECT pt.prompt_id FROM prompt_tags AS pt JOIN tags AS t ON t.id = pt.tag_id WHERE {key})"
)
#: A collection's prompts: those in it, and those with an image in it (not in the trash).
_COLLECTED = (
    "(SELECT ci.prompt_id FROM collection_items AS ci"
    " JOIN collections AS c ON c.id = ci.collection_id"
    " WHERE {key} AND ci.prompt_id IS NOT NULL"
    " UNION SELECT g.prompt_id FROM collection_items AS ci"
    " JOIN collections AS c ON c.id = ci.collection_id"
    " JOIN generations AS g ON g.id = ci.generation_id"
    " WHERE {key} AND g.deleted_at IS NULL)"
)
#: Past every character a key can hold: ``prefix + _TOP`` bounds the keys starting with prefix.
_TOP = "\U0010ffff"


def _key_match(column: str, key: str) -> tuple[str, list[Any]]:
    if key.endswith("*"):
        prefix = key.rstrip("*")
        return f"{column} >= ? AND {column} < ?", [prefix, prefix + _TOP]
    return f"{column} = ?", [key]


def organized_subqueries(query: PromptQuery) -> list[tuple[bool, str, list[Any]]]:
    """The tag and collection filters of ``query``: (negated, subquery of prompt ids, params).

    Plain SQL with ``?`` parameters, shared by ``where`` and ``_prompt_conditions``.
    """
    found: list[tuple[bool, str, list[Any]]] = []
    for keys, negated, template, column in (
        (query.tags, False, _TAGGED, "t.name_key"),
        (query.without_tags, True, _TAGGED, "t.name_key"),
        (query.collections, False, _COLLECTED, "c.name_key"),
        (query.without_collections, True, _COLLECTED, "c.name_key"),
    ):
        for key in keys:
            condition, params = _key_match(column, key)
            repeats = template.count("{key}")
            found.append((negated, template.format(key=condition), params * repeats))
    return found


def where(query: PromptQuery, alias: str = "p") -> tuple[list[str], list[Any]]:
    """The filters of ``query`` on ``prompts AS p``: SQL terms (ANDed) and their parameters.

    The same filters as ``PromptStore._prompt_conditions`` (Peewee, for the callers that
    compose it into their own queries); tests check the two agree. ``alias`` names the table
    (the fold's inner query asks the same filters of ``q``).
    """
    a = alias
    # The fold's inner query finds its rows by family key: ``+`` keeps SQLite from driving it
    # through an IN list instead (every FTS match probed per prompt: 9 s, not 10 ms, for a
    # common prefix over 37k prompts).
    rowid = "p.id" if alias == "p" else f"+{alias}.id"
    terms = [f"{a}.deleted_at IS NULL"]
    params: list[Any] = []
    # Tags and collections first: with ``NOT INDEXED`` SQLite drives from the first IN list,
    # and a tag's few prompts beat a common prefix's many (``tag:x a``: 18 ms, not 45).
    organized = organized_subqueries(query)
    for negated, subquery, values in organized:
        if not negated:
            terms.append(f"{rowid} IN {subquery}")
            params += values
    text = query.text.strip()
    if text:
        expression = fts.match_expression(query.text, prefix_last=query.prefix_last)
        if expression:
            terms.append(f"{rowid} IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?)")
            params.append(expression)
        else:
            terms.append(f"{a}.text LIKE ? ESCAPE '\\'")  # like_pattern escapes % and _
            params.append(fts.like_pattern(text))
    if query.favorites_only:
        terms.append(f"{a}.is_favorite = 1")
    if query.model:
        terms.append(
            f"{rowid} IN (SELECT g.prompt_id FROM generations AS g"
            " WHERE g.model = ? AND g.deleted_at IS NULL)"
        )
        params.append(query.model)
    if query.has_generations is not None:
        negate = "" if query.has_generations else "NOT "
        terms.append(
            f"{rowid} {negate}IN (SELECT g.prompt_id FROM generations AS g"
            " WHERE g.deleted_at IS NULL)"
        )
    if query.since:
        terms.append(f"{a}.last_used_at >= ?")
        params.append(_stored(query.since))
    if query.until:
        terms.append(f"{a}.last_used_at < ?")
        params.append(_stored(query.until))
    for negated, subquery, values in organized:
        if negated:
            terms.append(f"{rowid} NOT IN {subquery}")
            params += values
    if query.fold and alias == "p":
        inner, inner_params = where(query, alias="q")
        terms.append(FOLDED.format(matching=" AND ".join(inner)))
        params += inner_params
    return terms, params


#: Folded (``PromptQuery.fold``): a prompt is listed only when no other member of its family
#: that matches the same filters ranks above it (more uses, then used more recently, then the
#: older row), so each family shows once, as its most-used match. A prompt not folded yet
#: (``family_key`` NULL) has no family and always shows. ``prompts_family_key`` finds the
#: members: most families have one, so the probe usually finds nothing at once.
FOLDED = (
    "NOT EXISTS (SELECT 1 FROM prompts AS q WHERE q.family_key = p.family_key AND q.id <> p.id"
    " AND (q.use_count > p.use_count OR (q.use_count = p.use_count"
    " AND (q.last_used_at > p.last_used_at"
    " OR (q.last_used_at = p.last_used_at AND q.id < p.id))))"
    " AND {matching})"
)


def cursor_value(query: PromptQuery, value: Any) -> Any:
    """A cursor's sort value as stored (a moment's text, or a use count)."""
    return _stored(value) if query.order == "recent" else value


#: The table's hint for each plan of ``page_ids_sql``.
HINT = {
    "walk": {order: f" INDEXED BY {index}" for order, index in INDEX.items()},
    "sort": {order: " NOT INDEXED" for order in INDEX},
    "planner": {order: "" for order in INDEX},
}


def page_ids_sql(query: PromptQuery, limit: int, plan: str) -> tuple[str, list[Any]]:
    """The id query of a page: ``limit`` ids in the sort order, after the cursor.

    ``plan`` "walk" writes ``INDEXED BY`` the sort index into the SQL (the planner would often
    prefer the FTS side, then sort every match); "sort" writes ``NOT INDEXED`` (FTS rowids
    found by rowid, then sorted: left alone, the planner goes through ``prompts_deleted_at``
    and reads each row twice); "planner" leaves the choice to SQLite (other filters).
    """
    terms, params = where(query)
    column = SORT_COLUMN[query.order]
    if query.after is not None:
        value, last_id = query.after
        # A row value: the two-column sort index serves it as a range, not a filter.
        terms.append(f"(p.{column}, p.id) < (?, ?)")
        params += [cursor_value(query, value), last_id]
    hint = HINT[plan][query.order]
    sql = (
        f"SELECT p.id FROM prompts AS p{hint} WHERE {' AND '.join(terms)}"
        f" ORDER BY p.{column} DESC, p.id DESC LIMIT ?"
    )
    return sql, [*params, limit]


def count_sql(query: PromptQuery, cap: int, plan: str = "planner") -> tuple[str, list[Any]]:
    """How many prompts match ``query``, counted up to ``cap`` rows (``plan``: "sort" drives
    from the first IN list, as ``page_ids_sql``'s; "planner" leaves it to SQLite)."""
    terms, params = where(query)
    hint = HINT[plan][query.order]
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM prompts AS p{hint}"
        f" WHERE {' AND '.join(terms)} LIMIT ?)"
    )
    return sql, [*params, cap]


_NO_IMAGE = ", ".join(f"'{status}'" for status in NO_IMAGE_STATUSES)  # constants, not input

#: A page's rows with their annotations, for the ids (a JSON array) of the page. The counts
#: are those of ``counts.py``: images (succeeded, with a file), requests that brought nothing
#: (one each), requests under way, and the newest thumbnail; as one JSON array, or NULL for a
#: prompt without generations (most of an imported history: one probe instead of four).
PAGE_ROWS = f"""
SELECT p.id, p.text, p.text_hash, p.created_at, p.last_used_at, p.use_count, p.imported_uses,
  p.is_favorite, p.notes, p.deleted_at,
  CASE WHEN p.family_key IS NULL THEN 0 ELSE (SELECT COUNT(*) - 1 FROM prompts AS fam
    WHERE fam.family_key = p.family_key AND fam.deleted_at IS NULL) END,
  CASE WHEN EXISTS (SELECT 1 FROM generations AS any_row WHERE any_row.prompt_id = p.id)
  THEN json_array(
    (SELECT COUNT(img.id) FROM generations AS img
      WHERE img.prompt_id = p.id AND img.deleted_at IS NULL
        AND img.status = 'succeeded' AND img.file_path IS NOT NULL),
    (SELECT COUNT(DISTINCT failed.request_key) FROM generations AS failed
      WHERE failed.prompt_id = p.id AND failed.deleted_at IS NULL
        AND failed.status IN ({_NO_IMAGE})
        AND NOT EXISTS (SELECT 1 FROM generations AS req
          WHERE req.prompt_id = failed.prompt_id AND req.request_key = failed.request_key
            AND (req.file_path IS NOT NULL OR req.status NOT IN ({_NO_IMAGE})))),
    (SELECT COUNT(DISTINCT pending.request_key) FROM generations AS pending
      WHERE pending.prompt_id = p.id AND pending.deleted_at IS NULL
        AND pending.status = 'pending'),
    (SELECT thumb.thumbnail_path FROM generations AS thumb
      WHERE thumb.prompt_id = p.id AND thumb.status = 'succeeded' AND thumb.deleted_at IS NULL
      ORDER BY thumb.id DESC LIMIT 1))
  END
FROM prompts AS p WHERE p.id IN (SELECT value FROM json_each(?))
"""
_NO_GENERATIONS = (0, 0, 0, None)


def page_rows(db: Any, ids: list[int]) -> list[Prompt]:
    """The prompts of ``ids`` in the order of ``ids``, each with its annotations as attributes:
    ``image_count`` (``generation_count`` is the same number, its older name),
    ``failed_request_count``, ``pending_request_count``, ``latest_thumbnail`` and
    ``variant_count`` (the other live members of its near-duplicate family).

    The rows are built straight from the tuples (as Peewee's cursor builds them, without
    compiling a query or running its row wrapper): ``Prompt`` instances, so callers may still
    ``validate()`` or ``to_dict()`` them.
    """
    parse = Prompt.last_used_at.python_value
    moments: dict[Any, Any] = {}  # stored text -> datetime: a page often repeats one (imports)

    def moment(stored: Any) -> Any:
        if stored not in moments:
            moments[stored] = parse(stored)  # ~2 µs: the local offset (``astimezone``)
        return moments[stored]

    by_id: dict[int, Prompt] = {}
    for row in db.execute_sql(PAGE_ROWS, (json.dumps(ids),)):
        (row_id, text, digest, created, used, uses, imported, favorite, notes, deleted) = row[:10]
        variants = max(0, row[10] or 0)
        images, failed, pending, thumbnail = json.loads(row[11]) if row[11] else _NO_GENERATIONS
        prompt = Prompt(__no_default__=1)
        prompt.__data__ = {
            "id": row_id,
            "text": text,
            "text_hash": digest,
            "created_at": moment(created),
            "last_used_at": moment(used),
            "use_count": uses,
            "imported_uses": imported,
            "is_favorite": bool(favorite),
            "notes": notes,
            "deleted_at": moment(deleted),
        }
        prompt.image_count = prompt.generation_count = images
        prompt.failed_request_count = failed
        prompt.pending_request_count = pending
        prompt.latest_thumbnail = thumbnail
        prompt.variant_count = variants
        by_id[row_id] = prompt
    return [by_id[row_id] for row_id in ids if row_id in by_id]
