"""Tags, collections and notes (issue 15): the store, the service, the CLI, export and import,
and migration 0009 on a populated v8 database."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playhouse.migrations import Runner

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.errors import NotFoundError, ValidationError
from dalletui.services.context import Services, open_services
from dalletui.services.exchange import ExportOptions, ImportRefused
from dalletui.services.organize import ItemRef
from dalletui.storage import DatabaseManager, PromptQuery
from dalletui.storage.database import MIGRATIONS_DIR
from dalletui.storage.models import CollectionItem, Generation, Tag, database
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


# -- export and import -----------------------------------------------------------------------


def _export(services: Services, **options: Any) -> dict[str, Any]:
    data, _ = services.exchange.export_bytes(ExportOptions(**options))
    return json.loads(data)


def _content(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "exported_at"}


def _organized(services: Services) -> dict[str, int]:
    """Tags, collections and a note: fox and cat tagged, a collection of cat, gen fox, fox."""
    db, organize = services.db, services.organize
    fox, cat = (_generation(db, t) for t in ("a fox", "a cat"))
    organize.tag([fox.prompt_id, cat.prompt_id], ["Animal"])
    organize.tag([fox.prompt_id], ["Red  Fur"])
    organize.create_collection("Best", "the best ones")
    organize.add(
        "best",
        [
            ItemRef("prompt", cat.prompt_id),
            ItemRef("generation", fox.id),
            ItemRef("prompt", fox.prompt_id),
        ],
    )
    organize.set_note(ItemRef("generation", fox.id), "print this")
    return {"fox": fox.prompt_id, "gen_fox": fox.id, "cat": cat.prompt_id}


def _write(document: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_tags_collections_and_notes_round_trip(services: Services, tmp_path: Path) -> None:
    _organized(services)
    document = _export(services)
    tags = {p["text"]: p["tags"] for p in document["prompts"]}
    assert tags == {"a fox": ["Animal", "Red Fur"], "a cat": ["Animal"]}
    notes = {g["note"] for g in document["generations"]}
    assert notes == {"print this", ""}
    (collection,) = document["collections"]
    hashes = {p["text"]: p["text_hash"] for p in document["prompts"]}
    fox_uid = next(g["uid"] for g in document["generations"] if g["note"])
    assert (collection["name"], collection["description"]) == ("Best", "the best ones")
    assert [(i["position"], i["prompt"], i["generation"]) for i in collection["items"]] == [
        (0, hashes["a cat"], None),
        (1, None, fox_uid),
        (2, hashes["a fox"], None),
    ]
    path = _write(document, tmp_path / "all.json")

    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        summary = other.exchange.import_file(path)
        assert (summary.tags, summary.collections, summary.collection_items) == (3, 1, 3)
        assert "3 tags, 1 collections (3 items)" in summary.line("all.json")
        assert _content(_export(other)) == _content(document)
        counts = other.db.counts()
        again = other.exchange.import_file(path)  # twice: nothing changes
        assert (again.tags, again.collections, again.collection_items, again.notes) == (0,) * 4
        assert other.db.counts() == counts
        assert _content(_export(other)) == _content(document)
        view = other.organize.collection("best")
        assert [e.text for e in view.items] == ["a cat", "a fox", "a fox"]
        assert [e.kind for e in view.items] == ["prompt", "generation", "prompt"]


def test_an_import_merges_into_what_is_here(services: Services, tmp_path: Path) -> None:
    """A collection of the same name gains the missing items at its end; tags match in any
    case; a local note is kept, an empty one filled."""
    ids = _organized(services)
    path = _write(_export(services), tmp_path / "all.json")
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        other.exchange.import_file(path)
        fox = other.db.get_generation(1)
        other.organize.set_note(ItemRef("generation", fox.id), "")
        other.organize.remove("best", [ItemRef("prompt", fox.prompt_id)])
        other.organize.untag([fox.prompt_id], ["red fur"])
        summary = other.exchange.import_file(path)
        assert (summary.tags, summary.collection_items, summary.notes) == (1, 1, 1)
        assert other.organize.tags_of(fox.prompt_id) == ["Animal", "Red Fur"]
        assert other.db.get_generation(fox.id).note == "print this"
        assert [e.ref for e in other.organize.collection("best").items][-1] == str(fox.prompt_id)

    third = tmp_path / "third"
    with contextlib.closing(open_services(Settings(home=third))) as here:
        cat = here.db.record_prompt_use("a cat").id
        here.organize.tag([cat], ["ANIMAL"])
        here.organize.create_collection("BEST")
        here.organize.add("best", [ItemRef("prompt", cat)])
        here.exchange.import_file(path)
        assert [t.name for t in here.organize.tags()] == ["ANIMAL", "Red Fur"]
        (summary,) = here.organize.collections()
        assert (summary.name, summary.count) == ("BEST", 3)  # the cat once
    assert ids


def test_an_export_without_organising_still_imports(services: Services, tmp_path: Path) -> None:
    _organized(services)
    document = _export(services)
    del document["collections"]  # as a dalletui before schema 9 wrote it
    for record in document["prompts"]:
        del record["tags"]
    for record in document["generations"]:
        del record["note"]
    path = _write(document, tmp_path / "old.json")
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        assert other.exchange.import_file(path).generations == 2
        assert other.organize.tags() == [] and other.organize.collections() == []
        assert {g.note for g in Generation.select()} == {""}


def test_json_lines_carry_collections(services: Services, tmp_path: Path) -> None:
    _organized(services)
    data, summary = services.exchange.export_bytes(ExportOptions(format="jsonl"))
    assert summary.collections == 1
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert [line["type"] for line in lines][-2:] == ["collection", "end"]
    path = tmp_path / "all.jsonl"
    path.write_bytes(data)
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        assert other.exchange.import_file(path).collection_items == 3


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["prompts"][0].update(tags=["a,b"]), r"prompts\[0\]\.tags\[0\]: .*comma"),
        (lambda d: d["prompts"][0].update(tags=["x" * 65]), "the limit is 64"),
        (lambda d: d["prompts"][0].update(tags="animal"), "must be a list of text"),
        (lambda d: d["collections"][0]["items"][0].update(generation="0" * 32), "one prompt or"),
        (lambda d: d["collections"][0]["items"][1].update(position=0), "same position"),
        (lambda d: d["collections"][0].update(name=" "), "needs a name"),
        (lambda d: d["collections"].append(dict(d["collections"][0])), "appears twice"),
        (lambda d: d["generations"][0].update(note="x" * 10_001), "over"),
    ],
)
def test_bad_organising_in_a_file_is_refused(
    services: Services, tmp_path: Path, change: Any, problem: str
) -> None:
    _organized(services)
    document = _export(services)
    change(document)
    path = _write(document, tmp_path / "bad.json")
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        with pytest.raises(ImportRefused, match=problem):
            other.exchange.import_file(path)
        assert other.db.counts()["prompts"] == 0


# -- migration 0009 --------------------------------------------------------------------------


def _raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _v8(path: Path) -> None:
    """A populated database at schema 8 (lineage, before organising)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0008_lineage")
    database.pragma("user_version", 8)
    stamp = "2026-11-20 10:00:00.000000+00:00"
    database.execute_sql(
        "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
        "is_favorite, notes) VALUES (1, 'a fox', ?, ?, ?, 3, 1, 'old note')",
        (hashlib.sha256(b"a fox").hexdigest(), stamp, stamp),
    )
    for gid in (1, 2):
        database.execute_sql(
            "INSERT INTO generations (id, uid, prompt_id, request_key, image_index, provider, "
            "model, size, quality, output_format, background, status, params, created_at, kind) "
            "VALUES (?, ?, 1, 'k', 0, 'offline', 'gpt-image-1-mini', '1024x1024', 'low', "
            "'png', 'auto', 'succeeded', '{}', ?, 'generate')",
            (gid, f"{gid:032x}", stamp),
        )
        database.execute_sql(
            "INSERT INTO usage_stats (uid, generation_id, kind, model, provider, "
            "input_text_tokens, input_image_tokens, output_image_tokens, output_text_tokens, "
            "total_tokens, cost, price_basis, prices, created_at) VALUES (?, ?, 'image', "
            "'gpt-image-1-mini', 'offline', 0, 0, 0, 0, 0, '0.01', 'offline', '{}', ?)",
            (f"{gid + 100:032x}", gid, stamp),
        )
    database.execute_sql(
        "INSERT INTO generation_inputs (generation_id, position, role, parent_generation_id) "
        "VALUES (2, 0, 'image', 1)"
    )
    database.close()


PROMPT_ROWS = "SELECT id, text, text_hash, use_count, is_favorite, notes FROM prompts"
GENERATION_ROWS = "SELECT id, uid, status, kind FROM generations ORDER BY id"
LEDGER = "SELECT uid, generation_id, cost FROM usage_stats ORDER BY id"


def test_migration_0009_up_on_a_populated_v8_database_down_and_up(home: Path) -> None:
    path = home / "dalletui.db"
    _v8(path)
    before = [_raw(path, sql) for sql in (PROMPT_ROWS, GENERATION_ROWS, LEDGER)]
    with DatabaseManager(path) as db:
        assert db.schema_version() == 9 and db.pragma("user_version") == 9
        assert {"tags", "prompt_tags", "collections", "collection_items"} <= set(db.table_names())
        assert db.get_generation(1).note == "" and db.get_prompt(1).notes == "old note"
        assert [r.parent_generation_id for r in db.inputs(2)] == [1]
        db.tag_prompts([1], ["fox"])
        db.create_collection("Keep")
        db.add_to_collection("keep", generation_id=2)
        db.set_generation_note(1, "hello")
        assert [p.id for p in db.search_prompts(PromptQuery(text="fox")).items] == [1]
    assert [_raw(path, sql) for sql in (PROMPT_ROWS, GENERATION_ROWS, LEDGER)] == before

    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    assert Runner(database, str(MIGRATIONS_DIR)).down("0009_organize") == ["0009_organize"]
    database.close()
    assert "note" not in [row[1] for row in _raw(path, "PRAGMA table_info(generations)")]
    assert not _raw(path, "SELECT name FROM sqlite_master WHERE name IN ('tags', 'collections')")
    # Rows, the ledger's links and the lineage are as they were; the prompts' FTS triggers too.
    assert [_raw(path, sql) for sql in (PROMPT_ROWS, GENERATION_ROWS, LEDGER)] == before
    assert _raw(path, "SELECT parent_generation_id FROM generation_inputs") == [(1,)]
    triggers = _raw(path, "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    assert triggers

    with DatabaseManager(path) as db:  # and up again
        assert db.schema_version() == 9
        assert [p.id for p in db.search_prompts(PromptQuery(text="fox")).items] == [1]
        assert db.tags_with_counts() == [] and db.list_collections() == []
        assert db.get_generation(1).note == ""
        assert [r.parent_generation_id for r in db.inputs(2)] == [1]
    assert [_raw(path, sql) for sql in (PROMPT_ROWS, GENERATION_ROWS, LEDGER)] == before
