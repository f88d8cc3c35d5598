"""Lineage (issue 14, storage side): migration 0008, ``LineageStore``, PNG metadata, exchange.

A → B → C are two edits; A → D is a branch; outside files and masks are inputs too.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from peewee import IntegrityError
from PIL import Image
from playhouse.migrations import Runner

from dalletui.config import Settings
from dalletui.errors import NotFoundError, StorageError, ValidationError
from dalletui.generation import metadata
from dalletui.generation.files import ImageStore
from dalletui.services.context import Services, open_services
from dalletui.services.exchange import ExportOptions, ImportRefused
from dalletui.storage import DatabaseManager
from dalletui.storage.database import MIGRATIONS_DIR
from dalletui.storage.lineage import InputSpec
from dalletui.storage.models import Generation, GenerationInput, database

SHA = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("A", "B", "C", "D", "mask")}


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


def _family(db: DatabaseManager) -> dict[str, int]:
    """A → B → C (two edits, C with a mask), A → D (a variation): the ids by name."""
    ids = {name: _generation(db, f"picture {name}").id for name in "ABCD"}
    db.record_inputs(ids["B"], "edit", [InputSpec(parent_id=ids["A"], sha256=SHA["A"])])
    db.record_inputs(
        ids["C"],
        "edit",
        [
            {"parent_id": ids["B"], "sha256": SHA["B"], "width": 1024, "height": 1024},
            {"role": "mask", "file_path": "/tmp/outside/mask.png", "sha256": SHA["mask"]},
        ],
    )
    db.record_inputs(ids["D"], "variation", [InputSpec(parent_id=ids["A"])])
    return ids


def _ids(rows: list[Generation]) -> list[int]:
    return [row.id for row in rows]


@pytest.fixture
def family(db: DatabaseManager) -> dict[str, int]:
    return _family(db)


# -- migration ---------------------------------------------------------------------------------


def _raw(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _v7(path: Path) -> None:
    """A populated database at schema 7 (the release before lineage)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    Runner(database, str(MIGRATIONS_DIR)).up(target="0007_fts_one_letter_prefix")
    database.pragma("user_version", 7)
    stamp = "2026-11-20 10:00:00.000000+00:00"
    database.execute_sql(
        "INSERT INTO prompts (id, text, text_hash, created_at, last_used_at, use_count, "
        "is_favorite, notes) VALUES (1, 'a fox', ?, ?, ?, 1, 0, '')",
        (hashlib.sha256(b"a fox").hexdigest(), stamp, stamp),
    )
    for gid in (1, 2):
        database.execute_sql(
            "INSERT INTO generations (id, uid, prompt_id, request_key, image_index, provider, "
            "model, size, quality, output_format, background, status, params, created_at) "
            "VALUES (?, ?, 1, 'k', 0, 'offline', 'gpt-image-1-mini', '1024x1024', 'low', "
            "'png', 'auto', 'succeeded', '{}', ?)",
            (gid, f"{gid:032x}", stamp),
        )
        database.execute_sql(
            "INSERT INTO usage_stats (uid, generation_id, kind, model, provider, "
            "input_text_tokens, input_image_tokens, output_image_tokens, output_text_tokens, "
            "total_tokens, cost, price_basis, prices, created_at) VALUES (?, ?, 'image', "
            "'gpt-image-1-mini', 'offline', 0, 0, 0, 0, 0, '0', 'offline', '{}', ?)",
            (f"{gid + 100:032x}", gid, stamp),
        )
    database.close()


def test_migration_0008_goes_up_on_a_populated_v7_database_and_down_again(home: Path) -> None:
    path = home / "dalletui.db"
    _v7(path)
    rows_before = _raw(path, "SELECT id, uid, status FROM generations ORDER BY id")
    with DatabaseManager(path) as db:
        assert db.schema_version() == 9 and db.pragma("user_version") == 9
        assert [g.kind for g in Generation.select().order_by(Generation.id)] == ["generate"] * 2
        assert {"generation_inputs_generation_position", "generation_inputs_parent"} <= set(
            db.index_names()
        )
        db.record_inputs(2, "edit", [InputSpec(parent_id=1, sha256=SHA["A"])])
        assert _ids(db.children(1)) == [2] and _ids(db.chain(2)) == [1, 2]
        assert db.counts()["generation_inputs"] == 1

    database.init(str(path), pragmas={"journal_mode": "wal", "foreign_keys": 1})
    database.connect(reuse_if_open=True)
    assert Runner(database, str(MIGRATIONS_DIR)).down("0008_lineage") == [
        "0009_organize",
        "0008_lineage",
    ]
    database.close()
    columns = [row[1] for row in _raw(path, "PRAGMA table_info(generations)")]
    assert "kind" not in columns
    assert not _raw(path, "SELECT name FROM sqlite_master WHERE name LIKE 'generation_inputs%'")
    # Nothing was rebuilt: the rows and their ledger links are as they were.
    assert _raw(path, "SELECT id, uid, status FROM generations ORDER BY id") == rows_before
    assert _raw(path, "SELECT generation_id FROM usage_stats ORDER BY id") == [(1,), (2,)]

    with DatabaseManager(path) as db:  # and up again
        assert db.schema_version() == 9 and db.inputs(2) == []


def test_a_fresh_database_has_the_schema_of_a_migrated_one(home: Path, tmp_path: Path) -> None:
    migrated = home / "dalletui.db"
    _v7(migrated)
    DatabaseManager(migrated).open().close()
    fresh = tmp_path / "fresh" / "dalletui.db"
    DatabaseManager(fresh).open().close()
    schema = (
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE tbl_name IN ('generations', 'generation_inputs') ORDER BY type, name"
    )
    assert _raw(fresh, schema) == _raw(migrated, schema)


# -- the store ---------------------------------------------------------------------------------


def test_two_edits_and_a_branch(db: DatabaseManager, family: dict[str, int]) -> None:
    a, b, c, d = (family[n] for n in "ABCD")
    assert _ids(db.children(a)) == [b, d]
    assert _ids(db.children(b)) == [c] and db.children(c) == []
    assert _ids(db.chain(c)) == [a, b, c]
    assert _ids(db.chain(d)) == [a, d]
    assert _ids(db.chain(a)) == [a]
    assert _ids(db.parents(c)) == [b] and db.parents(a) == []
    kinds = {g.id: g.kind for g in Generation.select()}
    assert [kinds[i] for i in (a, b, c, d)] == ["generate", "edit", "edit", "variation"]
    inputs = db.inputs(c)
    assert [(i.position, i.role) for i in inputs] == [(0, "image"), (1, "mask")]
    assert inputs[0].parent_generation_id == b and inputs[0].sha256 == SHA["B"]
    assert inputs[1].parent_generation_id is None and inputs[1].file_path.endswith("mask.png")


def test_recording_again_replaces_the_inputs(db: DatabaseManager, family: dict[str, int]) -> None:
    db.record_inputs(family["C"], "edit", [InputSpec(parent_id=family["A"])])
    assert _ids(db.chain(family["C"])) == [family["A"], family["C"]]
    assert _ids(db.children(family["B"])) == []
    db.record_inputs(family["C"], "generate")
    assert db.inputs(family["C"]) == [] and db.get_generation(family["C"]).kind == "generate"


@pytest.mark.parametrize(
    ("kind", "inputs", "problem"),
    [
        ("paint", [], "Kind 'paint' is unknown"),
        ("generate", [InputSpec(file_path="/x.png")], "prompt alone has no inputs"),
        ("edit", [InputSpec(role="mask", file_path="/m.png")], "at least one image"),
        ("variation", [InputSpec(file_path="/a.png")] * 2, "exactly one image"),
        ("edit", [InputSpec(role="sketch", file_path="/a.png")], "role 'sketch' is unknown"),
        ("edit", [InputSpec(sha256=SHA["A"])], "name a generation (parent_id) or a file"),
        ("edit", [InputSpec(file_path="/a.png", sha256="ABC")], "sha256 must be 64"),
    ],
)
def test_bad_inputs_are_refused_and_nothing_changes(
    db: DatabaseManager, family: dict[str, int], kind: str, inputs: list[InputSpec], problem: str
) -> None:
    before = [(i.position, i.parent_generation_id) for i in db.inputs(family["C"])]
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        db.record_inputs(family["C"], kind, inputs)
    assert [(i.position, i.parent_generation_id) for i in db.inputs(family["C"])] == before
    assert db.get_generation(family["C"]).kind == "edit"


def test_parents_must_exist_and_make_no_cycle(db: DatabaseManager, family: dict[str, int]) -> None:
    with pytest.raises(NotFoundError, match="No generation #999"):
        db.record_inputs(family["B"], "edit", [InputSpec(parent_id=999)])
    with pytest.raises(ValidationError, match="its own input"):
        db.record_inputs(family["B"], "edit", [InputSpec(parent_id=family["B"])])
    # A would be made from C, which was made (through B) from A.
    with pytest.raises(ValidationError, match="was made from"):
        db.record_inputs(family["A"], "edit", [InputSpec(parent_id=family["C"])])
    with pytest.raises(NotFoundError):
        db.record_inputs(12345, "edit", [InputSpec(parent_id=family["A"])])
    assert _ids(db.chain(family["C"])) == [family["A"], family["B"], family["C"]]


def test_a_cycle_written_behind_the_store_s_back_cannot_hang_the_walk(
    db: DatabaseManager, family: dict[str, int]
) -> None:
    GenerationInput.insert(
        generation=family["A"], position=0, role="image", parent_generation=family["C"]
    ).execute()
    assert _ids(db.chain(family["C"])) == [family["A"], family["B"], family["C"]]
    assert _ids(db.chain(family["C"], limit=2)) == [family["B"], family["C"]]


def test_a_trashed_parent_is_left_out_but_walked_through(
    db: DatabaseManager, family: dict[str, int]
) -> None:
    a, b, c, d = (family[n] for n in "ABCD")
    db.trash_generation(b)
    assert _ids(db.chain(c)) == [a, c]  # A is still reachable: step back past the trash
    assert _ids(db.chain(c, include_deleted=True)) == [a, b, c]
    assert db.parents(c) == [] and _ids(db.parents(c, include_deleted=True)) == [b]
    assert _ids(db.children(a)) == [d]
    assert _ids(db.children(a, include_deleted=True)) == [b, d]
    assert _ids(db.chain(b)) == [a, b]  # the one asked for is always there
    db.restore_entry(db.trash_entry(db.list_trash()[0].ref))
    assert _ids(db.chain(c)) == [a, b, c]


def test_purging_a_parent_unlinks_it_and_keeps_the_hash(
    db: DatabaseManager, family: dict[str, int]
) -> None:
    a, b, c = (family[n] for n in "ABC")
    db.trash_generation(b)
    db.purge_entries([db.list_trash()[0].ref])
    (image, _mask) = db.inputs(c)
    assert image.parent_generation_id is None and image.sha256 == SHA["B"]
    assert _ids(db.chain(c)) == [c] and _ids(db.children(a)) == [family["D"]]
    db.delete_generation(c)  # purging the child removes its inputs
    assert GenerationInput.select().where(GenerationInput.generation == c).count() == 0


def test_two_inputs_cannot_share_a_position(db: DatabaseManager, family: dict[str, int]) -> None:
    with pytest.raises(IntegrityError):
        GenerationInput.insert(
            generation=family["C"], position=0, role="image", file_path="/x.png"
        ).execute()


def test_chain_of_a_missing_generation(db: DatabaseManager) -> None:
    with pytest.raises(StorageError, match="No generation #7"):
        db.chain(7)


# -- PNG metadata ------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_kind_and_parents_round_trip_through_a_png(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    parents = [
        metadata.ParentRef("image", 12, "ab" * 16, SHA["A"]),
        metadata.ParentRef("mask", sha256=SHA["mask"]),
    ]
    fields = {"prompt": "a fox, edited", "model": "gpt-image-1", "provider": "openai"}
    fields |= metadata.lineage_fields("edit", parents)
    created = datetime(2026, 11, 5, 14, 30, tzinfo=UTC)
    saved = store.save(13, _png(), "png", fields, created)
    read = store.read_metadata(saved.path)
    assert read["prompt"] == "a fox, edited"
    assert metadata.read_lineage(read) == metadata.Lineage("edit", tuple(parents))
    assert json.loads(read["parents"])[0] == {"role": "image", "id": 12, "uid": "ab" * 16,
                                              "sha256": SHA["A"]}  # fmt: skip


def test_an_image_saved_before_lineage_reads_as_a_plain_generation(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    saved = store.save(1, _png(), "png", {"prompt": "a fox", "model": "m"}, datetime.now(UTC))
    assert metadata.read_lineage(store.read_metadata(saved.path)) == metadata.Lineage()
    assert metadata.lineage_fields("generate") == {}


def test_damaged_lineage_fields_read_as_little_as_is_sound() -> None:
    assert metadata.read_lineage({"kind": "edit", "parents": "[{not json"}) == metadata.Lineage(
        "edit"
    )
    odd = json.dumps([{"role": "sketch", "id": -3, "uid": "x", "sha256": "nope"}, "text", 5])
    lineage = metadata.read_lineage({"kind": "dream", "parents": odd})
    assert lineage == metadata.Lineage("generate", (metadata.ParentRef("image"),))
    with pytest.raises(ValueError):
        metadata.lineage_fields("dream")


# -- export and import -------------------------------------------------------------------------


@pytest.fixture
def services(home: Path) -> Iterator[Services]:
    opened = open_services(Settings(home=home))
    yield opened
    opened.close()


def _export(services: Services) -> dict[str, Any]:
    data, _ = services.exchange.export_bytes(ExportOptions())
    return json.loads(data)


def _content(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "exported_at"}


def test_kind_and_inputs_round_trip_through_an_export(services: Services, tmp_path: Path) -> None:
    ids = _family(services.db)
    document = _export(services)
    by_prompt = {p["text_hash"]: p["text"] for p in document["prompts"]}
    records = {by_prompt[g["prompt"]][-1]: g for g in document["generations"]}
    uids = {name: records[name]["uid"] for name in "ABCD"}
    assert records["A"]["kind"] == "generate" and records["A"]["inputs"] == []
    assert records["C"]["kind"] == "edit"
    assert records["C"]["inputs"] == [
        {"position": 0, "role": "image", "parent": uids["B"], "file_path": None,
         "sha256": SHA["B"], "width": 1024, "height": 1024},
        # An outside file travels by name and hash, never by where it lies on this machine.
        {"position": 1, "role": "mask", "parent": None, "file_path": "mask.png",
         "sha256": SHA["mask"], "width": None, "height": None},
    ]  # fmt: skip
    path = tmp_path / "all.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    other_home = tmp_path / "other"
    with contextlib.closing(open_services(Settings(home=other_home))) as other:
        summary = other.exchange.import_file(path)
        assert summary.generations == 4
        here = {g.uid: g.id for g in Generation.select()}
        c, a = here[uids["C"]], here[uids["A"]]
        assert [here[u] for u in (uids["A"], uids["B"])] == _ids(other.db.chain(c))[:2]
        assert _ids(other.db.children(a)) == sorted([here[uids["B"]], here[uids["D"]]])
        assert _content(_export(other)) == _content(document)
        # A second import changes nothing: the generations are there, their inputs too.
        assert other.exchange.import_file(path).generations == 0
        assert other.db.counts()["generation_inputs"] == 4  # B 1, C 2, D 1
    assert set(ids) == set("ABCD")


def test_an_export_without_lineage_still_imports(services: Services, tmp_path: Path) -> None:
    _generation(services.db, "a fox")
    document = _export(services)
    for record in document["generations"]:  # as a dalletui before schema 8 wrote it
        del record["kind"], record["inputs"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        assert other.exchange.import_file(path).generations == 1
        (row,) = Generation.select()
        assert row.kind == "generate" and other.db.inputs(row.id) == []


def test_a_filtered_export_names_a_parent_it_does_not_hold(
    services: Services, tmp_path: Path
) -> None:
    ids = _family(services.db)
    data, _ = services.exchange.export_bytes(ExportOptions(search="picture C"))
    document = json.loads(data)
    (record,) = document["generations"]
    assert record["inputs"][0]["parent"] is not None
    path = tmp_path / "c.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other:
        other.exchange.import_file(path)
        (row,) = Generation.select()
        (image, mask) = other.db.inputs(row.id)
        assert image.parent_generation_id is None and image.sha256 == SHA["B"]
        assert mask.file_path == "mask.png"
    assert ids


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda g: g["inputs"][0].update(role="sketch"), "role 'sketch' is unknown"),
        (lambda g: g["inputs"][1].update(position=0), "two inputs have the same position"),
        (lambda g: g["inputs"][0].update(parent=g["uid"]), "names the generation itself"),
        (lambda g: g["inputs"][1].update(file_path=None, sha256=None), "an input needs"),
        (lambda g: g.update(kind="paint"), "Kind 'paint' is unknown"),
    ],
)
def test_bad_lineage_in_a_file_is_refused(
    services: Services, tmp_path: Path, change: Any, problem: str
) -> None:
    _family(services.db)
    document = _export(services)
    record = next(g for g in document["generations"] if len(g["inputs"]) == 2)
    change(record)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with (
        contextlib.closing(open_services(Settings(home=tmp_path / "other"))) as other,
        pytest.raises(ImportRefused, match=problem),
    ):
        other.exchange.import_file(path)


def test_csv_export_says_how_each_image_was_made(services: Services) -> None:
    _family(services.db)
    data, _ = services.exchange.export_bytes(ExportOptions(format="csv"))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    by_prompt = {row["prompt"][-1]: row for row in rows}
    assert by_prompt["A"]["kind"] == "generate" and by_prompt["A"]["made_from"] == ""
    assert by_prompt["C"]["kind"] == "edit"
    assert by_prompt["C"]["made_from"] == by_prompt["B"]["uid"]  # the mask is not an image
