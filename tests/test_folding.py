"""Near-duplicate folding: exact keys, one-word-apart joins, incremental keys, hostile text."""

from __future__ import annotations

import json

import pytest

from dalletui.cli import main
from dalletui.services.context import Services
from dalletui.storage import DatabaseManager
from dalletui.storage.folding import (
    KEY_MAX,
    FoldItem,
    fold,
    fold_key,
    near_groups,
    stored_key,
)
from dalletui.storage.models import Prompt, normalize_prompt, now
from dalletui.tui.app import DalleTuiApp

#: A fixed sample: each inner tuple is one expected family, its most-used member first.
FAMILIES: tuple[tuple[str, ...], ...] = (
    (
        "a red fox in the snow",
        "A red fox in the snow",  # case
        "a  red   fox, in the snow!",  # spacing and punctuation
        "the snow in a red fox",  # word order
        "A RED FOX IN THE SNOW.",
        "a red fox in the snow, snow",  # a repeated word
        "a red fox in the deep snow",  # one word added
        "a grey fox in the snow",  # one word replaced
    ),
    (
        "castle on a hill at sunset, oil painting",
        "Castle on a hill at sunset - oil painting",
        "castle on a hill at sunrise, oil painting",  # one word replaced
    ),
    ("castle on a mountain at sunrise, watercolor painting",),  # two words changed: its own
    ("cat", "Cat!", "CAT"),
    ("a cat",),  # one word added, but too short to be a variant
    ("dog",),
    ("red cat sitting", "sitting cat, red"),
    ("blue cat sitting",),  # one word replaced in three: too little left in common
    ("neon city at night", "neon city at night, rain"),  # four words kept, one added
    ("neon city at dusk",),  # three words kept: not close enough
    ("Straße im Regen", "STRASSE IM REGEN"),  # casefold, not lower
    ("!!!",),
    ("???",),
    ("portrait of an old man, cinematic lighting, 8k", "portrait of an old man cinematic lighting"),
    ("portrait of a young woman, studio lighting",),
)


def _add(db: DatabaseManager, text: str, uses: int) -> Prompt:
    prompt = db.record_prompt_use(text)
    if uses > 1:
        Prompt.update(use_count=uses).where(Prompt.id == prompt.id).execute()
    return db.get_prompt(prompt.id)


def _sample(db: DatabaseManager) -> dict[str, int]:
    ids: dict[str, int] = {}
    for family in FAMILIES:
        for rank, text in enumerate(family):
            ids[text] = _add(db, text, uses=len(family) - rank + 1).id
    return ids


def _groups(db: DatabaseManager) -> set[frozenset[str]]:
    by_key: dict[str | None, set[str]] = {}
    for prompt in Prompt.select():
        assert prompt.family_key is not None
        by_key.setdefault(prompt.family_key, set()).add(prompt.text)
    return {frozenset(texts) for texts in by_key.values()}


def test_fold_key_ignores_case_space_punctuation_order_and_repeats() -> None:
    key = fold_key("a red fox in the snow")
    assert key == "a fox in red snow the"
    for variant in (
        "A  RED fox, in the snow!",
        "the snow in a red fox",
        "fox fox red a in the snow",
    ):
        assert fold_key(variant) == key
    assert fold_key("!!!") != fold_key("???")
    assert fold_key("Straße") == fold_key("STRASSE")


def test_sample_folds_into_the_expected_families(db: DatabaseManager) -> None:
    ids = _sample(db)
    assert db.pending_families() == len(ids)
    assert db.compute_families(batch=4) == len(ids)  # several batches
    assert _groups(db) == {frozenset(family) for family in FAMILIES}
    assert db.pending_families() == 0
    assert db.compute_families() == 0  # nothing left: a second pass writes nothing
    for family in FAMILIES:
        members = db.family_members(ids[family[-1]])
        assert [m.text for m in members] == list(family)  # the head (most used) first
    summary = db.family_summary()
    assert (summary.prompts, summary.families, summary.pending) == (len(ids), len(FAMILIES), 0)
    assert summary.folded == len(ids) - len(FAMILIES)


def test_the_family_key_is_the_heads_exact_key(db: DatabaseManager) -> None:
    ids = _sample(db)
    db.compute_families()
    fox = db.get_prompt(ids["a grey fox in the snow"])
    assert fox.family_key == fold_key("a red fox in the snow")


def test_a_variant_added_later_takes_the_existing_key(db: DatabaseManager) -> None:
    ids = _sample(db)
    db.compute_families()
    key = db.get_prompt(ids["a red fox in the snow"]).family_key
    later = _add(db, "A red fox in the snow???", uses=50)  # now the most used of them all
    fresh = _add(db, "a lighthouse in a storm, dramatic sky", uses=1)
    fresh_variant = _add(db, "lighthouse in a storm, dramatic night sky", uses=1)
    assert later.family_key is None
    assert db.compute_families() == 3
    assert db.get_prompt(later.id).family_key == key  # joined, and the key did not move
    assert db.get_prompt(ids["a grey fox in the snow"]).family_key == key
    assert db.family_members(ids["a grey fox in the snow"])[0].id == later.id  # the new head
    assert db.get_prompt(fresh.id).family_key == db.get_prompt(fresh_variant.id).family_key
    assert db.get_prompt(fresh.id).family_key != key


def test_an_edited_text_is_folded_again(db: DatabaseManager) -> None:
    ids = _sample(db)
    db.compute_families()
    edited = db.update_prompt(ids["dog"], text="A red fox in the snow, deep")
    assert edited.family_key is None
    db.compute_families()
    assert db.get_prompt(ids["dog"]).family_key == fold_key("a red fox in the snow")
    noted = db.update_prompt(ids["cat"], notes="kept")
    assert noted.family_key == fold_key("cat")


def test_heads_list_one_row_a_family_and_skip_the_trash(db: DatabaseManager) -> None:
    ids = _sample(db)
    unfolded = _add(db, "not folded yet", uses=1)
    other = _add(db, "not folded yet either", uses=1)
    heads = {h.prompt.text: h.variants for h in db.family_heads(limit=100)}
    assert heads["not folded yet"] == 0 and heads["not folded yet either"] == 0  # NULL: alone
    db.compute_families()
    assert db.get_prompt(unfolded.id).family_key != db.get_prompt(other.id).family_key
    heads = {h.prompt.text: h.variants for h in db.family_heads(limit=100)}
    assert heads["a red fox in the snow"] == 7 and heads["dog"] == 0
    assert len(heads) == len(FAMILIES) + 2
    Prompt.update(deleted_at=now()).where(Prompt.id == ids["a red fox in the snow"]).execute()
    heads = {h.prompt.text: h.variants for h in db.family_heads(limit=100)}
    assert "a red fox in the snow" not in heads and heads["A red fox in the snow"] == 6
    first = db.family_heads(limit=1)
    assert len(first) == 1 and first[0].prompt.text == "A red fox in the snow"  # most used
    members = db.family_members(ids["a grey fox in the snow"])
    assert ids["a red fox in the snow"] not in {m.id for m in members}


HOSTILE = [
    "",
    "   ",
    "\x00\x1b[31m\x07",
    "!!!",
    "?!?! ... ---",
    "\x1b[31mred\x07 fox \u202e in the snow",
    "word " * 6_000,
    "x" * 30_000,
    " ".join(f"w{i}" for i in range(5_000)),
    "\ud800 lone surrogate and more words here",
    "🦊🦊🦊 emoji only",
    "\t\n\r mixed \u00a0 spaces \u2003 here and there",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_fold_key_never_raises(text: str) -> None:
    key = fold_key(text)
    assert isinstance(key, str)
    assert len(stored_key(key)) <= KEY_MAX


def test_fold_of_hostile_rows_never_raises() -> None:
    rows = [FoldItem(i, t, i % 3) for i, t in enumerate(HOSTILE)]
    rows.append(FoldItem(len(rows), None, None))  # type: ignore[arg-type]
    result = fold(rows)
    assert set(result.keys) == {row.id for row in rows}
    assert all(len(key) <= KEY_MAX for key in result.keys.values())
    assert near_groups([]) == []


def test_hostile_prompts_in_the_database_fold(db: DatabaseManager) -> None:
    for text in HOSTILE:
        if normalize_prompt(text) and "\ud800" not in text:
            _add(db, text, uses=1)
    _add(db, "x" * 30_000 + " y", uses=1)
    assert db.compute_families() == Prompt.select().count()
    assert db.pending_families() == 0


def test_service_and_cli(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    _sample(services.db)
    run = services.families.fold()
    assert run.folded == sum(len(f) for f in FAMILIES) and run.seconds >= 0
    heads = services.families.heads(limit=100)
    fox = next(h for h in heads if h.head.text == "a red fox in the snow")
    assert fox.variants == 7 and fox.label == "(+7 variants)"
    assert [m.text for m in services.families.members(fox.head.id)] == list(FAMILIES[0])
    services.close()
    assert main(["history", "--fold", "--limit", "100"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == len(FAMILIES)
    assert any("a red fox in the snow  (+7 variants)" in line for line in lines)
    assert any(line.endswith("dog") for line in lines)
    assert "prompts in" in err
    assert main(["history", "--fold", "--json", "-n", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (
        len(rows) == 2 and rows[0]["text"] == "a red fox in the snow" and rows[0]["variants"] == 7
    )
    assert main(["history", "--fold", "--search", "fox"]) == 2


async def test_history_folds_new_prompts_in_the_background(
    app: DalleTuiApp, services: Services
) -> None:
    from tests.test_daily_image_view import open_history, settle, wait_until

    _sample(services.db)
    assert services.db.pending_families() > 0
    async with app.run_test(size=(120, 40)) as pilot:
        await app.switch_mode("history")
        screen = await open_history(pilot)
        await wait_until(pilot, lambda: services.db.pending_families() == 0)
        assert len(screen.prompt_list) > 0  # the list painted while (or before) it folded
        later = services.db.record_prompt_use("a red fox in the snow ...")
        screen.data_arrived()
        await settle(pilot)
        await wait_until(pilot, lambda: services.db.pending_families() == 0)
        key = services.db.get_prompt(later.id).family_key
        assert key == fold_key("a red fox in the snow")
