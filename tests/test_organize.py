"""Tags, collections and notes (issue 15): the store, the service, the CLI, export and import,
and migration 0009 on a populated v8 database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.errors import NotFoundError, ValidationError
from dalletui.services.context import Services, open_services
from dalletui.services.organize import ItemRef
from dalletui.storage import DatabaseManager
from dalletui.storage.models import CollectionItem, Generation, Tag
from dalletui.storage.organize import NOTE_MAX_CHARS, TAG_MAX_CHARS, clean_tag
from dalletui.storage.trash import TrashRef


def _generation(db: DatabaseManager, text: str) -> Generation:
    prompt = db.record_prompt_use(text)
    row = db.create_generations(
        prompt,
        1,
        provider="offline",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )[0]
    return db.finish_generation(row.id, status="succeeded", width=1024, height=1024)


def _restore(db: DatabaseManager, kind: Any, item_id: int) -> None:
    db.restore_entry(db.trash_entry(TrashRef(kind, item_id)))


def _positions(db: DatabaseManager, name: str) -> list[tuple[int, str]]:
    return [(e.position, e.ref) for e in db.collection_items(name)]


def _stored_positions(collection_id: int) -> list[int]:
    return [
        p
        for (p,) in CollectionItem.select(CollectionItem.position)
        .where(CollectionItem.collection == collection_id)
        .order_by(CollectionItem.position)
        .tuples()
    ]


# -- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "name", "key"),
    [
        ("Portrait", "Portrait", "portrait"),
        ("  night \t  sky ", "night sky", "night sky"),
        ("STRASSE", "STRASSE", "strasse"),
        ("Straße", "Straße", "strasse"),  # casefold, not lower
        ("x" * TAG_MAX_CHARS, "x" * TAG_MAX_CHARS, "x" * TAG_MAX_CHARS),
    ],
)
def test_tag_names_are_cleaned_and_folded(given: str, name: str, key: str) -> None:
    assert clean_tag(given) == (name, key)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "at least one character"),
        ("   ", "at least one character"),
        ("a,b", "holds a comma"),
        ("a\nb", "line break"),
        ("x" * (TAG_MAX_CHARS + 1), "the limit is 64"),
        ("bell\x07", "does not print"),
        ("esc\x1b[31m", "does not print"),
        ("rtl\u202e", "does not print"),
    ],
)
def test_bad_tag_names_are_refused_in_one_sentence(given: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_tag(given)
    assert problem in str(caught.value) and len(caught.value.problems) == 1
    assert str(caught.value).count(". ") == 0


def test_tags_are_case_insensitive_and_counted(db: DatabaseManager) -> None:
    fox, cat, dog = (db.record_prompt_use(t).id for t in ("a fox", "a cat", "a dog"))
    assert db.tag_prompts([fox, cat], ["Portrait", "portrait ", "Night Sky"]) == 4
    assert db.tag_prompts([fox], ["PORTRAIT"]) == 0  # already there
    assert db.tag_prompts([dog], ["night   sky"]) == 1
    assert db.tag_prompts([dog], ["zebra"]) == 1
    assert Tag.select().count() == 3
    assert [(t.name, t.count) for t in db.tags_with_counts()] == [
        ("Night Sky", 3),
        ("Portrait", 2),
        ("zebra", 1),
    ]
    assert db.tags_of(fox) == ["Night Sky", "Portrait"]
    assert [p.id for p in db.prompts_tagged("portrait")] == [cat, fox]  # last used first

    assert db.untag_prompts([fox, cat, dog], ["NIGHT SKY"]) == 3
    assert db.untag_prompts([fox], ["never seen"]) == 0
    assert not Tag.select().where(Tag.name_key == "night sky").exists()  # last link gone
    assert db.untag_prompts([dog], ["zebra"]) == 1
    assert [t.name for t in Tag.select()] == ["Portrait"]


def test_tagging_checks_everything_before_writing(db: DatabaseManager) -> None:
    fox = db.record_prompt_use("a fox").id
    with pytest.raises(NotFoundError, match="No prompt #99"):
        db.tag_prompts([fox, 99], ["portrait"])
    with pytest.raises(ValidationError, match="comma"):
        db.tag_prompts([fox], ["good", "bad,one"])
    with pytest.raises(ValidationError, match="at least one tag"):
        db.tag_prompts([fox], [])
    assert db.tags_of(fox) == [] and Tag.select().count() == 0


def test_trashed_prompts_keep_their_tags_but_leave_the_counts(db: DatabaseManager) -> None:
    fox, cat = (db.record_prompt_use(t).id for t in ("a fox", "a cat"))
    db.tag_prompts([fox, cat], ["animal"])
    db.tag_prompts([cat], ["cat"])
    db.trash_prompt(cat)
    assert [(t.name, t.count) for t in db.tags_with_counts()] == [("animal", 1)]
    assert [p.id for p in db.prompts_tagged("animal")] == [fox]
    assert db.tags_of(cat) == ["animal", "cat"]  # still linked
    _restore(db, "prompt", cat)
    assert [(t.name, t.count) for t in db.tags_with_counts()] == [("animal", 2), ("cat", 1)]


# -- collections -----------------------------------------------------------------------------


def test_collection_order_stays_dense(db: DatabaseManager) -> None:
    a, b, c = (db.record_prompt_use(t).id for t in ("a", "b", "c"))
    d = _generation(db, "d")
    image = d.id
    made = db.create_collection("Best Of", "the good ones")
    for pid in (a, b, c):
        db.add_to_collection("best of", prompt_id=pid)
    assert db.add_to_collection("BEST OF", generation_id=image, position=1) == 1
    assert _positions(db, "best of") == [(0, str(a)), (1, f"gen:{image}"), (2, str(b)), (3, str(c))]
    assert db.move_item("best of", prompt_id=c, new_position=0) == 0
    assert db.move_item("best of", prompt_id=a, new_position=99) == 3  # clamped to the end
    assert _positions(db, "best of") == [(0, str(c)), (1, f"gen:{image}"), (2, str(b)), (3, str(a))]
    db.remove_from_collection("best of", generation_id=image)
    assert _positions(db, "best of") == [(0, str(c)), (1, str(b)), (2, str(a))]
    assert _stored_positions(made.id) == [0, 1, 2]
    assert db.add_to_collection(made.id, prompt_id=d.prompt_id, position=50) == 3


def test_collection_refusals_are_one_sentence(db: DatabaseManager) -> None:
    fox = db.record_prompt_use("a fox").id
    db.create_collection("Foxes")
    with pytest.raises(ValidationError, match="already"):
        db.create_collection("  FOXES ")
    db.add_to_collection("foxes", prompt_id=fox)
    with pytest.raises(ValidationError, match=r"^Prompt #\d+ is in collection 'Foxes' already\.$"):
        db.add_to_collection("foxes", prompt_id=fox)
    with pytest.raises(NotFoundError, match="No collection 'cats'"):
        db.add_to_collection("cats", prompt_id=fox)
    with pytest.raises(NotFoundError):
        db.add_to_collection("foxes", generation_id=404)
    with pytest.raises(ValidationError, match="not both"):
        db.add_to_collection("foxes", prompt_id=fox, generation_id=1)
    with pytest.raises(NotFoundError, match="is not in collection"):
        db.remove_from_collection("foxes", prompt_id=fox + 1)
    with pytest.raises(ValidationError, match="line break"):
        db.create_collection("two\nlines")


def test_rename_and_delete_a_collection(db: DatabaseManager) -> None:
    fox = db.record_prompt_use("a fox").id
    db.create_collection("Foxes")
    db.create_collection("Cats")
    db.add_to_collection("foxes", prompt_id=fox)
    with pytest.raises(ValidationError, match="already"):
        db.rename_collection("foxes", "cats")
    renamed = db.rename_collection("foxes", "Red Foxes", description="all red")
    assert (renamed.name, renamed.description) == ("Red Foxes", "all red")
    db.rename_collection("red foxes", "RED FOXES")  # its own name in another case
    assert [(s.name, s.count) for s in db.list_collections()] == [("Cats", 0), ("RED FOXES", 1)]
    assert db.delete_collection("red foxes") == 1
    assert CollectionItem.select().count() == 0 and db.get_prompt(fox).text == "a fox"


def test_trashed_items_stay_in_place_but_leave_listings(db: DatabaseManager) -> None:
    fox, cat = (_generation(db, t) for t in ("a fox", "a cat"))
    db.create_collection("Pets")
    db.add_to_collection("pets", generation_id=fox.id)
    db.add_to_collection("pets", prompt_id=cat.prompt_id)
    db.add_to_collection("pets", generation_id=cat.id)
    db.trash_generation(fox.id)
    assert [e.ref for e in db.collection_items("pets")] == [str(cat.prompt_id), f"gen:{cat.id}"]
    assert db.list_collections()[0].count == 2
    assert len(db.collection_items("pets", include_deleted=True)) == 3
    db.trash_prompt(cat.prompt_id)  # its images go with it
    assert db.collection_items("pets") == [] and db.list_collections()[0].count == 0
    _restore(db, "generation", fox.id)
    (entry,) = db.collection_items("pets")
    assert (entry.position, entry.kind, entry.text, entry.model) == (
        0,
        "generation",
        "a fox",
        "gpt-image-1-mini",
    )
    db.delete_generation(fox.id)  # purged: the item goes
    assert len(db.collection_items("pets", include_deleted=True)) == 2


# -- notes -----------------------------------------------------------------------------------


def test_notes_are_cleaned_like_prompts(db: DatabaseManager) -> None:
    image = _generation(db, "a fox")
    assert db.set_generation_note(image.id, "  \x1b]52;c;aGk=\x07keep\x1b[31m this\x00\n ") == (
        "keep this"
    )
    assert db.get_generation(image.id).note == "keep this"
    assert db.set_prompt_note(image.prompt_id, "line one\n\tline two") == "line one\n\tline two"
    assert db.set_prompt_note(image.prompt_id, "") == ""
    assert db.get_prompt(image.prompt_id).notes == ""
    with pytest.raises(ValidationError, match="limit is 10,000"):
        db.set_generation_note(image.id, "x" * (NOTE_MAX_CHARS + 1))
    assert db.get_generation(image.id).note == "keep this"
    with pytest.raises(NotFoundError):
        db.set_prompt_note(999, "x")


# -- the service -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("12", ItemRef("prompt", 12)),
        ("p:12", ItemRef("prompt", 12)),
        ("gen:34", ItemRef("generation", 34)),
        ("GEN34", ItemRef("generation", 34)),
        ("#34", ItemRef("generation", 34)),
    ],
)
def test_item_refs(text: str, ref: ItemRef) -> None:
    assert ItemRef.parse(text) == ref


@pytest.mark.parametrize("text", ["", "0", "gen:0", "fox", "gen:x", "-3", "1e3", "12 13"])
def test_bad_item_refs(text: str) -> None:
    with pytest.raises(ValidationError):
        ItemRef.parse(text)


def test_service_adds_all_or_nothing(services: Services) -> None:
    db = services.db
    a, b = (db.record_prompt_use(t).id for t in ("a", "b"))
    image = _generation(db, "c").id
    organize = services.organize
    made = organize.create_collection("Mine", "mixed")
    assert (made.name, made.count, made.description) == ("Mine", 0, "mixed")
    assert organize.add("mine", [ItemRef("prompt", a), ItemRef("generation", image)]) == [0, 1]
    with pytest.raises(NotFoundError):
        organize.add("mine", [ItemRef("prompt", b), ItemRef("prompt", 999)])
    with pytest.raises(ValidationError, match="already"):
        organize.add("mine", [ItemRef("prompt", b), ItemRef("prompt", a)])
    view = organize.collection("MINE")
    assert [e.ref for e in view.items] == [str(a), f"gen:{image}"] and view.summary.count == 2
    assert organize.add("mine", [ItemRef("prompt", b)], position=0) == [0]
    assert organize.collections_of(ItemRef("prompt", b)) == ["Mine"]
    assert organize.remove("mine", [ItemRef("prompt", a), ItemRef("generation", image)]) == 2
    assert [e.ref for e in organize.collection("mine").items] == [str(b)]

    tagging = organize.tag([a, b], ["Fox", "red"])
    assert tagging.changed == 4 and tagging.tags == {a: ["Fox", "red"], b: ["Fox", "red"]}
    assert organize.tag_names("f") == ["Fox"] and organize.tag_names() == ["Fox", "red"]
    assert organize.untag([a], ["fox"]).tags == {a: ["red"]}
    assert organize.set_note(ItemRef("generation", image), "nice") == "nice"
    assert organize.note(ItemRef("generation", image)) == "nice"


# -- the CLI ---------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seeded(settings: Settings) -> dict[str, int]:
    """Prompts 'a fox' and 'a cat', each with one image; closed before the CLI runs."""
    services = open_services(settings)
    try:
        fox, cat = (_generation(services.db, t) for t in ("a fox", "a cat"))
        return {"fox": fox.prompt_id, "cat": cat.prompt_id, "gen_fox": fox.id, "gen_cat": cat.id}
    finally:
        services.close()


def test_cli_tags(capsys: pytest.CaptureFixture[str], seeded: dict[str, int]) -> None:
    fox, cat = str(seeded["fox"]), str(seeded["cat"])
    code, out, _ = run(capsys, "tag", fox, "Portrait", "night  sky")
    assert code == 0 and out == f"Added 2 tags on prompt #{fox}; its tags: night sky, Portrait.\n"
    assert run(capsys, "tag", cat, "portrait")[0] == 0
    code, out, _ = run(capsys, "tags")
    assert out.splitlines() == ["PROMPTS  TAG", "      2  Portrait", "      1  night sky"]
    code, out, _ = run(capsys, "tags", "--json")
    assert json.loads(out) == [
        {"name": "Portrait", "prompts": 2},
        {"name": "night sky", "prompts": 1},
    ]
    code, out, _ = run(capsys, "tag", fox, "NIGHT SKY", "--rm", "--json")
    assert json.loads(out) == {"id": int(fox), "changed": 1, "tags": ["Portrait"]}
    code, _, err = run(capsys, "tag", fox, "a,b")
    assert code == 1 and "comma" in err and err.count("\n") == 1
    code, _, err = run(capsys, "tag", "999", "x")
    assert code == 1 and "No prompt #999" in err


def test_cli_collections(capsys: pytest.CaptureFixture[str], seeded: dict[str, int]) -> None:
    fox, cat, gen = str(seeded["fox"]), str(seeded["cat"]), f"gen:{seeded['gen_fox']}"
    assert run(capsys, "collection", "create", "Best Foxes", "--description", "for the wall")[
        1
    ] == ("Created collection Best Foxes.\n")
    code, out, _ = run(capsys, "collection", "add", "best foxes", fox, gen, cat)
    assert code == 0 and "3 items" in out
    assert run(capsys, "collection", "move", "best foxes", cat, "0")[0] == 0
    code, out, _ = run(capsys, "collection", "show", "BEST FOXES")
    lines = out.splitlines()
    assert lines[:2] == ["Best Foxes (3 items)", "for the wall"]
    assert [line.split()[:2] for line in lines[2:]] == [["0", cat], ["1", fox], ["2", gen]]
    code, out, _ = run(capsys, "collection", "show", "best foxes", "--json")
    data = json.loads(out)
    assert [(e["position"], e["id"], e["kind"]) for e in data["entries"]] == [
        (0, cat, "prompt"),
        (1, fox, "prompt"),
        (2, gen, "image"),
    ]
    assert data["entries"][2]["text"] == "a fox" and data["items"] == 3
    code, _, err = run(capsys, "collection", "add", "best foxes", fox)
    assert (
        code == 1
        and err == f"dalletui: error: Prompt #{fox} is in collection 'Best Foxes' already.\n"
    )
    code, _, err = run(capsys, "collection", "add", "best foxes", "fox")
    assert code == 1 and "neither a prompt id" in err
    assert run(capsys, "collection", "rm", "best foxes", gen)[1] == (
        "Took 1 item out of best foxes.\n"
    )
    code, out, _ = run(capsys, "collection", "list", "--json")
    assert [(c["name"], c["items"]) for c in json.loads(out)] == [("Best Foxes", 2)]
    code, out, _ = run(capsys, "collection", "list")
    assert out.splitlines()[1].split() == ["2", "Best", "Foxes", "for", "the", "wall"]
    code, _, err = run(capsys, "collection", "delete", "best foxes")
    assert code == 1 and "add --yes" in err
    code, out, _ = run(capsys, "collection", "delete", "best foxes", "--yes")
    assert code == 0 and "Deleted collection Best Foxes" in out
    code, _, err = run(capsys, "collection", "show", "best foxes")
    assert code == 1 and "No collection" in err


def test_cli_notes(
    capsys: pytest.CaptureFixture[str],
    seeded: dict[str, int],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    gen = seeded["gen_fox"]
    code, out, _ = run(capsys, "note", f"gen:{gen}", "hi \x1b[31mthere")
    assert code == 0 and out == f"Noted on image #{gen}: hi there\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("from\nstdin\n"))
    assert run(capsys, "note", str(seeded["fox"]), "-")[0] == 0
    assert run(capsys, "note", f"gen:{gen}", "")[1] == f"Cleared the note of image #{gen}.\n"
    services = open_services(settings)
    try:
        assert services.db.get_prompt(seeded["fox"]).notes == "from\nstdin"
        assert services.db.get_generation(gen).note == ""
    finally:
        services.close()
    code, _, err = run(capsys, "note", "gen:999", "x")
    assert code == 1 and "No generation #999" in err


def test_cli_output_is_printable(capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    services = open_services(settings)
    try:
        pid = services.db.record_prompt_use("evil \x1b]0;title\x07 fox").id
        services.organize.create_collection("Evil")
        services.organize.add("evil", [ItemRef("prompt", pid)])
    finally:
        services.close()
    _, out, _ = run(capsys, "collection", "show", "evil")
    assert "\x1b" not in out and "\x07" not in out
