"""Export and import (services.exchange, storage.exchange): the round trip, the merge rules,
and every hostile file refused with the database and the images folder unchanged.

Homes are real: offline generations with image files, a batch run by the CLI, a billed API row
and a possibly billed request in the ledger. "Unchanged" is checked on disk: the hash of the
database file (and its -wal), and a listing with the hash of every file under images/.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import threading
import warnings
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.errors import DalleTuiError
from dalletui.services.context import Services, open_services
from dalletui.services.exchange import (
    ExportOptions,
    ImportLimits,
    ImportRefused,
    ImportSummary,
)
from dalletui.services.exchange import staging as staging_module
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, Prompt, UsageStat
from dalletui.timeutil import parse_when

API_MODEL = "gpt-image-1-mini"


# -- homes --------------------------------------------------------------------------------------


def _cli(home: Path, *argv: str) -> None:
    assert main(["--home", str(home), *argv]) == 0


def seed(home: Path) -> None:
    """A history with everything an export carries."""
    services = open_services(Settings(home=home))
    try:
        services.templates.create_variable("colour", ["red", "blue"])
        services.templates.create_variable("animal", ["fox", "owl"])
        services.templates.create_template("zoo", "a {colour} {animal} in snow", "four")
    finally:
        services.close()
    _cli(home, "generate", "a lighthouse at dusk", "--provider", "offline", "-n", "2")
    _cli(home, "generate", "a paper boat", "--provider", "offline", "--format", "jpeg")
    _cli(home, "batch", "run", "zoo", "--provider", "offline", "--concurrency", "1", "--yes")
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        billed = db.record_prompt_use("an API fox")
        (row,) = db.create_generations(
            billed,
            1,
            provider="openai",
            model=API_MODEL,
            size="1024x1024",
            quality="low",
            output_format="png",
        )
        db.finish_generation(
            row.id,
            usage={"output_image_tokens": 272, "input_text_tokens": 12, "cost": Decimal("0.0052")},
            status="failed",
            error_kind="filesystem",
            error_message="The image could not be saved.",
            request_id="req_abc123",
        )
        timed_out = db.record_prompt_use("a timed out owl")
        rows = db.create_generations(
            timed_out,
            2,
            provider="openai",
            model=API_MODEL,
            size="1024x1024",
            quality="low",
            output_format="png",
        )
        db.mark_possibly_billed([r.id for r in rows], "timeout", "The API did not answer.")
        first = Prompt.get(Prompt.text == "a lighthouse at dusk")
        db.set_favorite(first.id, True)
        db.update_prompt(first.id, notes="the good one")
    finally:
        db.close()


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded home per module (offline images take a while to draw); tests copy it."""
    return seeded_home(tmp_path_factory)


def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("seeded") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DALLETUI_HOME", "DALLETUI_PROVIDER"):
            patch.delenv(name, raising=False)
        patch.setenv("DALLETUI_CONFIG", str(home.parent / "no-config.toml"))
        seed(home)
    return home


def copy_home(template: Path, target: Path) -> Path:
    """A copy of a home whose rows point at the copy's own files."""
    shutil.copytree(template, target)
    con = sqlite3.connect(target / "dalletui.db")
    with con:
        for column in ("file_path", "thumbnail_path"):
            con.execute(
                f"UPDATE generations SET {column} = replace({column}, ?, ?)",
                (str(template), str(target)),
            )
    con.close()
    return target


@pytest.fixture
def seeded(seeded_template: Path, home: Path) -> Path:
    """The seeded history, as this test's home ($DALLETUI_HOME)."""
    return copy_home(seeded_template, home)


@contextlib.contextmanager
def opened(home: Path) -> Iterator[Services]:
    services = open_services(Settings(home=home))
    try:
        yield services
    finally:
        services.close()


def export_document(home: Path, **options: Any) -> dict[str, Any]:
    with opened(home) as services:
        data, _ = services.exchange.export_bytes(ExportOptions(**options))
    return json.loads(data)


def export_zip(home: Path, path: Path, **options: Any) -> Path:
    with opened(home) as services:
        services.exchange.export_zip(path, ExportOptions(**options))
    return path


def import_file(home: Path, path: Path, **kwargs: Any) -> ImportSummary:
    with opened(home) as services:
        return services.exchange.import_file(path, **kwargs)


def content(document: dict[str, Any]) -> dict[str, Any]:
    """An export without the moment it was made."""
    return {k: v for k, v in document.items() if k != "exported_at"}


def zip_document(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("export.json"))


def zip_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "export.json"}


def state(home: Path) -> dict[str, Any]:
    """What must not change when an import is refused: database bytes, images listing."""
    found: dict[str, Any] = {}
    for name in ("dalletui.db", "dalletui.db-wal"):
        path = home / name
        data = path.read_bytes() if path.exists() else b""
        # An empty log holds nothing: it is left or not depending on which connections of
        # earlier commands' threads are still open, not on what anything wrote.
        found[name] = hashlib.sha256(data).hexdigest() if data else None
    images = home / "images"
    listing = {}
    if images.exists():
        for path in sorted(images.rglob("*")):
            key = path.relative_to(images).as_posix()
            listing[key] = (
                hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            )
    found["images"] = listing if images.exists() else None
    return found


# -- the round trip -----------------------------------------------------------------------------


def test_round_trip_through_a_zip_into_an_empty_home_gives_the_same_content(
    seeded: Path, tmp_path: Path
) -> None:
    first = export_zip(seeded, tmp_path / "first.zip")
    document = zip_document(first)
    assert len(document["prompts"]) == 8 and len(document["generations"]) == 10
    assert len(document["usage"]) == 9  # 7 images (offline, $0), 1 billed, 1 possibly billed
    assert {u["kind"] for u in document["usage"]} == {"image", "possibly_billed"}
    assert [b["name"] for b in document["batches"]] == ["zoo"]
    assert len(document["batches"][0]["items"]) == 4
    assert {t["name"] for t in document["templates"]} == {"zoo"}
    assert {v["name"] for v in document["variables"]} == {"colour", "animal"}

    other = tmp_path / "other"
    summary = import_file(other, first)
    assert (summary.new_prompts, summary.generations, summary.images_copied) == (8, 10, 7)
    assert (summary.usage, summary.templates, summary.variables, summary.batches) == (9, 1, 2, 1)
    assert summary.conflicts == [] and summary.problems == []

    second = export_zip(other, tmp_path / "second.zip")
    assert content(zip_document(second)) == content(document)
    assert zip_files(second) == zip_files(first)
    assert not list((other / "images").glob(".import-staging-*"))


def test_round_trip_through_json_lines(seeded: Path, tmp_path: Path) -> None:
    with opened(seeded) as services:
        services.exchange.export_file(tmp_path / "all.jsonl", ExportOptions(format="jsonl"))
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["type"] == "header"
    assert json.loads(lines[-1]) == {"type": "end", "records": len(lines) - 2}
    other = tmp_path / "other"
    summary = import_file(other, tmp_path / "all.jsonl")
    assert summary.format == "jsonl" and summary.generations == 10
    assert summary.images_copied == 0 and summary.images_absent == 10
    again = export_document(other)
    original = export_document(seeded)
    # A document without images cannot bring files: the rows come, their file paths do not.
    for record in original["generations"]:
        record["file_path"] = record["thumbnail_path"] = None
    assert content(again) == content(original)


def test_a_json_lines_zip_brings_the_images_too(seeded: Path, tmp_path: Path) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip", format="jsonl")
    with zipfile.ZipFile(archive) as opened_zip:
        assert "export.jsonl" in opened_zip.namelist()
    other = tmp_path / "other"
    summary = import_file(other, archive)
    assert (summary.format, summary.generations, summary.images_copied) == ("zip", 10, 7)
    assert content(export_document(other)) == content(export_document(seeded))


def test_a_second_import_of_the_same_file_changes_nothing(seeded: Path, tmp_path: Path) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip")
    other = tmp_path / "other"
    import_file(other, archive)
    before = settled(other)
    summary = import_file(other, archive)
    assert summary.line("all.zip") == (
        "Imported all.zip: 0 new prompts, 0 merged, 0 generations (0 images copied), "
        "0 usage rows, 0 templates, 0 variables, 0 batches; 0 conflicts kept local."
    )
    assert (summary.skipped_generations, summary.skipped_usage, summary.unchanged_prompts) == (
        10,
        9,
        8,
    )
    assert state(other) == before
    # Importing into the home it came from changes nothing either.
    before = settled(seeded)
    assert import_file(seeded, archive).generations == 0
    assert state(seeded) == before


def test_images_are_named_after_their_new_ids_and_never_overwrite(
    seeded: Path, tmp_path: Path
) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip")
    other = tmp_path / "other"
    _cli(other, "generate", "already here", "--provider", "offline", "-n", "2")
    mine = {p: p.read_bytes() for p in (other / "images").rglob("*.png")}
    summary = import_file(other, archive)
    assert summary.images_copied == 7
    for path, data in mine.items():  # ids 1 and 2 stay the local images
        assert path.read_bytes() == data
    db = DatabaseManager(other / "dalletui.db").open()
    try:
        imported = list(Generation.select().where(Generation.id > 2).order_by(Generation.id))
        source = {g["uid"]: g for g in export_document(seeded)["generations"]}
        for row in imported:
            if row.file_path:
                path = Path(row.file_path)
                assert path.stem == str(row.id) and path.is_relative_to(other / "images")
                original = seeded / "images" / source[row.uid]["file_path"]
                assert path.read_bytes() == original.read_bytes()
                assert Path(row.thumbnail_path) == path.parent / "thumbs" / f"{row.id}.png"
    finally:
        db.close()


def test_a_file_at_the_target_refuses_the_import_and_changes_nothing(
    seeded: Path, tmp_path: Path
) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip")
    other = tmp_path / "other"
    with opened(other) as services:
        folder = services.images.folder_for(parse_when("today"))
    folder.mkdir(parents=True)
    (folder / "1.png").write_bytes(b"a file no row knows")  # where the first image would go
    before = settled(other)
    with pytest.raises(ImportRefused, match=r"1\.png already exists and is another file"):
        import_file(other, archive)
    assert state(other) == before


def test_dry_run_counts_and_changes_nothing(seeded: Path, tmp_path: Path) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip")
    other = tmp_path / "other"
    with opened(other):
        pass
    before = settled(other)
    summary = import_file(other, archive, dry_run=True)
    assert (summary.new_prompts, summary.generations, summary.images_copied) == (8, 10, 7)
    assert state(other) == before


# -- what goes out ------------------------------------------------------------------------------


def test_no_local_ids_and_relative_paths(seeded: Path) -> None:
    document = export_document(seeded)
    for record in document["generations"]:
        assert "id" not in record and "prompt_id" not in record
        assert len(record["uid"]) == 32 and len(record["prompt"]) == 64
        for key in ("file_path", "thumbnail_path"):
            if record[key]:
                assert not record[key].startswith("/") and ".." not in record[key]
                assert (seeded / "images" / record[key]).is_file()
        assert "owner_pid" not in record["params"]
    for record in document["usage"]:
        assert "id" not in record and "generation_id" not in record and "batch_id" not in record
    billed = next(u for u in document["usage"] if u["cost"] and Decimal(u["cost"]) > 0)
    assert Decimal(billed["cost"]) == Decimal("0.0052")
    assert billed["price_basis"] and billed["total_tokens"] == 284
    assert document["prompts"][0]["notes"] == "the good one"


def test_trash_is_left_out_but_the_ledger_goes_whole(seeded: Path) -> None:
    db = DatabaseManager(seeded / "dalletui.db").open()
    try:
        boat = Prompt.get(Prompt.text == "a paper boat")
        db.trash_prompt(boat.id)
        one = (
            Generation.select()
            .join(Prompt)
            .where(Prompt.text == "a lighthouse at dusk")
            .order_by(Generation.id)
            .first()
        )
        db.trash_generation(one.id)
        trashed_uids = {
            g.uid for g in Generation.select().where(Generation.deleted_at.is_null(False))
        }
        ledger = UsageStat.select().count()
    finally:
        db.close()
    document = export_document(seeded)
    assert "a paper boat" not in {p["text"] for p in document["prompts"]}
    assert not trashed_uids & {g["uid"] for g in document["generations"]}
    assert len(document["usage"]) == ledger  # spend of trashed images included
    assert trashed_uids <= {u["generation"] for u in document["usage"]}


def test_filters_narrow_prompts_their_generations_and_their_usage(seeded: Path) -> None:
    favorites = export_document(seeded, favorites=True)
    assert [p["text"] for p in favorites["prompts"]] == ["a lighthouse at dusk"]
    assert len(favorites["generations"]) == 2 and len(favorites["usage"]) == 2
    assert favorites["batches"] == [] and favorites["filters"]["favorites"] is True
    assert len(favorites["templates"]) == 1  # templates and variables always go whole

    search = export_document(seeded, search="snow")
    assert len(search["prompts"]) == 4 and len(search["generations"]) == 4
    assert [b["name"] for b in search["batches"]] == ["zoo"]
    uids = {g["uid"] for g in search["generations"]}
    assert {u["generation"] for u in search["usage"]} == uids

    tomorrow = export_document(seeded, since=parse_when("today", end=True))
    assert tomorrow["prompts"] == tomorrow["generations"] == tomorrow["usage"] == []
    today = export_document(seeded, since=parse_when("today"))
    assert len(today["generations"]) == 10


# -- merging ------------------------------------------------------------------------------------


def _document(prompts: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    return {
        "format": "dalletui-export",
        "version": 1,
        "app_version": "test",
        "exported_at": "2026-01-01T00:00:00+00:00",
        "prompts": prompts,
        **sections,
    }


def _prompt(text: str, **fields: Any) -> dict[str, Any]:
    from dalletui.storage.models import prompt_hash

    return {
        "text": text,
        "text_hash": prompt_hash(text),
        "created_at": "2026-01-01T10:00:00+00:00",
        "last_used_at": "2026-01-02T10:00:00+00:00",
        "use_count": 1,
        "is_favorite": False,
        "notes": "",
        **fields,
    }


def test_prompts_merge_by_text_sensibly(home: Path, tmp_path: Path) -> None:
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        kept = db.record_prompt_use("a kept note")
        db.update_prompt(
            kept.id,
            notes="mine",
            use_count=5,
            created_at=parse_when("2026-01-05"),
            last_used_at=parse_when("2026-01-06"),
        )
        empty = db.record_prompt_use("an empty note")
        db.set_favorite(empty.id, True)
        trashed = db.record_prompt_use("in the trash")
        db.trash_prompt(trashed.id)
    finally:
        db.close()
    path = tmp_path / "in.json"
    path.write_text(
        json.dumps(
            _document(
                [
                    _prompt(
                        "a kept note",
                        notes="theirs",
                        use_count=3,
                        is_favorite=True,
                        created_at="2026-01-01T00:00:00+00:00",
                        last_used_at="2026-02-01T00:00:00+00:00",
                    ),
                    _prompt("an empty note", notes="theirs", use_count=9),
                    _prompt("in the trash"),
                    _prompt("brand new", use_count=4),
                ]
            )
        )
    )
    summary = import_file(home, path)
    assert (summary.new_prompts, summary.merged_prompts) == (1, 3)
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        row = Prompt.get(Prompt.text == "a kept note")
        assert (row.notes, row.use_count, row.is_favorite) == ("mine", 5, True)
        assert row.created_at == parse_when("2026-01-01T00:00:00+00:00")
        assert row.last_used_at == parse_when("2026-02-01T00:00:00+00:00")
        row = Prompt.get(Prompt.text == "an empty note")
        assert (row.notes, row.use_count, row.is_favorite) == ("theirs", 9, True)
        assert Prompt.get(Prompt.text == "in the trash").deleted_at is None
        assert Prompt.get(Prompt.text == "brand new").use_count == 4
        assert db.search_prompts().items  # the new prompt is searchable (FTS kept in sync)
        from dalletui.storage import PromptQuery

        assert [p.text for p in db.search_prompts(PromptQuery(text="brand")).items] == ["brand new"]
    finally:
        db.close()
    again = import_file(home, path)
    assert (again.new_prompts, again.merged_prompts, again.unchanged_prompts) == (0, 0, 4)


def test_templates_and_variables_by_name_conflicts_keep_the_local_one(
    home: Path, tmp_path: Path
) -> None:
    with opened(home) as services:
        services.templates.create_variable("colour", ["red", "blue"])
        services.templates.create_variable("size", ["small"])
        services.templates.create_template("zoo", "a {colour} fox")
    stamp = "2026-01-01T00:00:00+00:00"

    def named(name: str, **fields: Any) -> dict[str, Any]:
        return {"name": name, "created_at": stamp, "updated_at": stamp, **fields}

    path = tmp_path / "in.json"
    path.write_text(
        json.dumps(
            _document(
                [],
                templates=[
                    named("zoo", body="a {colour} owl"),
                    named("new one", body="a {size} cat"),
                ],
                variables=[
                    named("colour", values=["red", "blue"]),
                    named("size", values=["huge"]),
                    named("mood", values=["calm"], description="how it feels"),
                ],
            )
        )
    )
    summary = import_file(home, path)
    assert (summary.templates, summary.variables) == (1, 1)
    assert sorted((c.kind, c.name) for c in summary.conflicts) == [
        ("template", "zoo"),
        ("variable", "size"),
    ]
    assert summary.line("in.json").endswith("; 2 conflicts kept local.")
    with opened(home) as services:
        templates = {t.name: t.body for t in services.db.list_templates()}
        variables = {v.name: v.values for v in services.db.list_variables()}
    assert templates == {"zoo": "a {colour} fox", "new one": "a {size} cat"}
    assert variables == {"colour": ["red", "blue"], "size": ["small"], "mood": ["calm"]}


def test_usage_of_a_generation_already_here_is_kept_unlinked(seeded: Path, tmp_path: Path) -> None:
    document = export_document(seeded)
    record = next(u for u in document["usage"] if u["generation"])
    record["uid"] = "f" * 32  # another ledger row naming the same image
    path = tmp_path / "in.json"
    path.write_text(json.dumps({**document, "usage": [record], "generations": [], "prompts": []}))
    summary = import_file(seeded, path)
    assert summary.usage == 1
    db = DatabaseManager(seeded / "dalletui.db").open()
    try:
        assert UsageStat.get(UsageStat.uid == "f" * 32).generation_id is None
    finally:
        db.close()


# -- hostile files ------------------------------------------------------------------------------


@pytest.fixture
def valid(seeded_template: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A valid zip export of the seeded history, and its document."""
    source = copy_home(seeded_template, tmp_path / "source")
    path = export_zip(source, tmp_path / "valid.zip")
    return path, zip_document(path)


@pytest.fixture
def target(home: Path) -> Path:
    """A home with a little history of its own, to import into."""
    _cli(home, "generate", "mine", "--provider", "offline")
    return home


def write_zip(path: Path, members: dict[str, bytes], **kw: Any) -> Path:
    with zipfile.ZipFile(path, "w", **kw) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def settled(home: Path) -> dict[str, Any]:
    """``state`` after folding the write-ahead log into the database file (as the last
    connection's close does): what came before is measured whole, what comes after as it is."""
    if (home / "dalletui.db").exists():
        con = sqlite3.connect(home / "dalletui.db")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    return state(home)


def refused(home: Path, path: Path, match: str, **limits: Any) -> str:
    before = settled(home)
    with opened(home) as services:
        if limits:
            services.exchange.limits = ImportLimits(**limits)
        with pytest.raises(ImportRefused) as caught:
            services.exchange.import_file(path)
    assert state(home) == before
    message = str(caught.value)
    assert match in message, message
    assert message.endswith("nothing was imported."), message
    return message


def _json(tmp_path: Path, document: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


HOSTILE_RECORDS = [
    (
        "generations",
        0,
        "file_path",
        "../../etc/x",
        "generations[0].file_path: '../../etc/x' leaves the images folder",
    ),
    ("generations", 0, "file_path", "/etc/passwd", "leaves the images folder"),
    ("generations", 0, "thumbnail_path", "C:\\Windows\\x.png", "leaves the images folder"),
    ("generations", 0, "file_path", "2026/12/a b.png", "is not a path dalletui writes"),
    ("generations", 0, "file_path", "2026/12/1.exe", "is not an image"),
    ("generations", 0, "status", "exploded", "generations[0]: Status 'exploded' is unknown"),
    ("generations", 0, "quality", 3, "generations[0].quality: must be text, not a number"),
    ("generations", 0, "width", 1.5, "generations[0].width: must be a whole number"),
    ("generations", 0, "width", 2**70, "out of range"),
    ("generations", 0, "prompt", "0" * 64, "no prompt of the file has this text hash"),
    ("generations", 0, "uid", "not-a-uid", "is not a uid"),
    ("generations", 0, "params", [1, 2], "generations[0].params: must be an object"),
    ("generations", 0, "created_at", "yesterday", "is not an ISO 8601 date and time"),
    ("generations", 0, "size", "huge", "is not WIDTHxHEIGHT"),
    ("generations", 0, "error_message", "x" * 70_000, "over the limit of 64,000"),
    ("generations", 0, "hacked", True, "generations[0]: unknown field 'hacked'"),
    ("prompts", 0, "use_count", "3", "prompts[0].use_count: must be a whole number, not text"),
    ("prompts", 0, "use_count", -1, "out of range"),
    ("prompts", 0, "is_favorite", 1, "must be true or false"),
    ("prompts", 0, "text", "x" * 40_000, "prompts[0].text: 40,000 characters is over the limit"),
    ("prompts", 0, "text", "a\x00b", "holds a NUL character"),
    ("prompts", 0, "text_hash", "a" * 64, "does not match the prompt's text"),
    ("prompts", 0, "notes", None, "prompts[0].notes: must not be null"),
    ("usage", 0, "cost", "lots", "usage[0].cost: 'lots' is not an amount"),
    ("usage", 0, "cost", "-1", "Cost cannot be negative"),
    ("usage", 0, "kind", "free", "Usage kind 'free' is unknown"),
    ("usage", 0, "prices", {"a": "x" * 70_000}, "usage[0].prices: 70,"),
    ("batches", 0, "status", "dancing", "Batch status 'dancing' is unknown"),
    ("batches", 0, "items", "many", "batches[0].items: must be a list of items"),
    ("templates", 0, "name", "", "The template needs a name"),
    ("variables", 0, "values", [], "needs a non-empty list of values"),
    ("variables", 0, "values", ["ok", 3], "variables[0].values[1]: must be text"),
]


@pytest.mark.parametrize(("section", "index", "key", "value", "match"), HOSTILE_RECORDS)
def test_hostile_records_are_refused_naming_the_place(
    valid: tuple[Path, dict[str, Any]],
    target: Path,
    tmp_path: Path,
    section: str,
    index: int,
    key: str,
    value: Any,
    match: str,
) -> None:
    _, document = valid
    document[section][index][key] = value
    refused(target, _json(tmp_path, document), match)


def test_hostile_documents_are_refused(
    valid: tuple[Path, dict[str, Any]], target: Path, tmp_path: Path
) -> None:
    _, document = valid
    cases: list[tuple[Any, str]] = [
        ({**document, "format": "something-else"}, "it is not a dalletui export"),
        ({**document, "version": 2}, "written by a newer dalletui (format version 2"),
        ({**document, "version": "1"}, "is not a format version number"),
        ({**document, "prompts": {}}, "prompts: must be a list of records"),
        ({**document, "extra": []}, "unknown section 'extra'"),
        ({**document, "prompts": [*document["prompts"], document["prompts"][0]]}, "appears twice"),
        ([document], "does not start with a JSON object"),
    ]
    for bad, match in cases:
        refused(target, _json(tmp_path, bad), match)
    generation = document["generations"][0]
    batchless = {**generation, "batch": None, "batch_item": 0}
    refused(
        target,
        _json(tmp_path, {**document, "generations": [batchless]}),
        "the batch has no item at position 0",
    )


def test_broken_text_is_refused(
    valid: tuple[Path, dict[str, Any]], target: Path, tmp_path: Path
) -> None:
    _, document = valid
    text = json.dumps(document, indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    refused(target, path, "is it cut short?")
    path.write_bytes(text.replace("a lighthouse", "a l\xefghthouse").encode("latin-1"))
    refused(target, path, "the text is not UTF-8 (byte 0xef)")
    path.write_text(text.replace('"use_count": 1', '"use_count": 1, "use_count": 2', 1))
    refused(target, path, "the key 'use_count' appears twice in one object")
    path.write_text(text.replace('"cost": "0"', '"cost": NaN', 1))
    refused(target, path, "NaN is not a number JSON allows")
    path.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(target, path, "nested too deeply")
    path.write_bytes(b"\x1f\x8b\x08\x00")
    refused(target, path, "gzip")
    path.write_text("")
    refused(target, path, "does not start with a JSON object")


def test_json_lines_cut_at_a_line_boundary_is_refused(
    valid: tuple[Path, dict[str, Any]], target: Path, tmp_path: Path
) -> None:
    header = {k: valid[1][k] for k in ("format", "version", "app_version", "exported_at")}
    lines = [json.dumps({"type": "header", **header})]
    lines += [json.dumps({"type": "prompt", **p}) for p in valid[1]["prompts"]]
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(lines) + "\n")
    refused(target, path, "ends before its 'end' line")
    path.write_text("\n".join([*lines, json.dumps({"type": "end", "records": 99})]) + "\n")
    refused(target, path, "the 'end' line does not match the records")
    path.write_text("\n".join([*lines[:2], '{"type": "spell"}']) + "\n")
    refused(target, path, "line 3: unknown record type 'spell'")
    bad = dict(valid[1]["prompts"][0], use_count="x")
    end = json.dumps({"type": "end", "records": 1})
    path.write_text("\n".join([lines[0], json.dumps({"type": "prompt", **bad}), end]) + "\n")
    refused(target, path, "line 2: prompt.use_count: must be a whole number")


def test_hostile_zips_are_refused(
    valid: tuple[Path, dict[str, Any]], target: Path, tmp_path: Path
) -> None:
    path, document = valid
    good = zip_files(path)
    body = json.dumps(document).encode()
    name, image = next((n, d) for n, d in good.items() if n.endswith("1.png"))

    def case(contents: dict[str, bytes], match: str, **limits: Any) -> None:
        refused(target, write_zip(tmp_path / "bad.zip", contents), match, **limits)

    case(
        {"export.json": body, "../evil.png": image}, "member '../evil.png' leaves the images folder"
    )
    case({"export.json": body, "images/../../evil.png": image}, "leaves the images folder")
    case({"export.json": body, "/tmp/evil.png": image}, "leaves the images folder")
    case({"export.json": body, "images\\..\\evil.png": image}, "leaves the images folder")
    case({"export.json": body, "notes.txt": b"hi"}, "is not part of a dalletui export")
    case({"images/2026/1.png": image}, "neither export.json nor export.jsonl")
    case({"export.json": body, "export.jsonl": body}, "both documents")
    case({"export.json": b'{"format": "dalletui-export"'}, "is it cut short?")
    case({**{"export.json": body}, **good}, "members", members=3)
    case({"export.json": body, **good}, "; at most 1,024 bytes", image_bytes=1024)
    case({"export.json": body}, "at most 1,000 bytes", document_bytes=1000)
    case({"export.json": body, **good}, "add up to over 1 MiB", total_bytes=1024 * 1024)
    # An image that is not one: found while staging, and what was staged is removed.
    case({"export.json": body, **{**good, name: b"MZ not a png at all"}}, "is not a PNG image")

    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        archive.writestr("export.json", body)
        info = zipfile.ZipInfo("images/2026/12/1.png")
        info.external_attr = (0o120777) << 16  # a symbolic link
        archive.writestr(info, "/etc/passwd")
    refused(target, tmp_path / "link.zip", "is a symbolic link")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate, and writes it
        with zipfile.ZipFile(tmp_path / "twice.zip", "w") as archive:
            archive.writestr("export.json", body)
            archive.writestr(name, image)
            archive.writestr(name, b"\x89PNG\r\n\x1a\n another")
    refused(target, tmp_path / "twice.zip", f"member '{name}' appears twice")

    encrypted = bytearray(write_zip(tmp_path / "locked.zip", {"export.json": body}).read_bytes())
    central = encrypted.index(b"PK\x01\x02")
    encrypted[central + 8] |= 0x1  # the "encrypted" flag of the directory entry
    (tmp_path / "locked.zip").write_bytes(bytes(encrypted))
    refused(target, tmp_path / "locked.zip", "member 'export.json' is encrypted")

    data = path.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    refused(target, tmp_path / "cut.zip", "it is not a complete zip file")


def test_a_zip_bomb_is_refused_by_its_ratio_and_by_what_it_really_holds(
    valid: tuple[Path, dict[str, Any]], target: Path, tmp_path: Path
) -> None:
    path, document = valid
    body = json.dumps(document).encode()
    name = document["generations"][0]["file_path"]
    bomb = b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024)
    members = {"export.json": body, f"images/{name}": bomb}
    write_zip(tmp_path / "bomb.zip", members, compression=zipfile.ZIP_DEFLATED)
    refused(target, tmp_path / "bomb.zip", "expands 1,")

    # Headers that lie: the member says 64 bytes and holds 8 MiB. Nothing trusts the header.
    lying = tmp_path / "lying.zip"
    write_zip(lying, members, compression=zipfile.ZIP_DEFLATED)
    raw = bytearray(lying.read_bytes())
    real = len(bomb).to_bytes(4, "little")
    fake = (64).to_bytes(4, "little")
    assert raw.count(real) == 2  # the local header and the central directory entry
    lying.write_bytes(bytes(raw).replace(real, fake))
    refused(target, lying, "member")


def test_refusals_leave_no_images_folder_behind_in_an_empty_home(
    valid: tuple[Path, dict[str, Any]], home: Path, tmp_path: Path
) -> None:
    path, document = valid
    good = zip_files(path)
    name = next(n for n in good if n.endswith(".png") and "thumbs" not in n)
    bad = write_zip(
        tmp_path / "bad.zip",
        {"export.json": json.dumps(document).encode(), **{**good, name: b"not a png"}},
    )
    with opened(home):
        pass
    assert not (home / "images").exists()
    refused(home, bad, "is not a PNG image")
    assert not (home / "images").exists()


def test_a_staging_folder_of_a_dead_process_is_removed(seeded: Path, tmp_path: Path) -> None:
    archive = export_zip(seeded, tmp_path / "all.zip")
    other = tmp_path / "other"
    stale = other / "images" / ".import-staging-999999999-0123456789ab"
    stale.mkdir(parents=True)
    (stale / "000001.part").write_bytes(b"left by a crash")
    import_file(other, archive)
    assert not stale.exists()


def test_errors_are_dalletui_errors(tmp_path: Path, home: Path) -> None:
    with pytest.raises(DalleTuiError, match="Cannot read"):
        import_file(home, tmp_path / "missing.json")
    with pytest.raises(DalleTuiError, match="is a folder"):
        import_file(home, tmp_path)


# -- an import cut off after its commit ---------------------------------------------------------
#
# The rows commit first, then the staged images are moved in. A cut between the two (Ctrl-C, a
# crash) must not lose what the zip holds: Ctrl-C waits for the moves; after a crash, the next
# import moves the staged files in (their staging folder's journal says where), and importing
# the zip again puts back whatever is still missing. The cut is simulated by making the move
# of the 2nd file raise an exception no handler catches, as a crash would not be caught.


class _Cut(BaseException):
    """Stands for the process dying mid-way (nothing catches it but the test)."""


def database_rows(home: Path) -> dict[str, list[str]]:
    """Every row of every table, sorted, with the home's path taken out of file paths."""
    con = sqlite3.connect(home / "dalletui.db")
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if name != "schema_migration"  # when each home was made, not what it holds
        ]
        return {
            table: sorted(
                repr(row).replace(str(home), "<home>")
                for row in con.execute(f'SELECT * FROM "{table}"')
            )
            for table in sorted(tables)
        }
    finally:
        con.close()


def image_files(home: Path) -> dict[str, Any] | None:
    return state(home)["images"]


def staging_folders(home: Path) -> list[Path]:
    return sorted((home / "images").glob(".import-staging-*"))


def missing_files(home: Path) -> int:
    """Generations whose recorded image or thumbnail is not there."""
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        rows = list(Generation.select())
        return sum(
            1
            for g in rows
            if any(p and not Path(p).is_file() for p in (g.file_path, g.thumbnail_path))
        )
    finally:
        db.close()


@pytest.fixture
def reference(seeded: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The seeded history as a zip, and a home it was imported into without a cut."""
    archive = export_zip(seeded, tmp_path / "all.zip")
    whole = tmp_path / "reference"
    assert import_file(whole, archive).images_copied == 7
    assert not staging_folders(whole)
    return archive, whole


def cut_import(
    monkeypatch: pytest.MonkeyPatch, home: Path, archive: Path, at: int = 2
) -> list[Path]:
    """Import ``archive`` with the ``at``-th file move cut off; returns the targets moved."""
    real = staging_module._move_no_overwrite
    moved: list[Path] = []

    def move(staged: Path, target: Path) -> None:
        if len(moved) + 1 == at:
            raise _Cut
        real(staged, target)
        moved.append(target)

    with monkeypatch.context() as patch:
        patch.setattr(staging_module, "_move_no_overwrite", move)
        with pytest.raises(_Cut):
            import_file(home, archive)
    return moved


@pytest.mark.parametrize("staging", ["kept", "lost"])
def test_importing_the_zip_again_after_a_cut_gives_what_an_uncut_import_gives(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, staging: str
) -> None:
    archive, whole = reference
    other = tmp_path / "other"
    moved = cut_import(monkeypatch, other, archive)
    assert len(moved) == 1
    # The rows committed; all but the first generation's thumbnail are still staged.
    assert len(Path(moved[0]).parts) and Path(moved[0]).parent.name == "thumbs"
    assert missing_files(other) == 7
    (folder,) = staging_folders(other)
    journal = json.loads((folder / "journal.json").read_text())
    assert len(journal["files"]) == len(zip_files(archive))  # images, thumbnails, sidecars
    assert [f["role"] for f in journal["files"][:2]] == ["thumbnail", "file"]
    if staging == "lost":  # as an older dalletui did: the folder of a dead import deleted
        shutil.rmtree(folder)

    summary = import_file(other, archive)
    assert summary.images_restored == 7 and summary.problems == []
    assert (summary.generations, summary.images_copied, summary.skipped_generations) == (0, 0, 10)
    assert "7 images restored" in summary.line("all.zip")
    assert missing_files(other) == 0 and not staging_folders(other)
    assert database_rows(other) == database_rows(whole)
    assert image_files(other) == image_files(whole)

    again = import_file(other, archive)  # and now there is nothing left to restore
    assert again.images_restored == 0
    assert image_files(other) == image_files(whole)


def test_doctor_finishes_a_cut_import_instead_of_calling_its_images_missing(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dalletui.services.doctor import IMPORT_STAGED, MISSING_IMAGE, ORPHAN, open_doctor

    archive, whole = reference
    other = tmp_path / "other"
    cut_import(monkeypatch, other, archive)
    assert missing_files(other) == 7
    doctor = open_doctor(Settings(home=other))
    try:
        report = doctor.run(fix=False)
        kinds = [finding.kind for finding in report.findings]
        assert IMPORT_STAGED in kinds
        assert ORPHAN not in kinds  # the staged files are not strays to sweep into the trash
        assert staging_folders(other)  # looking changes nothing
        report = doctor.run(fix=True)
    finally:
        doctor.db.close()
    staged = [f for f in report.findings if f.kind == IMPORT_STAGED]
    assert staged and staged[0].fixed and "got their images back" in staged[0].outcome
    # No row was marked failed for an image that was only waiting to be moved in.
    for finding in report.findings:
        if finding.kind == MISSING_IMAGE:
            assert "found again" in finding.outcome
    assert missing_files(other) == 0 and not staging_folders(other)
    assert database_rows(other) == database_rows(whole)
    assert image_files(other) == image_files(whole)


def test_a_json_import_then_the_zip_brings_the_images_in(
    reference: tuple[Path, Path], seeded: Path, tmp_path: Path
) -> None:
    archive, whole = reference
    with opened(seeded) as services:
        services.exchange.export_file(tmp_path / "all.json", ExportOptions())
    other = tmp_path / "other"
    first = import_file(other, tmp_path / "all.json")
    assert first.images_absent == 10 and not (other / "images").exists()

    assert import_file(other, archive, dry_run=True).images_restored == 7
    summary = import_file(other, archive)
    assert (summary.generations, summary.images_restored) == (0, 7)
    assert database_rows(other) == database_rows(whole)
    assert image_files(other) == image_files(whole)


def test_a_missing_thumbnail_alone_is_put_back(reference: tuple[Path, Path]) -> None:
    archive, whole = reference
    thumbs = sorted((whole / "images").rglob("thumbs/*.png"))
    expected = image_files(whole)
    thumbs[2].unlink()
    summary = import_file(whole, archive)
    assert summary.images_restored == 1
    assert image_files(whole) == expected


def test_the_staging_folder_of_a_cut_import_is_moved_in_by_the_next_import(
    reference: tuple[Path, Path], seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, whole = reference
    other = tmp_path / "other"
    cut_import(monkeypatch, other, archive, at=5)
    (folder,) = staging_folders(other)
    dead = folder.with_name(".import-staging-999999999-" + folder.name.rsplit("-", 1)[1])
    folder.rename(dead)  # left by a process that is gone
    # Any import settles it, even one that brings no image: here a JSON file of one prompt.
    note = _json(tmp_path, _document([_prompt("unrelated")]))
    summary = import_file(other, note)
    assert summary.images_restored == 5 and summary.problems == []  # 2 were whole
    assert not dead.exists() and missing_files(other) == 0
    assert image_files(other) == image_files(whole)


def test_a_staged_file_whose_bytes_changed_is_kept_not_moved_in(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, _whole = reference
    other = tmp_path / "other"
    cut_import(monkeypatch, other, archive)
    (folder,) = staging_folders(other)
    journal = json.loads((folder / "journal.json").read_text())
    image = next(f for f in journal["files"] if f["role"] == "file")
    (folder / image["staged"]).write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    summary = import_file(other, _json(tmp_path, _document([_prompt("unrelated")])))
    assert summary.images_restored == 6  # all but the one whose image is damaged
    assert len(summary.problems) == 1 and "does not hold the bytes" in summary.problems[0]
    assert not (other / "images" / image["target"]).exists()
    assert {p.name for p in folder.iterdir()} == {"journal.json", image["staged"]}
    # The zip puts that image back; then the folder is not needed any more.
    summary = import_file(other, archive)
    assert summary.images_restored == 1 and missing_files(other) == 0
    import_file(other, _json(tmp_path, _document([_prompt("unrelated")])))
    assert not folder.exists()


def test_a_staging_folder_no_row_needs_is_deleted(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, _whole = reference
    cut = tmp_path / "cut"
    cut_import(monkeypatch, cut, archive)
    (folder,) = staging_folders(cut)
    # The same folder in a home whose database has none of its rows (as after a crash before
    # the commit): nothing is moved in, and it goes.
    other = tmp_path / "other"
    import_file(other, _json(tmp_path, _document([_prompt("unrelated")])))
    shutil.copytree(folder, other / "images" / folder.name.replace(str(os.getpid()), "999999999"))
    summary = import_file(other, _json(tmp_path, _document([_prompt("unrelated")])))
    assert summary.images_restored == 0
    assert image_files(other) == {}


def test_ctrl_c_during_the_moves_waits_for_them_then_interrupts(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, whole = reference
    other = tmp_path / "other"
    real = staging_module._move_no_overwrite
    moved: list[Path] = []

    def move(staged: Path, target: Path) -> None:
        if len(moved) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        real(staged, target)
        moved.append(target)

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(staging_module, "_move_no_overwrite", move)
    with pytest.raises(KeyboardInterrupt):
        import_file(other, archive)
    assert signal.getsignal(signal.SIGINT) is before
    assert len(moved) == len(zip_files(archive))  # every move, before the interrupt surfaced
    assert not staging_folders(other) and missing_files(other) == 0
    assert database_rows(other) == database_rows(whole)
    assert image_files(other) == image_files(whole)


def test_an_import_in_a_worker_thread_leaves_signal_handlers_alone(
    reference: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, whole = reference
    real = staging_module._move_no_overwrite
    seen: list[Any] = []

    def move(staged: Path, target: Path) -> None:
        seen.append(signal.getsignal(signal.SIGINT))
        real(staged, target)

    monkeypatch.setattr(staging_module, "_move_no_overwrite", move)
    before = signal.getsignal(signal.SIGINT)
    outcome: list[ImportSummary] = []
    worker = threading.Thread(target=lambda: outcome.append(import_file(tmp_path / "o", archive)))
    worker.start()
    worker.join()
    assert outcome and outcome[0].images_copied == 7
    assert set(seen) == {before}
    assert image_files(tmp_path / "o") == image_files(whole)


def test_a_repair_never_writes_over_a_file_and_never_refuses_the_import(
    reference: tuple[Path, Path], seeded: Path, tmp_path: Path
) -> None:
    archive, whole = reference
    with opened(seeded) as services:
        services.exchange.export_file(tmp_path / "all.json", ExportOptions())
    other = tmp_path / "other"
    import_file(other, tmp_path / "all.json")
    first = sorted((whole / "images").rglob("*.png"))[0].relative_to(whole)
    same = sorted((whole / "images").rglob("*.png"))[1].relative_to(whole)
    (other / first).parent.mkdir(parents=True)
    (other / first).write_bytes(b"someone else's file")
    shutil.copy(whole / same, other / same)  # the very bytes the zip holds there
    summary = import_file(other, archive)
    assert (other / first).read_bytes() == b"someone else's file"
    assert (
        len(summary.problems) == 1 and "already exists and is another file" in summary.problems[0]
    )
    assert summary.images_restored == 7  # the one in the way still got its thumbnail
    assert missing_files(other) == 0
    rows = database_rows(other)["generations"]
    assert sum(f"<home>/{first.as_posix()}" in row for row in rows) == 0
    assert sum(f"<home>/{same.as_posix()}" in row for row in rows) == 1
