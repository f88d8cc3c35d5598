"""Full-text search: words, prefixes, phrases, filters, ordering, keyset pages, hostile input."""

from __future__ import annotations

import datetime as dt

import pytest

from dalletui.storage import DatabaseManager, PromptQuery, fts

PROMPTS = [
    "a red fox in the snow",
    "cyberpunk city at night, neon rain",
    "cyber samurai portrait",
    "the fox and the hound, watercolour",
    "café au lait on a wooden table",
    "sunset over the sea 🔥 dramatic",
    "NEAR the old mill AND the river",
]


@pytest.fixture
def filled(db: DatabaseManager) -> DatabaseManager:
    start = dt.datetime(2026, 11, 1, 9, 0)
    for offset, text in enumerate(PROMPTS):
        db.record_prompt_use(text, when=start + dt.timedelta(hours=offset))
    return db


def texts(db: DatabaseManager, text: str, **kw: object) -> list[str]:
    return [p.text for p in db.search_prompts(PromptQuery(text=text, **kw)).items]  # type: ignore[arg-type]


def test_word_search(filled: DatabaseManager) -> None:
    assert set(texts(filled, "fox ", prefix_last=False)) == {PROMPTS[0], PROMPTS[3]}


def test_prefix_while_typing_and_explicit_star(filled: DatabaseManager) -> None:
    assert set(texts(filled, "cyb")) == {PROMPTS[1], PROMPTS[2]}
    assert set(texts(filled, "cyber*", prefix_last=False)) == {PROMPTS[1], PROMPTS[2]}
    assert texts(filled, "cyb ", prefix_last=True) == []  # a finished word is a whole word


def test_phrase_search(filled: DatabaseManager) -> None:
    assert texts(filled, '"red fox"') == [PROMPTS[0]]
    assert texts(filled, '"fox red"') == []


def test_words_are_anded(filled: DatabaseManager) -> None:
    assert texts(filled, "fox snow") == [PROMPTS[0]]


def test_diacritics_and_case_fold(filled: DatabaseManager) -> None:
    assert texts(filled, "CAFE") == [PROMPTS[4]]


def test_operators_are_plain_words(filled: DatabaseManager) -> None:
    assert texts(filled, "NEAR AND") == [PROMPTS[6]]


def test_emoji_falls_back_to_substring(filled: DatabaseManager) -> None:
    assert texts(filled, "🔥") == [PROMPTS[5]]


HOSTILE = [
    '"',
    '""',
    '"""',
    "'",
    "*",
    "**",
    "-",
    "--",
    "- -",
    "+",
    "^",
    ":",
    "text:",
    "text:fox",
    "(",
    ")",
    "()",
    "(fox",
    "fox)",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(fox snow)",
    "fox AND",
    "OR fox",
    "NOT fox",
    "fox NOT",
    "fox -snow",
    "-fox",
    "\\",
    "%",
    "_",
    "%_%",
    "fox*snow",
    "*fox",
    "fox**",
    '"unterminated',
    'a"b"c',
    "{fox}",
    "[fox]",
    "fox; DROP TABLE prompts;--",
    "🔥",
    "🦊🦊",
    "👨‍👩‍👧",
    "\u200b",
    "\x00",
    "\t\n",
    "   ",
    "ab" * 300,
    "ñ" * 50,
    "日本語の狐",
    "العربية",
    "fox\x00snow",
    "SELECT * FROM prompts",
    "rowid:1",
    "{text}:fox",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(filled: DatabaseManager, query: str) -> None:
    for prefix_last in (True, False):
        page = filled.search_prompts(PromptQuery(text=query, prefix_last=prefix_last))
        assert isinstance(page.items, list)
        assert filled.count_prompts(PromptQuery(text=query)) >= 0
    assert filled.counts()["prompts"] == len(PROMPTS)


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_as_operator_values_never_raise(
    filled: DatabaseManager, query: str
) -> None:
    """Each hostile string behind (and beside) every operator: filters or problems, no error."""
    forms = [f"{op}:{query}" for op in ("tag", "-tag", "in", "-in", "is", "model", "before")]
    forms += [f'in:"{query}"', f"after:{query} fox", f"{query} tag:x", f"tag:x {query}"]
    for text in forms:
        for prefix_last in (True, False):
            parsed = PromptQuery.from_search(text, prefix_last=prefix_last)
            assert isinstance(filled.search_prompts(parsed).items, list)
            assert filled.count_prompts(parsed) >= 0
            assert filled.count_prompts_capped(parsed).count >= 0
    assert filled.counts()["prompts"] == len(PROMPTS)


def test_hostile_list_is_long_enough() -> None:
    assert len(HOSTILE) >= 30


def test_match_expression_quotes_everything() -> None:
    assert (
        fts.match_expression('cyber "red fox" NEAR', prefix_last=True)
        == '"cyber" "red fox" "NEAR"*'
    )
    assert fts.match_expression('say "hi', prefix_last=False) == '"say" "hi"'
    assert fts.match_expression("🔥 *") is None


def test_filters(filled: DatabaseManager) -> None:
    fox = filled.search_prompts(PromptQuery(text="fox", prefix_last=False)).items
    filled.set_favorite(fox[0].id, True)
    assert texts(filled, "", favorites_only=True) == [fox[0].text]
    prompt = filled.record_prompt_use(PROMPTS[2])
    filled.create_generations(
        prompt,
        1,
        provider="offline",
        model="gpt-image-2",
        size="1024x1024",
        quality="auto",
        output_format="png",
    )
    assert texts(filled, "", model="gpt-image-2") == [PROMPTS[2]]
    assert texts(filled, "", model="dall-e-3") == []
    assert texts(filled, "", has_generations=True) == [PROMPTS[2]]
    assert len(texts(filled, "", has_generations=False)) == len(PROMPTS) - 1
    since = dt.datetime(2026, 11, 1, 11, 0)
    until = dt.datetime(2026, 11, 1, 13, 0)
    # PROMPTS[2] (11:00) was used again just now, so only PROMPTS[3] (12:00) is left in range.
    assert texts(filled, "", since=since, until=until) == [PROMPTS[3]]


def test_order_recent_and_by_uses(filled: DatabaseManager) -> None:
    assert texts(filled, "")[0] == PROMPTS[-1]
    for _ in range(3):
        filled.record_prompt_use(PROMPTS[1], when=dt.datetime(2026, 1, 1))
    assert texts(filled, "", order="uses")[0] == PROMPTS[1]
    assert texts(filled, "")[-1] == PROMPTS[1]


@pytest.mark.parametrize("order", ["recent", "uses"])
def test_keyset_pages_cover_everything_once(db: DatabaseManager, order: str) -> None:
    same_time = dt.datetime(2026, 11, 2, 8, 0)
    db.import_prompts([f"prompt number {i}" for i in range(57)], when=same_time)
    seen: list[int] = []
    cursor = None
    while True:
        page = db.search_prompts(PromptQuery(order=order, limit=10, after=cursor))
        seen.extend(p.id for p in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 57 and len(set(seen)) == 57


def test_search_stays_in_sync_on_update_and_delete(db: DatabaseManager) -> None:
    prompt = db.record_prompt_use("an old lighthouse")
    assert texts(db, "lighthouse") == ["an old lighthouse"]
    db.update_prompt(prompt.id, text="a new windmill")
    assert texts(db, "lighthouse") == []
    assert texts(db, "windmill") == ["a new windmill"]
    db.record_prompt_use("a new windmill")  # bumping use must not disturb the index
    assert texts(db, "windmill") == ["a new windmill"]
    db.delete_prompt(prompt.id)
    assert texts(db, "windmill") == []


def test_import_dedupes_and_counts(db: DatabaseManager) -> None:
    summary = db.import_prompts(["a", " a ", "", "b", "a"])
    assert (summary.lines, summary.added, summary.bumped) == (4, 2, 0)
    page = db.search_prompts(PromptQuery(order="uses"))
    assert [(p.text, p.use_count) for p in page.items] == [("a", 3), ("b", 1)]
    # A file holding "a" once more than any file before adds one use; fewer adds none.
    db.import_prompts(["a"] * 4)
    assert db.search_prompts(PromptQuery(text="a", prefix_last=False)).items[0].use_count == 4
    db.import_prompts(["a"])
    assert db.search_prompts(PromptQuery(text="a", prefix_last=False)).items[0].use_count == 4


def test_page_rows_carry_generation_count_and_thumbnail(db: DatabaseManager) -> None:
    prompt = db.record_prompt_use("owl")
    rows = db.create_generations(
        prompt,
        2,
        provider="offline",
        model="gpt-image-2",
        size="1024x1024",
        quality="auto",
        output_format="png",
    )
    db.update_generation(
        rows[1].id, status="succeeded", file_path="/i/2.png", thumbnail_path="/t/2.png"
    )
    item = db.search_prompts(PromptQuery()).items[0]
    # One image; the row still pending is a request under way, not a second image.
    assert item.generation_count == item.image_count == 1
    assert item.pending_request_count == 1 and item.failed_request_count == 0
    assert item.latest_thumbnail == "/t/2.png"
