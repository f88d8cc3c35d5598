"""TrashStore: marking, listing, restoring and purging rows; the ledger never changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage import DatabaseManager, PromptQuery
from dalletui.storage.models import Generation, Prompt, UsageStat
from dalletui.storage.trash import TrashRef


def add_prompt(db: DatabaseManager, text: str, images: int = 0, cost: str = "0.04") -> Prompt:
    prompt = db.record_prompt_use(text)
    for generation in db.create_generations(
        prompt,
        images,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    ):
        db.finish_generation(
            generation.id,
            usage={"cost": Decimal(cost)},
            status="succeeded",
            file_path=f"/nowhere/{generation.id}.png",
        )
    return prompt


def ledger(db: DatabaseManager) -> tuple[int, Decimal]:
    rows = list(UsageStat.select())
    return len(rows), sum((Decimal(str(row.cost)) for row in rows), Decimal(0))


def shown(db: DatabaseManager) -> list[str]:
    return [p.text for p in db.search_prompts(PromptQuery()).items]


def test_trash_prompt_marks_it_and_its_live_generations_together(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=2)
    add_prompt(db, "a blue whale", images=1)
    item = db.trash_prompt(fox.id)

    assert item.ref == TrashRef("prompt", fox.id) and item.text == "a red fox"
    assert len(item.generations) == 2 and item.image_count == 2
    assert db.get_prompt(fox.id).deleted_at == item.deleted_at
    for generation in db.generations_for_prompt(fox.id, include_deleted=True):
        assert generation.deleted_at == item.deleted_at
    assert shown(db) == ["a blue whale"]
    assert db.generations_for_prompt(fox.id) == []
    assert {g.prompt.text for g in db.list_generations()} == {"a blue whale"}
    assert db.count_prompts(PromptQuery(text="fox")) == 0


def test_trashing_twice_or_a_missing_row_is_a_clear_error(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=1)
    [generation] = db.generations_for_prompt(fox.id)
    db.trash_prompt(fox.id)
    with pytest.raises(ValidationError, match="already in the trash"):
        db.trash_prompt(fox.id)
    with pytest.raises(ValidationError, match="already in the trash"):
        db.trash_generation(generation.id)
    with pytest.raises(NotFoundError, match="No prompt #999"):
        db.trash_prompt(999)
    with pytest.raises(NotFoundError, match="No generation #999"):
        db.trash_generation(999)
    with pytest.raises(NotFoundError, match="not in the trash"):
        db.trash_entry(TrashRef("prompt", 999))


def test_listing_groups_a_prompt_with_what_was_trashed_with_it(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=3)
    whale = add_prompt(db, "a blue whale", images=2)
    oldest, middle, newest = sorted(g.id for g in db.generations_for_prompt(fox.id))
    t0 = dt.datetime(2026, 1, 1, 12)
    db.trash_generation(oldest, when=t0)
    db.trash_prompt(fox.id, when=t0 + dt.timedelta(minutes=1))
    [whale_image, _] = db.generations_for_prompt(whale.id)
    db.trash_generation(whale_image.id, when=t0 + dt.timedelta(minutes=2))

    items = db.list_trash()
    assert [str(item.ref) for item in items] == [
        f"generation:{whale_image.id}",
        f"prompt:{fox.id}",
        f"generation:{oldest}",
    ]
    whale_item, fox_item, lone = items
    assert sorted(g.id for g in fox_item.generations) == [middle, newest]
    assert lone.prompt_trashed is True and lone.text == "a red fox"
    assert whale_item.prompt_trashed is False
    assert shown(db) == ["a blue whale"]
    assert len(db.generations_for_prompt(whale.id)) == 1

    older = db.list_trash(before=t0 + dt.timedelta(seconds=90))
    assert [str(item.ref) for item in older] == [f"prompt:{fox.id}", f"generation:{oldest}"]


def test_restoring_a_prompt_brings_back_only_what_was_trashed_with_it(
    db: DatabaseManager,
) -> None:
    fox = add_prompt(db, "a red fox", images=2)
    first, second = sorted(g.id for g in db.generations_for_prompt(fox.id))
    db.trash_generation(first, when=dt.datetime(2026, 1, 1))
    item = db.trash_entry(db.trash_prompt(fox.id).ref)
    assert [g.id for g in item.generations] == [second]

    assert db.restore_entry(item, {second: ("/back/2.png", "/back/thumbs/2.png")}) == 1
    assert shown(db) == ["a red fox"]
    [live] = db.generations_for_prompt(fox.id)
    assert live.id == second and live.file_path == "/back/2.png"
    assert live.thumbnail_path == "/back/thumbs/2.png"
    assert [str(i.ref) for i in db.list_trash()] == [f"generation:{first}"]


def test_restoring_an_image_restores_its_trashed_prompt(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=2)
    first, second = sorted(g.id for g in db.generations_for_prompt(fox.id))
    db.trash_prompt(fox.id)
    item = db.trash_entry(TrashRef("generation", first))
    assert item.prompt_trashed

    assert db.restore_entry(item) == 1
    assert shown(db) == ["a red fox"]
    assert [g.id for g in db.generations_for_prompt(fox.id)] == [first]
    # The other image stays in the trash, now an entry of its own.
    assert [str(i.ref) for i in db.list_trash()] == [f"generation:{second}"]


def test_using_a_trashed_prompt_again_brings_it_back_without_its_images(
    db: DatabaseManager,
) -> None:
    fox = add_prompt(db, "a red fox", images=1)
    [generation] = db.generations_for_prompt(fox.id)
    db.trash_prompt(fox.id)
    db.record_prompt_use("a red fox")
    assert shown(db) == ["a red fox"]
    assert [str(i.ref) for i in db.list_trash()] == [f"generation:{generation.id}"]


def test_purge_removes_rows_and_keeps_the_ledger(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=2, cost="0.05")
    whale = add_prompt(db, "a blue whale", images=1, cost="0.07")
    before = ledger(db)
    assert before == (3, Decimal("0.17"))
    [whale_image] = db.generations_for_prompt(whale.id)
    db.trash_prompt(fox.id)
    db.trash_generation(whale_image.id)

    purged = db.purge_entries([TrashRef("prompt", fox.id), TrashRef("generation", whale_image.id)])
    assert len(purged.refs) == 2 and len(purged.generations) == 3
    assert ledger(db) == before
    assert UsageStat.select().where(UsageStat.generation.is_null()).count() == 3
    assert db.list_trash() == []
    with pytest.raises(NotFoundError):
        db.get_prompt(fox.id)
    assert Generation.select().count() == 0
    assert shown(db) == ["a blue whale"]  # a purged image leaves its prompt


def test_purge_skips_entries_no_longer_in_the_trash(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=1)
    item = db.trash_prompt(fox.id)
    db.restore_entry(item)
    purged = db.purge_entries([item.ref, TrashRef("generation", 12345)])
    assert purged.refs == () and purged.generations == ()
    assert shown(db) == ["a red fox"]


def test_purging_a_prompt_takes_the_images_trashed_before_it(db: DatabaseManager) -> None:
    fox = add_prompt(db, "a red fox", images=2)
    first, _ = sorted(g.id for g in db.generations_for_prompt(fox.id))
    db.trash_generation(first, when=dt.datetime(2026, 1, 1))
    db.trash_prompt(fox.id)
    purged = db.purge_entries([TrashRef("prompt", fox.id)])
    assert len(purged.generations) == 2
    assert db.list_trash() == []


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("prompt:12", TrashRef("prompt", 12)),
        ("generation:34", TrashRef("generation", 34)),
        ("image:34", TrashRef("generation", 34)),
        (" p#7 ", TrashRef("prompt", 7)),
        ("G:8", TrashRef("generation", 8)),
    ],
)
def test_trash_refs_parse(text: str, ref: TrashRef) -> None:
    assert TrashRef.parse(text) == ref
    assert TrashRef.parse(str(ref)) == ref


@pytest.mark.parametrize("text", ["12", "prompt", "prompt:", "folder:3", "prompt:-1", "", "p:0"])
def test_bad_trash_refs_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValidationError, match="prompt:|ids start at 1"):
        TrashRef.parse(text)
