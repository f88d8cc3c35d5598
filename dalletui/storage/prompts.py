"""Prompts: history rows, use counts, favourites, full-text search.

Large imports live in ``prompt_import.py`` (a mixin of ``PromptStore``); their names are
re-exported here, where callers have always found them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from peewee import SQL, NodeList

from dalletui import timeutil
from dalletui.errors import ValidationError
from dalletui.storage import fts, search, search_syntax
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import (
    Generation,
    Prompt,
    normalize_prompt,
    now,
    prompt_hash,
)

# The import's names are re-exported: callers have always found them here.
from dalletui.storage.prompt_import import (
    IMPORT_CHUNK,  # noqa: F401
    IMPORT_PAUSE_S,  # noqa: F401
    STAGE_CHUNK,  # noqa: F401
    STALE_IMPORT,  # noqa: F401
    ImportSummary,  # noqa: F401
    PromptImportStore,
    _import_dead,  # noqa: F401
)
from dalletui.storage.versions import VersionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptQuery:
    """What the history list asks for: search text, filters, order and a keyset cursor."""

    text: str = ""
    favorites_only: bool = False
    model: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    has_generations: bool | None = None
    order: str = "recent"  # "recent" (last used) or "uses" (use count)
    limit: int = 50
    after: tuple[Any, int] | None = None  # (sort value, id) of the last row of the previous page
    prefix_last: bool = True
    #: Tag and collection name keys (``search_syntax.name_key``; a trailing ``*`` is a prefix):
    #: every tag of ``tags`` and every collection of ``collections``, none of the ``without_``.
    tags: tuple[str, ...] = ()
    without_tags: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    without_collections: tuple[str, ...] = ()
    #: What the search text asked for that could not be used (``from_search``): one sentence each.
    problems: tuple[str, ...] = ()
    #: Near-duplicates folded: each family once, as its most-used member that matches
    #: (``search.FOLDED``); its row's ``variant_count`` says how many others it has.
    fold: bool = False

    @classmethod
    def from_search(cls, search_text: str, **fields: Any) -> PromptQuery:
        """The query for what the user typed: its operators (``search_syntax``) become filters,
        ANDed with ``fields`` (the pickers' or flags'); the rest is the text searched.

        A ``model:`` typed wins over a ``model`` field; dates narrow (the later start, the
        earlier end). What cannot be used is left out and said in ``problems``.
        """
        base = cls(**fields)
        parsed = search_syntax.parse(search_text, prefix_last=base.prefix_last)
        since = [m for m in (base.since, parsed.since) if m is not None]
        until = [m for m in (base.until, parsed.until) if m is not None]
        return dataclasses.replace(
            base,
            text=parsed.text,
            favorites_only=base.favorites_only or parsed.favorites,
            model=parsed.model or base.model,
            since=max(since) if since else None,
            until=min(until) if until else None,
            tags=(*base.tags, *parsed.tags),
            without_tags=(*base.without_tags, *parsed.without_tags),
            collections=(*base.collections, *parsed.collections),
            without_collections=(*base.without_collections, *parsed.without_collections),
            problems=(*base.problems, *parsed.problems),
        )

    @property
    def organized(self) -> bool:
        """True when tags or collections narrow the query."""
        return bool(self.tags or self.without_tags or self.collections or self.without_collections)


@dataclass(frozen=True)
class PromptTotal:
    """A count of matching prompts; ``exact`` False means "at least ``count``" (shown 10,000+)."""

    count: int
    exact: bool = True

    def label(self) -> str:
        return f"{self.count:,}" if self.exact else f"{self.count:,}+"


@dataclass
class PromptPage:
    """One page of prompts, each annotated (attributes) with ``image_count`` (its images;
    ``generation_count`` is the same number, its older name), ``failed_request_count``
    (requests that brought no image, one each), ``pending_request_count`` and
    ``latest_thumbnail`` (see ``search.page_rows``)."""

    items: list[Prompt]
    next_cursor: tuple[Any, int] | None


class PromptStore(PromptImportStore, VersionStore, StoreBase):
    """Prompt rows: record a use, import many, favourite, search and count."""

    @guarded
    def record_prompt_use(
        self,
        text: str,
        when: dt.datetime | None = None,
        *,
        count: bool = True,
        parent_id: int | None = None,
    ) -> Prompt:
        """Return the prompt row for ``text``, creating it or marking it used now.

        ``count`` adds one to its use count. A request about to be sent passes ``count=False``
        (the prompt is in history at once, to retry, and last used now): its use is counted by
        ``count_prompt_use`` when it brings an image. A prompt in the trash that is used again
        comes back out of it.

        ``parent_id`` is the prompt this one was made from (reused and changed, or an edit's):
        linked when the prompt is new or has no parent yet, never to itself, never in a cycle
        (``VersionStore``).
        """
        clean = normalize_prompt(text)
        Prompt(text=clean).validate()
        when = timeutil.local(when) if when is not None else now()
        step = 1 if count else 0
        with self.write():
            digest = prompt_hash(clean)
            updated = (
                Prompt.update(use_count=Prompt.use_count + step, last_used_at=when, deleted_at=None)
                .where(Prompt.text_hash == digest)
                .execute()
            )
            if updated:
                prompt = Prompt.get(Prompt.text_hash == digest)
            else:
                prompt = Prompt.create(
                    text=clean, text_hash=digest, created_at=when, last_used_at=when, use_count=step
                )
            if parent_id is not None:
                self._link_parent(prompt, parent_id)
            return prompt

    @guarded
    def count_prompt_use(self, prompt_id: int) -> None:
        """One more use of a prompt: a request of it brought an image."""
        Prompt.update(use_count=Prompt.use_count + 1).where(Prompt.id == prompt_id).execute()

    @guarded
    def get_prompt(self, prompt_id: int) -> Prompt:
        return self._get(Prompt, prompt_id)

    @guarded
    def update_prompt(self, prompt_id: int, **changes: Any) -> Prompt:
        """Edit a prompt (text, notes, is_favorite); the text hash follows the text."""
        prompt = self._get(Prompt, prompt_id)
        if "text" in changes:
            changes["text"] = normalize_prompt(changes["text"])
            changes["text_hash"] = prompt_hash(changes["text"])
            if changes["text"] != prompt.text:
                changes.setdefault("family_key", None)  # folded again on the next pass
        return self._save(prompt, **changes)

    @guarded
    def set_favorite(self, prompt_id: int, on: bool = True) -> Prompt:
        prompt = self._get(Prompt, prompt_id)
        Prompt.update(is_favorite=on).where(Prompt.id == prompt_id).execute()
        prompt.is_favorite = on
        return prompt

    @guarded
    def toggle_favorite(self, prompt_id: int) -> Prompt:
        with self.write():
            prompt = self._get(Prompt, prompt_id)
            return self.set_favorite(prompt_id, not prompt.is_favorite)

    @guarded
    def delete_prompt(self, prompt_id: int) -> list[Generation]:
        """Remove a prompt and its generations for good (the ledger keeps its rows).

        Returns the generations removed. Users delete through the trash; this is its purge.
        """
        with self.write():
            self._get(Prompt, prompt_id)
            removed = list(Generation.select().where(Generation.prompt == prompt_id))
            Prompt.delete().where(Prompt.id == prompt_id).execute()
        return removed

    def _prompt_conditions(self, query: PromptQuery) -> list[Any]:
        conditions: list[Any] = [Prompt.deleted_at.is_null()]
        text = query.text.strip()
        if text:
            expression = fts.match_expression(query.text, prefix_last=query.prefix_last)
            if expression:
                conditions.append(Prompt.id.in_(fts.matching_ids(expression)))
            else:
                # like_pattern escapes % and _ with a backslash: SQLite honours it with ESCAPE
                like = (Prompt.text, SQL("LIKE"), fts.like_pattern(text), SQL("ESCAPE '\\'"))
                conditions.append(NodeList(like))
        if query.favorites_only:
            conditions.append(Prompt.is_favorite == True)  # noqa: E712 (SQL, not Python)
        if query.model:
            conditions.append(
                Prompt.id.in_(
                    Generation.select(Generation.prompt).where(
                        (Generation.model == query.model) & Generation.deleted_at.is_null()
                    )
                )
            )
        if query.has_generations is not None:
            with_generations = Prompt.id.in_(
                Generation.select(Generation.prompt).where(Generation.deleted_at.is_null())
            )
            conditions.append(with_generations if query.has_generations else ~with_generations)
        if query.since:
            conditions.append(Prompt.last_used_at >= query.since)
        if query.until:
            conditions.append(Prompt.last_used_at < query.until)
        for negated, subquery, params in search.organized_subqueries(query):
            ids = SQL(subquery, params)
            conditions.append(Prompt.id.not_in(ids) if negated else Prompt.id.in_(ids))
        if query.fold:
            terms, params = search.where(query)
            folded = SQL(f"(SELECT p.id FROM prompts AS p WHERE {' AND '.join(terms)})", params)
            conditions.append(Prompt.id.in_(folded))
        return conditions

    @guarded
    def search_prompts(self, query: PromptQuery = PromptQuery()) -> PromptPage:
        """One page of prompts matching ``query``, newest (or most used) first, by keyset."""
        if query.order not in ("recent", "uses"):
            raise ValidationError(f"Order '{query.order}' is unknown; use 'recent' or 'uses'.")
        limit = max(1, min(query.limit, 1000))
        # The page first, then its annotations: SQLite computes a result column's subqueries
        # for every row it sorts, so counting in the same SELECT counted the whole history.
        sql, params = search.page_ids_sql(query, limit + 1, self._search_plan(query))
        ids = [row_id for (row_id,) in self.db.execute_sql(sql, params)]
        if not ids:
            return PromptPage(items=[], next_cursor=None)
        items = search.page_rows(self.db, ids)
        has_more = len(items) > limit
        items = items[:limit]
        cursor = None
        if has_more:
            last = items[-1]
            cursor = (last.last_used_at if query.order == "recent" else last.use_count, last.id)
        return PromptPage(items=items, next_cursor=cursor)

    def _search_plan(self, query: PromptQuery) -> str:
        """How the page's ids are found (``search.page_ids_sql``): "walk", "sort" or "planner".

        With no filter but text: walk the sort index (stopping at the page's end), but for FTS
        text only when it matches many prompts (the page fills early); few matches are sorted
        as bare ids instead ("sort": walking would scan most of history). Other filters are
        left to the planner, which has their indexes.
        """
        if query.favorites_only or query.model or query.has_generations is not None:
            return "planner"
        if query.since or query.until:
            return "planner"
        text = query.text.strip()
        expression = (
            fts.match_expression(query.text, prefix_last=query.prefix_last) if text else None
        )
        if query.tags or query.collections:
            return self._organized_plan(query, expression)
        if not text:
            return "walk"
        if expression is None:
            return "walk"  # LIKE: a filter on the walk
        # Counted as far as the total will ask (``search.fts_count`` keeps it for that call).
        matches = search.fts_count(self.db, expression, search.COUNT_CAP + 1)
        return "walk" if matches >= search.walk_from(self.db) else "sort"

    def _organized_plan(self, query: PromptQuery, expression: str | None) -> str:
        """ "walk" or "sort" for a query narrowed by tags or collections (and maybe FTS text).

        The walk reads about ``page × history / matches`` index entries; the sort reads every
        member of the sets it intersects. With the sets' sizes counted (capped; the tag's,
        the collection's, the FTS matches) and the matches estimated as if the sets were
        independent, walk when ``matches × members ≥ WALK_FACTOR² × history``: for FTS text
        alone that is the text-only rule (``matches ≥ WALK_FACTOR × √history``). Measured on
        37k prompts with 1,000 tagged: ``tag:x a`` walks (6 ms, sorting took 43), ``tag:x
        zebra`` sorts (0.2 ms, walking took 13).
        """
        (history,) = self.db.execute_sql("SELECT max(rowid) FROM prompts").fetchone()
        history = max(1, history or 0)
        sizes = []
        cap = search.COUNT_CAP + 1
        for negated, subquery, params in search.organized_subqueries(query):
            if not negated:
                sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {subquery} LIMIT ?)"
                (n,) = self.db.execute_sql(sql, [*params, cap]).fetchone()
                sizes.append(int(n))
        if expression is not None:
            sizes.append(search.fts_count(self.db, expression, cap))
        matches = float(history)
        for n in sizes:
            matches *= n / history
        walk = matches * sum(sizes) >= search.WALK_FACTOR**2 * history
        return "walk" if walk else "sort"

    @guarded
    def count_prompts_capped(
        self, query: PromptQuery = PromptQuery(), cap: int = search.COUNT_CAP
    ) -> PromptTotal:
        """How many prompts match ``query``, counted exactly up to ``cap`` (then "cap+").

        A text-only query counts FTS rowids (no table rows read); others stop at ``cap + 1``.
        """
        text = query.text.strip()
        expression = (
            fts.match_expression(query.text, prefix_last=query.prefix_last) if text else None
        )
        only_text = not (
            query.favorites_only
            or query.model
            or query.has_generations is not None
            or query.since
            or query.until
            or query.organized
            or query.fold
        )
        if expression and only_text and not self._any_trashed():
            n = search.fts_count(self.db, expression, cap + 1)
        else:
            # Narrowed by tags or collections alone: count from their few ids, not the planner's
            # pick (it builds the FTS list and probes it: ``tag:x a`` 18 ms, not 65).
            alone = (query.tags or query.collections) and not (
                query.favorites_only or query.model or query.has_generations is not None
            )
            plan = "sort" if alone and not (query.since or query.until) else "planner"
            sql, params = search.count_sql(query, cap + 1, plan)
            (n,) = self.db.execute_sql(sql, params).fetchone()
        return PromptTotal(count=min(n, cap), exact=n <= cap)

    def _any_trashed(self) -> bool:
        row = self.db.execute_sql(
            "SELECT 1 FROM prompts WHERE deleted_at IS NOT NULL LIMIT 1"
        ).fetchone()
        return row is not None

    @guarded
    def prompt_rows(self, ids: list[int]) -> list[Prompt]:
        """The prompts of ``ids``, in that order, annotated as a search page's rows are."""
        return search.page_rows(self.db, list(ids)) if ids else []

    @guarded
    def count_prompts(self, query: PromptQuery = PromptQuery()) -> int:
        """How many prompts match ``query`` (ignoring its cursor and limit)."""
        select = Prompt.select()
        conditions = self._prompt_conditions(query)
        if conditions:
            select = select.where(*conditions)
        return select.count()
