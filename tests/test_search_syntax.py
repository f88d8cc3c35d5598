"""Search operators: tag: in: is:fav model: before: after: alone, with words, negated, hostile."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from dalletui.cli import main
from dalletui.storage import DatabaseManager, PromptQuery, search_syntax
from dalletui.storage.models import (
    Collection,
    CollectionItem,
    Generation,
    Prompt,
    PromptTag,
    Tag,
)
from dalletui.storage.search_syntax import name_key, parse

PROMPTS = [
    "a red fox in the snow",  # 0: tagged animal, portrait; starred
    "a fox cub asleep",  # 1: tagged animal; in "My Collection"
    "cyberpunk city at night",  # 2: tagged city; its image in "My Collection"
    "cyber samurai portrait",  # 3: tagged Portrait; an image from gpt-image-2
    "the fox and the hound",  # 4: untagged, used long ago
]


def tag(prompt: Prompt, *names: str) -> None:
    for name in names:
        row, _ = Tag.get_or_create(name_key=name_key(name), defaults={"name": name})
        PromptTag.create(prompt=prompt, tag=row)


def collect(name: str, *, prompts: tuple[Prompt, ...] = (), generations: tuple[int, ...] = ()):
    collection = Collection.create(name=name, name_key=name_key(name))
    position = 0
    for prompt in prompts:
        CollectionItem.create(collection=collection, position=position, prompt=prompt)
        position += 1
    for generation in generations:
        CollectionItem.create(collection=collection, position=position, generation=generation)
        position += 1
    return collection


def add_image(db: DatabaseManager, prompt: Prompt, model: str = "gpt-image-2") -> int:
    [generation] = db.create_generations(
        prompt,
        1,
        provider="offline",
        model=model,
        size="1024x1024",
        quality="auto",
        output_format="png",
    )
    Generation.update(status="succeeded", file_path=f"{generation.id}.png").where(
        Generation.id == generation.id
    ).execute()
    return generation.id


@pytest.fixture
def organized(db: DatabaseManager) -> DatabaseManager:
    start = dt.datetime(2026, 11, 20, 9, 0)
    rows = [
        db.record_prompt_use(text, when=start + dt.timedelta(hours=i))
        for i, text in enumerate(PROMPTS)
    ]
    # the fourth, used again on 2026-11-02 (an older day than the others)
    Prompt.update(last_used_at=dt.datetime(2026, 11, 2, 12, 0).astimezone()).where(
        Prompt.id == rows[4].id
    ).execute()
    tag(rows[0], "animal", "portrait")
    tag(rows[1], "animal")
    tag(rows[2], "city")
    tag(rows[3], "Portrait")  # the same tag as "portrait"
    db.set_favorite(rows[0].id)
    image = add_image(db, rows[2], model="gpt-image-1.5")
    add_image(db, rows[3])
    collect("My Collection", prompts=(rows[1],), generations=(image,))
    collect("Other", prompts=(rows[4],))
    return db


def found(db: DatabaseManager, text: str, *, prefix_last: bool = False, **kw: object) -> set[str]:
    query = PromptQuery.from_search(text, prefix_last=prefix_last, limit=1000, **kw)
    items = db.search_prompts(query).items
    ids = [p.id for p in items]
    # Every path agrees: the page, the capped count, the Peewee conditions and their count.
    peewee = [p.id for p in Prompt.select(Prompt.id).where(*db._prompt_conditions(query))]
    assert sorted(peewee) == sorted(ids)
    assert db.count_prompts(query) == len(ids) == db.count_prompts_capped(query).count
    return {p.text for p in items}


# -- the parser, pure ------------------------------------------------------------------------


def test_parse_keeps_words_in_place_and_blanks_operators() -> None:
    parsed = parse('tag:Portrait "red fox" in:"My  Collection" cyb', prefix_last=True)
    assert parsed.text.split() == ['"red', 'fox"', "cyb"]
    assert parsed.tags == ("portrait",)
    assert parsed.collections == ("my collection",)
    assert parsed.text.endswith("cyb")  # still typing the last word: fts widens it


def test_a_trailing_operator_ends_the_word_before_it() -> None:
    assert parse("fox tag:animal", prefix_last=True).text.endswith(" ")
    assert parse("fox tag:animal", prefix_last=True).tags == ("animal*",)  # being typed
    assert parse("fox tag:animal ", prefix_last=True).tags == ("animal",)
    assert parse("fox tag:animal", prefix_last=False).tags == ("animal",)
    assert parse('in:"my coll', prefix_last=True).collections == ("my coll*",)
    assert parse('in:"my coll"', prefix_last=True).collections == ("my coll",)
    assert parse("tag:port* fox", prefix_last=False).tags == ("port*",)


def test_parse_operators() -> None:
    today = dt.date(2026, 12, 2)
    parsed = parse(
        "IS:FAV model:gpt-image-2 after:2026-11-01 before:2026-11-30 -tag:x -in:y",
        today=today,
        prefix_last=False,
    )
    assert parsed.text.strip() == ""
    assert parsed.favorites and parsed.model == "gpt-image-2"
    assert parsed.since == dt.datetime(2026, 11, 1).astimezone()
    assert parsed.until == dt.datetime(2026, 11, 30).astimezone()  # before: excludes the day
    assert parsed.without_tags == ("x",) and parsed.without_collections == ("y",)
    assert parse("until:2026-11-30").until == dt.datetime(2026, 12, 1).astimezone()
    assert parse("since:7d", today=today).since == dt.datetime(2026, 11, 25).astimezone()
    both = parse("after:2026-11-01 after:2026-11-10 before:2026-11-30 until:2026-11-20")
    assert both.since == dt.datetime(2026, 11, 10).astimezone()  # the narrower of each
    assert both.until == dt.datetime(2026, 11, 21).astimezone()


def test_an_operator_inside_a_phrase_is_text() -> None:
    parsed = parse('"red tag:x fox" owl')
    assert parsed.tags == () and parsed.text == '"red tag:x fox" owl'


def test_unknown_names_are_plain_words() -> None:
    for text in ("style:noir", 'foo:"bar baz"', "16:9", "http://x.org", "text:fox", "rowid:1"):
        parsed = parse(text)
        assert parsed.text == text and parsed.problems == ()
        assert parsed == search_syntax.ParsedSearch(text=text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("before:2026-13-45", "not a date on the calendar"),
        ("after:someday", "is not a date"),
        ("after:0001-01-01", "out of the calendar's range"),
        ("until:9999-12-31", "out of the calendar's range"),
        ("since:99999m", "out of the calendar's range"),
        ("is:great", "is:fav is the one"),
        ("-is:fav", "cannot be negated"),
        ("-model:x", "cannot be negated"),
        ("model:a model:b", "One model at a time"),
    ],
)
def test_unusable_operators_are_problems_not_filters(text: str, words: str) -> None:
    parsed = parse(f"fox {text} owl")
    assert parsed.text.split() == ["fox", "owl"]
    [problem] = parsed.problems
    assert words in problem and problem.endswith(".") and "\n" not in problem
    assert parsed.since is None and parsed.until is None and not parsed.favorites


def test_empty_values_are_ignored_quietly() -> None:
    for text in ("tag:", 'tag:""', "in:", "is:", "model:", "before:", "-tag:", "tag:*"):
        parsed = parse(text)
        assert parsed == search_syntax.ParsedSearch(text=" " * len(text)), text


def test_from_search_ands_the_pickers() -> None:
    since = dt.datetime(2026, 11, 5).astimezone()
    query = PromptQuery.from_search(
        "fox after:2026-11-01 model:b", model="a", since=since, favorites_only=True
    )
    assert query.text.split() == ["fox"]
    assert query.since == since and query.model == "b" and query.favorites_only
    assert PromptQuery.from_search("plain words") == PromptQuery(text="plain words")


# -- each operator on the database ------------------------------------------------------------


def test_tag_alone_case_folded(organized: DatabaseManager) -> None:
    assert found(organized, "tag:animal") == {PROMPTS[0], PROMPTS[1]}
    assert found(organized, "tag:PORTRAIT") == {PROMPTS[0], PROMPTS[3]}
    assert found(organized, "tag:animal tag:portrait") == {PROMPTS[0]}  # all must match
    assert found(organized, "tag:nosuch") == set()


def test_tag_prefix_while_typing(organized: DatabaseManager) -> None:
    assert found(organized, "tag:ani", prefix_last=True) == {PROMPTS[0], PROMPTS[1]}
    assert found(organized, "tag:ani ", prefix_last=True) == set()
    assert found(organized, "tag:ani*") == {PROMPTS[0], PROMPTS[1]}
    assert found(organized, "tag:c*") == {PROMPTS[2]}


def test_collection_holds_prompts_and_images(organized: DatabaseManager) -> None:
    assert found(organized, 'in:"my collection"') == {PROMPTS[1], PROMPTS[2]}
    assert found(organized, 'in:"MY   Collection"') == {PROMPTS[1], PROMPTS[2]}
    assert found(organized, "in:other") == {PROMPTS[4]}
    assert found(organized, 'in:"my coll', prefix_last=True) == {PROMPTS[1], PROMPTS[2]}
    assert found(organized, "in:nosuch") == set()


def test_an_image_in_the_trash_does_not_put_its_prompt_in_a_collection(
    organized: DatabaseManager,
) -> None:
    from dalletui.storage.models import now

    Generation.update(deleted_at=now()).where(Generation.model == "gpt-image-1.5").execute()
    assert found(organized, 'in:"my collection"') == {PROMPTS[1]}


def test_is_fav_model_and_dates(organized: DatabaseManager) -> None:
    assert found(organized, "is:fav") == {PROMPTS[0]}
    assert found(organized, "is:starred") == {PROMPTS[0]}
    assert found(organized, "model:gpt-image-2") == {PROMPTS[3]}
    assert found(organized, "model:gpt-image-1.5") == {PROMPTS[2]}
    assert found(organized, "before:2026-11-20") == {PROMPTS[4]}
    assert found(organized, "after:2026-11-20") == set(PROMPTS[:4])
    assert found(organized, "after:2026-11-02 before:2026-11-03") == {PROMPTS[4]}
    assert found(organized, "until:2026-11-02") == {PROMPTS[4]}  # the whole day
    assert found(organized, "since:2026-11-03 until:2026-11-19") == set()


def test_negation(organized: DatabaseManager) -> None:
    assert found(organized, "-tag:animal") == {PROMPTS[2], PROMPTS[3], PROMPTS[4]}
    assert found(organized, "tag:portrait -tag:animal") == {PROMPTS[3]}
    assert found(organized, "fox -tag:animal") == {PROMPTS[4]}
    assert found(organized, '-in:"my collection" cyber*') == {PROMPTS[3]}
    assert found(organized, "-tag:nosuch") == set(PROMPTS)


def test_operators_with_words_phrases_and_prefixes(organized: DatabaseManager) -> None:
    assert found(organized, "fox tag:animal") == {PROMPTS[0], PROMPTS[1]}
    assert found(organized, 'tag:animal "red fox"') == {PROMPTS[0]}
    assert found(organized, 'tag:animal "fox red"') == set()
    assert found(organized, "tag:portrait cyb", prefix_last=True) == {PROMPTS[3]}
    assert found(organized, "tag:portrait cyb") == set()  # the CLI: a whole word
    assert found(organized, "cyb tag:city", prefix_last=True) == set()  # cyb was finished
    assert found(organized, "cyber* tag:city ") == {PROMPTS[2]}
    assert found(organized, "is:fav fox") == {PROMPTS[0]}
    assert found(organized, "is:fav whale") == set()
    assert found(organized, "fox before:2026-11-10") == {PROMPTS[4]}
    assert found(organized, 'in:"my collection" city model:gpt-image-1.5') == {PROMPTS[2]}
    assert found(organized, "tag:city 🌃") == set()  # LIKE fallback, with a tag


def test_bad_date_is_ignored_as_a_filter(organized: DatabaseManager) -> None:
    query = PromptQuery.from_search("fox before:2026-02-30", prefix_last=True)
    assert query.problems and "calendar" in query.problems[0]
    assert {p.text for p in organized.search_prompts(query).items} == {
        PROMPTS[0],
        PROMPTS[1],
        PROMPTS[4],
    }


def test_gallery_scope_takes_the_operators(organized: DatabaseManager) -> None:
    query = PromptQuery.from_search("tag:portrait", prefix_last=False)
    images = organized.list_images(query, limit=100)
    assert [g.prompt.text for g in images] == [PROMPTS[3]]
    assert organized.count_images(query) == 1
    assert organized.count_images(PromptQuery.from_search("-tag:portrait")) == 1


def test_plans_agree_with_operators(organized: DatabaseManager) -> None:
    """Walk, sort and planner give the same ids for an operator query (the plan only speeds)."""
    from dalletui.storage import search

    query = PromptQuery.from_search("fox tag:animal", prefix_last=False, limit=1000)
    pages = {
        plan: [r for (r,) in organized.db.execute_sql(*search.page_ids_sql(query, 100, plan))]
        for plan in ("walk", "sort", "planner")
    }
    assert pages["walk"] == pages["sort"] == pages["planner"] and len(pages["walk"]) == 2


# -- hostile input ----------------------------------------------------------------------------

HOSTILE_OPERATORS = [
    "tag:",
    "tag:*",
    "tag:**",
    'tag:"',
    'tag:""',
    'tag:"""',
    "tag:'",
    "tag:%",
    "tag:_",
    "tag:\\",
    "tag:%_%",
    "-tag:",
    "--tag:x",
    "-tag:-",
    "tag:-x",
    "tag:x:y",
    "tag:tag:tag:",
    'in:"',
    'in:"unterminated',
    'in:"a"b"c',
    "in:\U0010ffff",
    "in:\x00",
    "tag:\x00x",
    "in:" + "ab" * 300,
    "tag:🦊",
    "tag:👨‍👩‍👧",
    "tag:日本語",
    "is:",
    "is:fav:fav",
    "is:*",
    "-is:",
    "model:",
    "model:'; DROP TABLE prompts;--",
    "model:%",
    "before:",
    "before:x",
    "before:2026-02-30",
    "before:0000-00-00",
    "after:0001-01-01",
    "until:9999-12-31",
    "after:99999d",
    "after:99999m",
    'after:"2026-11-01 10:00"',
    'after:"2026-11-01T10:00+14:00"',
    "after:-1d",
    "before:today after:tomorrow",
    "after:" + "9" * 5000,
    "TAG:X IN:Y IS:FAV",
    "tag:x AND NOT in:y",
    "NEAR(tag:x fox)",
    "(tag:x)",
    "tag:(x",
    '"tag:x"',
    '"in:"my collection""',
    ":tag:x",
    "tag :x",
    "fox tag:x 🔥",
    "\ttag:x\n",
]


@pytest.mark.parametrize("text", HOSTILE_OPERATORS)
def test_hostile_operators_never_raise(organized: DatabaseManager, text: str) -> None:
    for prefix_last in (True, False):
        query = PromptQuery.from_search(text, prefix_last=prefix_last)
        assert isinstance(organized.search_prompts(query).items, list)
        assert organized.count_prompts(query) >= 0
        assert organized.count_prompts_capped(query).count >= 0
        assert organized.count_images(query) >= 0
        for problem in query.problems:
            assert problem.endswith(".") and "\n" not in problem and len(problem) < 200
    assert organized.counts()["prompts"] == len(PROMPTS)


def test_hostile_list_is_long_enough() -> None:
    assert len(HOSTILE_OPERATORS) >= 50


# -- the CLI ----------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_history_search_operators(
    organized: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    organized.close()

    def texts(*argv: str) -> set[str]:
        code, out, err = run(capsys, "history", "--json", *argv)
        assert code == 0, err
        return {row["text"] for row in json.loads(out)}

    assert texts("--search", "tag:animal") == {PROMPTS[0], PROMPTS[1]}
    assert texts("--search", "fox -tag:animal") == {PROMPTS[4]}
    assert texts("--search", 'in:"My Collection"') == {PROMPTS[1], PROMPTS[2]}
    assert texts("--search", "is:fav") == {PROMPTS[0]}
    assert texts("--search", "tag:portrait", "--model", "gpt-image-2") == {PROMPTS[3]}
    assert texts("--search", "model:gpt-image-2 cyber") == {PROMPTS[3]}
    assert texts("--search", "before:2026-11-10") == {PROMPTS[4]}
    assert texts("--search", "after:2026-11-01", "--until", "2026-11-05") == {PROMPTS[4]}
    assert texts("--search", "tag:ani") == set()  # as typed: no prefix unless asked
    assert texts("--search", "tag:ani*") == {PROMPTS[0], PROMPTS[1]}
    assert texts("-s", "style:noir") == set()  # a plain word


@pytest.mark.parametrize(
    "search", ["before:2026-13-45", "after:someday fox", "is:great", "-model:x"]
)
def test_cli_refuses_an_unusable_operator_in_one_sentence(
    organized: DatabaseManager, capsys: pytest.CaptureFixture[str], search: str
) -> None:
    organized.close()
    code, out, err = run(capsys, "history", f"--search={search}")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.strip().endswith(".")
    assert "Traceback" not in err


def test_plan_for_tags_follows_the_sizes(db: DatabaseManager) -> None:
    """A rare tag sorts its few ids; a tag on most prompts walks the recency index."""
    db.import_prompts([f"common word n{i}" for i in range(400)])
    rows = list(Prompt.select())
    for row in rows[:2]:
        tag(row, "rare")
    for row in rows:
        tag(row, "everywhere")
    for text, plan in [
        ("tag:rare", "sort"),
        ("tag:rare common", "sort"),
        ("tag:everywhere", "walk"),
        ("tag:everywhere common", "walk"),
        ("-tag:rare common", "walk"),  # a negation narrows little: the text's own rule
    ]:
        query = PromptQuery.from_search(text, prefix_last=False)
        assert db._search_plan(query) == plan, text
        ids = [p.id for p in db.search_prompts(dataclasses.replace(query, limit=1000)).items]
        assert db.count_prompts_capped(query).count == len(ids) == db.count_prompts(query)
