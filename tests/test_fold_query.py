"""The folded prompt list (``PromptQuery.fold``): each near-duplicate family once, as its
most-used member among those the search and filters keep, with its variant count."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from dalletui.generation.files import ImageStore
from dalletui.services.history import HistoryService, PromptQuery
from dalletui.storage import DatabaseManager, search
from dalletui.storage.models import Prompt
from dalletui.tui.widgets.history_filters import HistoryFilters

T0 = dt.datetime(2026, 3, 1, 12, 0)

#: (text, uses, minutes after T0): three families and two prompts alone.
ROWS = [
    ("a red fox in the snow at dawn", 3, 0),
    ("A red fox, in the snow at dawn!", 1, 5),  # same key: case and punctuation
    ("dawn snow the in fox red a", 1, 6),  # same key: word order
    ("a red fox in the deep snow at dawn", 1, 30),  # one word more: joined
    ("a blue whale in a storm at sea", 2, 1),
    ("a blue whale in a storm at night", 2, 2),  # one word replaced: joined, same uses
    ("an owl on a branch, ink", 1, 3),
    ("portrait of a sailor", 1, 4),
]


@pytest.fixture
def db(tmp_path: Path) -> DatabaseManager:
    manager = DatabaseManager(tmp_path / "fold.db").open()
    for text, uses, minutes in ROWS:
        for _ in range(uses):
            manager.record_prompt_use(text, T0 + dt.timedelta(minutes=minutes))
    manager.compute_families()
    yield manager
    manager.close()


def ids(db: DatabaseManager, query: PromptQuery) -> list[str]:
    return [p.text for p in db.search_prompts(dataclasses.replace(query, limit=1000)).items]


def pid(text: str) -> int:
    return int(Prompt.get(Prompt.text == text).id)


def test_each_family_once_as_its_most_used_member(db: DatabaseManager) -> None:
    # newest first: the fox family sits where its head (3 uses, T0) was last used
    assert ids(db, PromptQuery(fold=True)) == [
        "portrait of a sailor",
        "an owl on a branch, ink",
        "a blue whale in a storm at night",  # a tie in uses: the more recently used
        "a red fox in the snow at dawn",
    ]
    counts = {p.text: p.variant_count for p in db.search_prompts(PromptQuery(fold=True)).items}
    assert counts == {
        "portrait of a sailor": 0,
        "an owl on a branch, ink": 0,
        "a blue whale in a storm at night": 1,
        "a red fox in the snow at dawn": 3,
    }
    assert len(ids(db, PromptQuery())) == len(ROWS)  # unfolded: every prompt


def test_a_search_shows_the_family_as_its_most_used_match(db: DatabaseManager) -> None:
    assert ids(db, PromptQuery(text="deep", fold=True)) == ["a red fox in the deep snow at dawn"]
    assert ids(db, PromptQuery(text="fox", fold=True)) == ["a red fox in the snow at dawn"]
    assert ids(db, PromptQuery(text="sea", fold=True)) == ["a blue whale in a storm at sea"]
    db.tag_prompts([pid("dawn snow the in fox red a")], ["odd"])
    assert ids(db, PromptQuery.from_search("tag:odd", fold=True)) == ["dawn snow the in fox red a"]
    assert ids(db, PromptQuery.from_search("fox -tag:odd", fold=True)) == [
        "a red fox in the snow at dawn"
    ]


def test_the_trash_and_unfolded_prompts(db: DatabaseManager) -> None:
    db.update_prompt(pid("a red fox in the snow at dawn"), deleted_at=T0)
    folded = ids(db, PromptQuery(fold=True))
    # the next member by uses then recency heads the family now
    assert "a red fox in the deep snow at dawn" in folded
    assert "a red fox in the snow at dawn" not in folded
    head = next(p for p in db.search_prompts(PromptQuery(fold=True)).items if "deep" in p.text)
    assert head.variant_count == 2  # the trashed member is not counted
    # a prompt not folded yet (family_key NULL) always shows, as a family of one
    new = db.record_prompt_use("A RED FOX in the snow at dawn", T0 + dt.timedelta(days=1))
    assert new.family_key is None
    assert ids(db, PromptQuery(fold=True))[0] == "A RED FOX in the snow at dawn"


def test_plans_counts_and_pages_agree(db: DatabaseManager) -> None:
    for query in (
        PromptQuery(fold=True),
        PromptQuery(text="snow", fold=True),
        PromptQuery(text="a", fold=True, order="uses"),
        PromptQuery.from_search("whale is:fav", fold=True),
    ):
        pages = {
            plan: [r for (r,) in db.db.execute_sql(*search.page_ids_sql(query, 100, plan))]
            for plan in ("walk", "sort", "planner")
        }
        assert pages["walk"] == pages["sort"] == pages["planner"]
        want = [pid(t) for t in ids(db, query)]
        assert pages["walk"] == want
        assert db.count_prompts_capped(query).count == len(want) == db.count_prompts(query)
        # keyset pages of two: the same rows, in the same order, none twice
        got, after = [], None
        while True:
            page = db.search_prompts(dataclasses.replace(query, limit=2, after=after))
            got += [p.id for p in page.items]
            after = page.next_cursor
            if after is None:
                break
        assert got == want


def test_the_gallery_keeps_every_variant_s_images(db: DatabaseManager) -> None:
    filters = HistoryFilters(fold=True)
    assert filters.query().fold and not filters.scope().query.fold
    assert not filters.active  # folding narrows nothing: every family shows
    assert "variants folded" in filters.describe()


def test_variants_are_the_family_but_itself(db: DatabaseManager, tmp_path: Path) -> None:
    history = HistoryService(db, ImageStore(tmp_path / "images"))
    head = pid("a red fox in the snow at dawn")
    variants = history.variants(head)
    assert sorted(v.text for v in variants) == sorted(
        [
            "A red fox, in the snow at dawn!",
            "dawn snow the in fox red a",
            "a red fox in the deep snow at dawn",
        ]
    )
    assert all(v.variants == 3 for v in variants)  # each row knows its family's size
    assert history.variants(pid("portrait of a sailor")) == []


def test_the_fold_probe_goes_by_family_key(db: DatabaseManager) -> None:
    """The inner query must find members by ``prompts_family_key`` alone: driven through the
    FTS list instead, a common prefix over 37k prompts took 9 s to count, not 24 ms."""
    query = PromptQuery(text="a", prefix_last=True, fold=True)
    sql, params = search.count_sql(query, 10_001)
    plan = [row[3] for row in db.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]
    probes = [step for step in plan if step.startswith("SEARCH q")]
    assert probes == ["SEARCH q USING INDEX prompts_family_key (family_key=?)"], plan
