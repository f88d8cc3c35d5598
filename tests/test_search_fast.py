"""History search sorts only ids through an index, and counts cheaply: same rows as before.

Every filter x order x cursor paging is checked against a brute-force Python reference on a
seeded database; EXPLAIN QUERY PLAN shows no temp b-tree for the sort on the main paths.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dalletui.storage import DatabaseManager, PromptQuery

WORDS = ["fox", "forest", "cyber", "city", "neon", "portrait", "the", "castle", "🔥", "100%"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> DatabaseManager:
    path: Path = tmp_path_factory.mktemp("fast") / "dalletui.db"
    db = DatabaseManager(path).open()
    rng = random.Random(13)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 4))) + f" n{i}" for i in range(400)]
    db.import_prompts(texts + rng.choices(texts, k=300))
    for prompt in db.search_prompts(PromptQuery(limit=1000)).items[::9]:
        db.set_favorite(prompt.id)
    trashed = db.search_prompts(PromptQuery(limit=1000)).items[::17]
    ids = ",".join(str(p.id) for p in trashed)
    stamp = "2020-01-01 00:00:00.000000+00:00"
    db.db.execute_sql(f"UPDATE prompts SET deleted_at = '{stamp}' WHERE id IN ({ids})")
    return db


def reference(db: DatabaseManager, text: str, order: str, favorites: bool) -> list[int]:
    rows = db.db.execute_sql(
        "SELECT id, text, last_used_at, use_count, is_favorite FROM prompts "
        "WHERE deleted_at IS NULL"
    ).fetchall()
    words = text.lower().split()
    keep = []
    for row_id, body, used, uses, fav in rows:
        tokens = body.lower().split()
        if favorites and not fav:
            continue
        hit = all(any(t.startswith(w) for t in tokens) for w in words)
        if words and not hit and text not in body:
            continue
        keep.append((used if order == "recent" else uses, row_id))
    return [row_id for _, row_id in sorted(keep, reverse=True)]


@pytest.mark.parametrize("order", ["recent", "uses"])
@pytest.mark.parametrize("favorites", [False, True])
@pytest.mark.parametrize("text", ["", "fox", "cy", "the", "neon city", "🔥", "castle n1", "%"])
def test_pages_match_reference(seeded: DatabaseManager, text: str, order: str, favorites: bool):
    want = reference(seeded, text, order, favorites)
    got: list[int] = []
    cursor = None
    while True:
        page = seeded.search_prompts(
            PromptQuery(text=text, order=order, favorites_only=favorites, limit=7, after=cursor)
        )
        got += [p.id for p in page.items]
        for p in page.items:
            assert hasattr(p, "image_count") and p.generation_count == p.image_count
        cursor = page.next_cursor
        if cursor is None:
            break
    assert got == want
    total = seeded.count_prompts_capped(
        PromptQuery(text=text, favorites_only=favorites), cap=10_000
    )
    assert (total.count, total.exact) == (len(want), True)
    assert seeded.count_prompts(PromptQuery(text=text, favorites_only=favorites)) == len(want)


def test_capped_count_says_more(seeded: DatabaseManager) -> None:
    total = seeded.count_prompts_capped(PromptQuery(), cap=10)
    assert (total.count, total.exact) == (10, False)
    assert total.label() == "10+"
    assert not seeded.count_prompts_capped(PromptQuery(text="fox"), cap=3).exact


def id_query(db: DatabaseManager, query: PromptQuery) -> tuple[str, list[object]]:
    from dalletui.storage import search

    return search.page_ids_sql(query, 101, db._search_plan(query))


def plan(db: DatabaseManager, query: PromptQuery) -> str:
    sql, params = id_query(db, query)
    rows = db.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("order", ["recent", "uses"])
def test_unfiltered_sort_uses_index(seeded: DatabaseManager, order: str) -> None:
    text = plan(seeded, PromptQuery(order=order))
    assert "TEMP B-TREE FOR ORDER BY" not in text, text
    assert ("prompts_recency" if order == "recent" else "prompts_uses") in text


def test_schema_has_no_duplicate_recency_index(seeded: DatabaseManager) -> None:
    names = set(seeded.index_names())
    assert "prompts_recency" in names and "prompts_uses" in names
    assert "prompt_last_used_at" not in names and "prompt_use_count" not in names


@pytest.mark.parametrize("order", ["recent", "uses"])
@pytest.mark.parametrize("text", ["fox", "cy", "the", "neon city", "🔥"])
@pytest.mark.parametrize("plan_name", ["walk", "sort", "planner"])
def test_every_plan_gives_the_same_pages(
    seeded: DatabaseManager, text: str, order: str, plan_name: str
) -> None:
    """The plan changes how the ids are found, never which: each pages like the reference."""
    from dalletui.storage import search

    want = reference(seeded, text, order, False)
    got: list[int] = []
    query = PromptQuery(text=text, order=order, limit=7)
    while True:
        sql, params = search.page_ids_sql(query, 8, plan_name)
        ids = [row_id for (row_id,) in seeded.db.execute_sql(sql, params)]
        got += ids[:7]
        if len(ids) <= 7:
            break
        last = search.page_rows(seeded.db, [ids[6]])[0]
        value = last.last_used_at if order == "recent" else last.use_count
        query = PromptQuery(text=text, order=order, limit=7, after=(value, last.id))
    assert got == want


def test_id_query_names_its_index_and_the_plan_uses_it(seeded: DatabaseManager) -> None:
    from dalletui.storage import search

    for order, index in search.INDEX.items():
        sql, params = search.page_ids_sql(PromptQuery(text="fox", order=order), 101, "walk")
        assert f"FROM prompts AS p INDEXED BY {index} WHERE" in sql
        assert "fox" not in sql and any("fox" in str(p) for p in params)  # bound, not written
        text = " | ".join(
            str(r[-1]) for r in seeded.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert f"SCAN p USING INDEX {index}" in text and "TEMP B-TREE" not in text, text
    sql, params = search.page_ids_sql(PromptQuery(text="fox"), 101, "sort")
    assert "FROM prompts AS p NOT INDEXED WHERE" in sql
    text = " | ".join(
        str(r[-1]) for r in seeded.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
    )
    assert "USING INTEGER PRIMARY KEY" in text and "prompts_deleted_at" not in text, text


def test_many_matches_walk_few_sort(seeded: DatabaseManager, monkeypatch) -> None:
    from dalletui.storage import search

    assert seeded._search_plan(PromptQuery(text="n1")) == "sort"  # few
    assert seeded._search_plan(PromptQuery(text="")) == "walk"
    assert seeded._search_plan(PromptQuery(text="fox", favorites_only=True)) == "planner"
    monkeypatch.setattr(search, "WALK_FROM_MIN", 1)
    monkeypatch.setattr(search, "WALK_FACTOR", 0.0)
    assert seeded._search_plan(PromptQuery(text="fox")) == "walk"


def test_remembered_count_follows_every_write(tmp_path: Path) -> None:
    """The plan's FTS count answers the total only while nothing changed the database."""
    import threading

    db = DatabaseManager(tmp_path / "dalletui.db").open()
    try:
        db.import_prompts([f"fox {i}" for i in range(5)])
        fox = PromptQuery(text="fox")
        assert len(db.search_prompts(fox).items) == 5
        assert db.count_prompts_capped(fox).count == 5
        db.record_prompt_use("fox 99")  # this connection writes
        assert db.count_prompts_capped(fox).count == 6
        db.search_prompts(fox)
        # Another thread has its own connection: its commit is seen through data_version.
        writer = threading.Thread(target=lambda: db.record_prompt_use("fox 100"))
        writer.start()
        writer.join()
        assert db.count_prompts_capped(fox).count == 7
        assert db.count_prompts_capped(fox, cap=3).count == 3
        assert db.count_prompts_capped(fox).count == 7
    finally:
        db.close()


@pytest.fixture(scope="module")
def with_generations(tmp_path_factory: pytest.TempPathFactory) -> DatabaseManager:
    """Prompts with generations of every state: images, failures, pending, trashed, partial."""
    from dalletui.storage.models import Generation

    db = DatabaseManager(tmp_path_factory.mktemp("gens") / "dalletui.db").open()
    rng = random.Random(5)
    db.import_prompts([f"{rng.choice(WORDS)} {rng.choice(WORDS)} g{i}" for i in range(120)])
    prompts = db.search_prompts(PromptQuery(limit=1000)).items
    statuses = ["succeeded", "failed", "cancelled", "pending", "possibly_billed", "interrupted"]
    rows = []
    for prompt in prompts[::2]:
        for k in range(rng.randint(1, 5)):
            status = rng.choice(statuses)
            with_file = status == "succeeded" and rng.random() < 0.8 or rng.random() < 0.05
            rows.append(
                {
                    "prompt": prompt.id,
                    "request_key": f"r{prompt.id}-{rng.randint(0, 2)}",
                    "image_index": k,
                    "provider": "offline",
                    "model": rng.choice(["gpt-image-1", "gpt-image-2"]),
                    "size": "1024x1024",
                    "quality": "auto",
                    "output_format": "png",
                    "background": "auto",
                    "status": status,
                    "params": "{}",
                    "file_path": f"/i/{prompt.id}-{k}.png" if with_file else None,
                    "thumbnail_path": f"/t/{prompt.id}-{k}.png" if with_file else None,
                    "deleted_at": "2020-01-01 00:00:00.000000+00:00"
                    if rng.random() < 0.1
                    else None,
                }
            )
    Generation.insert_many(rows).execute()
    for prompt in prompts[::3]:
        db.set_favorite(prompt.id)
    return db


def test_page_annotations_are_those_of_counts(with_generations: DatabaseManager) -> None:
    """``PAGE_ROWS`` (plain SQL) counts as ``counts.py`` (Peewee, also used by the detail)."""
    from dalletui.storage import counts, search
    from dalletui.storage.models import Generation, Prompt

    thumb = (
        Generation.select(Generation.thumbnail_path)
        .where(
            (Generation.prompt == Prompt.id)
            & (Generation.status == "succeeded")
            & Generation.deleted_at.is_null()
        )
        .order_by(Generation.id.desc())
        .limit(1)
    )
    want = {
        row[0]: row[1:]
        for row in Prompt.select(
            Prompt.id,
            counts.image_count(Prompt.id),
            counts.failed_request_count(Prompt.id),
            counts.pending_request_count(Prompt.id),
            thumb,
        ).tuples()
    }
    ids = sorted(want)
    got = search.page_rows(with_generations.db, ids)
    assert [p.id for p in got] == ids
    assert {
        p.id: (p.image_count, p.failed_request_count, p.pending_request_count, p.latest_thumbnail)
        for p in got
    } == want
    assert any(v[0] for v in want.values()) and any(v[1] for v in want.values())
    assert any(v[2] for v in want.values()) and any(v[3] for v in want.values())


@pytest.mark.parametrize(
    "filters",
    [
        {"model": "gpt-image-2"},
        {"model": "gpt-image-1", "text": "fox"},
        {"has_generations": True},
        {"has_generations": False, "favorites_only": True},
        {"has_generations": False, "text": "ci"},
        {"since": "past"},
        {"until": "future", "text": "the", "order": "uses"},
    ],
)
def test_plain_sql_filters_agree_with_peewee(with_generations: DatabaseManager, filters) -> None:
    """``search.where`` and ``_prompt_conditions`` (still composed by other stores) agree."""
    import datetime as dt

    from dalletui.storage.models import Prompt

    db = with_generations
    moments = {
        "past": dt.datetime.now() - dt.timedelta(days=1),
        "future": dt.datetime.now() + dt.timedelta(days=1),
    }
    kw = {k: moments.get(v, v) if k in ("since", "until") else v for k, v in filters.items()}
    query = PromptQuery(limit=1000, **kw)
    sort = Prompt.last_used_at if query.order == "recent" else Prompt.use_count
    want = [
        p.id
        for p in Prompt.select(Prompt.id)
        .where(*db._prompt_conditions(query))
        .order_by(sort.desc(), Prompt.id.desc())
    ]
    assert [p.id for p in db.search_prompts(query).items] == want
    assert db.count_prompts_capped(query).count == len(want) == db.count_prompts(query)
