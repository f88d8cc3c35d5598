"""``dalletui doctor``: every finding and its fix, made by hand in a temporary data folder."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.generation import files as files_module
from dalletui.generation import recovery
from dalletui.generation.files import ImageStore, SavedImage
from dalletui.services import doctor as doctor_module
from dalletui.services.context import open_services
from dalletui.services.doctor import DataDoctor, DoctorReport
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, UsageStat, now


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` points the root logger at this test's captured stderr: undo that afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def images(home: Path) -> ImageStore:
    return ImageStore(home / "images")


@pytest.fixture
def doctor(db: DatabaseManager, images: ImageStore, home: Path) -> DataDoctor:
    return DataDoctor(db, images, home)


def picture(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def pending(
    db: DatabaseManager,
    owner_pid: int | None,
    *,
    provider: str = "openai",
    output_format: str = "png",
    count: int = 1,
) -> list[Generation]:
    prompt = db.record_prompt_use("a red fox in snow")
    return db.create_generations(
        prompt,
        count,
        provider=provider,
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format=output_format,
        params={"owner_pid": owner_pid},
    )


def save(images: ImageStore, row: Generation, fmt: str = "PNG") -> SavedImage:
    label = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}[fmt]
    return images.save(row.id, picture(fmt), label, {"prompt": "a red fox"}, row.created_at)


def succeed(db: DatabaseManager, images: ImageStore, row: Generation) -> SavedImage:
    saved = save(images, row)
    db.finish_generation(
        row.id,
        usage={"cost": Decimal("0.011")},
        status="succeeded",
        file_path=str(saved.path),
        thumbnail_path=str(saved.thumbnail_path),
        width=saved.width,
        height=saved.height,
        finished_at=now(),
    )
    return saved


def kinds(report: DoctorReport) -> list[str]:
    return [finding.kind for finding in report.findings]


def ledger(generation_id: int) -> list[UsageStat]:
    return list(UsageStat.select().where(UsageStat.generation == generation_id))


# -- a healthy folder --


def test_a_healthy_folder(doctor: DataDoctor, db: DatabaseManager, images: ImageStore) -> None:
    succeed(db, images, pending(db, os.getpid())[0])
    report = doctor.run()
    assert report.healthy and report.findings == []
    assert report.schema is not None and report.schema[0] == report.schema[1] >= 2
    assert report.integrity_mode == "integrity_check" and report.integrity_problems == []
    assert report.trash is not None and report.trash.files == 0
    data = report.to_dict()
    assert data["healthy"] and data["summary"] == {"problems": 0, "fixed": 0, "remaining": 0}


# -- pending rows --


def test_pending_rows_of_a_dead_process_become_interrupted(
    doctor: DataDoctor, db: DatabaseManager, dead_pid: int
) -> None:
    dead = pending(db, dead_pid, count=2)
    live = pending(db, os.getpid())[0]
    report = doctor.run()
    assert kinds(report) == ["pending", "pending"]
    assert {f.generation_id for f in report.findings} == {g.id for g in dead}
    assert f"process {dead_pid} is gone" in report.findings[0].message
    assert db.get_generation(dead[0].id).status == "pending"  # no --fix: nothing changed

    doctor.repair(report)
    assert report.healthy and all(f.outcome == "marked interrupted" for f in report.findings)
    for row in dead:
        after = db.get_generation(row.id)
        assert (after.status, after.error_kind) == ("interrupted", "interrupted")
    assert db.get_generation(live.id).status == "pending"  # a live process's row is its own


def test_a_pending_row_older_than_an_hour_is_stale_even_with_a_live_pid(
    doctor: DataDoctor, db: DatabaseManager
) -> None:
    row = pending(db, os.getpid())[0]  # a reused pid would look alive
    db.update_generation(row.id, created_at=now() - dt.timedelta(hours=2))
    assert kinds(doctor.run(fix=True)) == ["pending"]
    assert db.get_generation(row.id).status == "interrupted"


# -- saved images whose row was never finished --


def test_a_saved_image_of_a_dead_process_is_attached_with_an_unknown_cost(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, dead_pid: int
) -> None:
    row = pending(db, dead_pid)[0]
    saved = save(images, row)
    saved.thumbnail_path.unlink()  # killed between the image and its thumbnail
    report = doctor.run()
    assert kinds(report) == ["attachable"]
    assert str(saved.path) in report.findings[0].message

    doctor.repair(report)
    assert report.healthy, report.findings
    assert "64x48" in report.findings[0].outcome and "cost unknown" in report.findings[0].outcome
    after = db.get_generation(row.id)
    assert after.status == "succeeded" and after.error_kind is None
    assert (after.file_path, after.thumbnail_path) == (str(saved.path), str(saved.thumbnail_path))
    assert (after.width, after.height, after.output_format) == (64, 48, "png")
    assert after.finished_at is not None and after.duration_ms is not None
    assert saved.thumbnail_path.is_file()  # made again from the image
    (usage,) = ledger(row.id)
    assert usage.cost is None and usage.kind == "image" and usage.price_basis == "unknown"
    assert doctor.run().healthy


def test_an_offline_image_is_attached_at_cost_zero_and_gets_its_sidecar(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, dead_pid: int
) -> None:
    row = pending(db, dead_pid, provider="offline", output_format="jpeg")[0]
    saved = save(images, row, "JPEG")
    files_module.sidecar_path(saved.path).unlink(missing_ok=True)
    # A JPEG without dalletui's metadata inside (as an older save wrote it) gets a sidecar.
    Image.open(saved.path).convert("RGB").save(saved.path, format="JPEG")
    report = doctor.run(fix=True)
    assert kinds(report) == ["attachable"] and report.healthy
    assert "sidecar" in report.findings[0].outcome
    sidecar = json.loads(files_module.sidecar_path(saved.path).read_text(encoding="utf-8"))
    assert sidecar["prompt"] == "a red fox in snow" and sidecar["generation_id"] == str(row.id)
    assert db.get_generation(row.id).output_format == "jpeg"
    (usage,) = ledger(row.id)
    assert usage.cost == Decimal(0) and usage.price_basis == "offline"


def test_a_jpeg_with_its_metadata_inside_gets_no_sidecar(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, dead_pid: int
) -> None:
    row = pending(db, dead_pid, provider="offline", output_format="jpeg")[0]
    saved = save(images, row, "JPEG")
    files_module.sidecar_path(saved.path).unlink(missing_ok=True)
    report = doctor.run(fix=True)
    assert kinds(report) == ["attachable"] and report.healthy
    assert "sidecar" not in report.findings[0].outcome
    assert not files_module.sidecar_path(saved.path).exists()


def test_an_interrupted_row_with_its_image_is_attached_too(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, dead_pid: int
) -> None:
    # An earlier start (before this doctor) marked it interrupted and left the image.
    row = pending(db, dead_pid)[0]
    save(images, row)
    db.fail_generations([row.id], "interrupted", "interrupted", "dalletui stopped")
    assert kinds(doctor.run(full=False, fix=True)) == ["attachable"]
    assert db.get_generation(row.id).status == "succeeded"


def test_the_image_of_a_live_process_is_left_alone(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore
) -> None:
    row = pending(db, os.getpid())[0]
    save(images, row)  # saved a moment ago; its row is about to be finished
    report = doctor.run(fix=True)
    assert report.findings == []
    assert db.get_generation(row.id).status == "pending"


# -- recovery records --


def write_record(home: Path, row: Generation, saved: SavedImage, cost: str | None) -> Path:
    return recovery.write_record(
        home,
        generation_id=row.id,
        request_key=row.request_key,
        prompt="a red fox in snow",
        changes={
            "status": "succeeded",
            "file_path": str(saved.path),
            "thumbnail_path": str(saved.thumbnail_path),
            "width": saved.width,
            "height": saved.height,
            "output_format": "png",
            "revised_prompt": "a red fox, snowing",
            "request_id": "req_123",
            "finished_at": now(),
            "duration_ms": 1234,
        },
        usage={
            "input_text_tokens": 10,
            "output_image_tokens": 272,
            "cost": cost,
            "price_basis": "tokens",
            "prices": {"unit": "per 1M tokens"},
        },
    )


def test_a_recovery_record_is_attached_at_start_and_removed(
    settings: Settings, db: DatabaseManager, images: ImageStore, home: Path
) -> None:
    row = pending(db, os.getpid())[0]  # the process is alive but gave up on the row
    saved = save(images, row)
    record = write_record(home, row, saved, "0.0123")
    db.close()

    services = open_services(settings)  # the next start
    try:
        after = services.db.get_generation(row.id)
        assert after.status == "succeeded" and after.revised_prompt == "a red fox, snowing"
        assert (after.request_id, after.duration_ms) == ("req_123", 1234)
        (usage,) = ledger(row.id)
        assert usage.cost == Decimal("0.0123") and usage.output_image_tokens == 272
        assert usage.price_basis == "tokens"
    finally:
        services.close()
    assert not record.exists()


def test_recovery_records_that_cannot_be_attached_are_kept(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, home: Path
) -> None:
    done = pending(db, os.getpid())[0]
    saved = succeed(db, images, done)
    already = write_record(home, done, saved, None)  # its row got finished after all
    ghost = pending(db, os.getpid())[0]
    ghost_saved = save(images, ghost)
    orphaned = write_record(home, ghost, ghost_saved, None)
    Generation.delete().where(Generation.id == ghost.id).execute()
    damaged = recovery.recovery_dir(home) / "77.json"
    damaged.write_text("{not json", encoding="utf-8")

    report = doctor.run(fix=True)
    by_path = {f.path: f for f in report.findings if f.kind == "recovery"}
    assert by_path[str(already)].fixed and not already.exists()
    assert not by_path[str(orphaned)].fixed and "record kept" in by_path[str(orphaned)].outcome
    assert not by_path[str(damaged)].fixable
    assert orphaned.exists() and damaged.exists()
    assert ghost_saved.path.exists()  # its files belong to the record: never orphans
    assert not report.healthy and len(report.remaining) == 2
    assert len(ledger(done.id)) == 1  # no second ledger row


# -- temp files --


def test_temp_files_go_only_when_their_writer_is_gone(
    doctor: DataDoctor, images: ImageStore, dead_pid: int
) -> None:
    month = images.folder_for(now())
    (month / "thumbs").mkdir(parents=True)
    old = (now() - dt.timedelta(minutes=10)).timestamp()
    dead = month / f".3.png.{dead_pid}.0123456789ab.tmp"
    live = month / f".4.png.{os.getpid()}.0123456789ab.tmp"
    fresh_unknown = month / ".5.png.0123456789ab.tmp"  # old naming: no pid to ask
    old_unknown = month / "thumbs" / ".6.png.abcdefabcdef.tmp"
    probe = month / "thumbs" / ".write-probe-abcdef012345"
    record_temp = recovery.recovery_dir(images.root.parent) / f".9.json.{dead_pid}.tmp"
    not_ours = month / ".notes.tmp"
    record_temp.parent.mkdir(parents=True)
    for path in (dead, live, fresh_unknown, old_unknown, probe, record_temp, not_ours):
        path.write_bytes(b"partial")
    for path in (old_unknown, probe, not_ours):
        os.utime(path, (old, old))

    for full in (False, True):
        report = doctor.examine(full=full)
        assert {Path(f.path or "") for f in report.findings} == {
            dead,
            old_unknown,
            probe,
            record_temp,
        }
    doctor.repair(report)
    assert report.healthy
    assert {
        p
        for p in (dead, live, fresh_unknown, old_unknown, probe, record_temp, not_ours)
        if p.exists()
    } == {live, fresh_unknown, not_ours}


def test_atomic_writes_name_their_temp_file_with_the_writer_pid(
    monkeypatch: pytest.MonkeyPatch, images: ImageStore, db: DatabaseManager
) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(source: os.PathLike[str], target: os.PathLike[str]) -> None:
        seen.append(Path(source).name)
        real_replace(source, target)

    monkeypatch.setattr(files_module.os, "replace", spy)
    save(images, pending(db, os.getpid())[0])
    assert seen and all(
        re.fullmatch(rf"\.\d+\.png\.{os.getpid()}\.[0-9a-f]{{12}}\.tmp", name) for name in seen
    )
    assert all(doctor_module._TEMP_WITH_PID.match(name)["pid"] == str(os.getpid()) for name in seen)


# -- rows and files that disagree --


def test_a_succeeded_row_whose_image_is_gone_is_marked_failed_and_keeps_its_ledger_row(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore
) -> None:
    row = pending(db, os.getpid())[0]
    saved = succeed(db, images, row)
    saved.path.unlink()
    report = doctor.run()
    assert kinds(report) == ["missing_image"]
    doctor.repair(report)
    after = db.get_generation(row.id)
    assert (after.status, after.error_kind) == ("failed", "filesystem")
    assert str(saved.path) in after.error_message and "ledger" in after.error_message
    assert len(ledger(row.id)) == 1 and ledger(row.id)[0].cost == Decimal("0.011")
    # The thumbnail it left is now recorded by a failed row: not an orphan.
    assert doctor.run().healthy


def test_a_missing_thumbnail_is_made_again(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore
) -> None:
    saved = succeed(db, images, pending(db, os.getpid())[0])
    saved.thumbnail_path.unlink()
    report = doctor.run(fix=True)
    assert kinds(report) == ["missing_thumbnail"] and report.healthy
    with Image.open(saved.thumbnail_path) as thumb:
        assert max(thumb.size) <= 256


def test_a_moved_data_folder_is_relinked_not_emptied(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, tmp_path: Path
) -> None:
    row = pending(db, os.getpid())[0]
    saved = succeed(db, images, row)
    old = tmp_path / "old-home" / "images"
    db.relink_files(
        row.id,
        file_path=str(old / saved.path.relative_to(images.root)),
        thumbnail_path=str(old / saved.thumbnail_path.relative_to(images.root)),
    )
    report = doctor.run()
    assert kinds(report) == ["moved"]  # and no orphans: the files are the row's
    doctor.repair(report)
    after = db.get_generation(row.id)
    assert (after.file_path, after.thumbnail_path) == (str(saved.path), str(saved.thumbnail_path))
    assert doctor.run().healthy


def test_files_no_row_knows_move_to_the_trash_never_deleted(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, home: Path
) -> None:
    failed = pending(db, os.getpid(), output_format="webp")[0]
    failed_saved = save(images, failed, "WEBP")
    db.fail_generations([failed.id], "failed", "server", "boom")
    row = pending(db, os.getpid())[0]
    saved = save(images, row)
    Generation.delete().where(Generation.id == row.id).execute()  # e.g. an older backup
    untouched = images.folder_for(now()) / "README.txt"
    untouched.write_text("mine", encoding="utf-8")
    data = saved.path.read_bytes()

    report = doctor.run()
    orphans = {Path(f.path or "") for f in report.findings if f.kind == "orphan"}
    assert orphans == {
        saved.path,
        saved.thumbnail_path,
        failed_saved.path,  # a WebP: its metadata is inside, no sidecar
        failed_saved.thumbnail_path,
    }
    doctor.repair(report)
    assert report.healthy and not saved.path.exists() and untouched.exists()
    moved = home / "trash" / "orphans" / saved.path.relative_to(images.root).parent
    assert (moved / f"orphan-{saved.path.name}").read_bytes() == data
    assert (moved / "thumbs" / f"orphan-{saved.thumbnail_path.name}").is_file()
    again = doctor.run()
    assert again.healthy and again.trash is not None and again.trash.files == 4
    assert again.trash.bytes > len(data)


def test_a_trashed_row_whose_files_are_in_the_trash_is_fine(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, home: Path
) -> None:
    row = pending(db, os.getpid())[0]
    saved = succeed(db, images, row)
    db.update_generation(row.id, deleted_at=now())
    for path in (saved.path, saved.thumbnail_path):  # moved; paths not yet recorded (a crash)
        target = home / "trash" / path.relative_to(images.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    report = doctor.run()
    assert report.healthy, report.findings
    assert report.trash is not None and report.trash.files == 2


# -- the database --


def test_integrity_and_schema_problems_are_reported_not_fixed(
    doctor: DataDoctor, db: DatabaseManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "integrity_check", lambda full=False: ["row 3 missing from index"])
    monkeypatch.setattr(db, "schema_version", lambda: 1)
    report = doctor.run(fix=True)
    assert kinds(report) == ["schema", "integrity"]
    assert not report.healthy and not any(f.fixable for f in report.findings)
    assert "row 3 missing from index" in report.findings[1].message


def test_the_real_checks_of_sqlite_pass_on_a_fresh_database(db: DatabaseManager) -> None:
    assert db.integrity_check() == [] and db.integrity_check(full=True) == []


# -- at every start --


def test_open_services_repairs_what_a_crash_left_and_says_so(
    settings: Settings,
    db: DatabaseManager,
    images: ImageStore,
    dead_pid: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = pending(db, dead_pid, count=3)
    save(images, rows[0])
    temp = images.folder_for(now()) / f".{rows[1].id}.png.{dead_pid}.0123456789ab.tmp"
    temp.write_bytes(b"half an image")
    db.close()
    with caplog.at_level(logging.WARNING):
        services = open_services(settings)
    try:
        statuses = [services.db.get_generation(r.id).status for r in rows]
    finally:
        services.close()
    assert statuses == ["succeeded", "interrupted", "interrupted"]
    assert not temp.exists()
    text = caplog.text
    assert "1 saved image attached to its row" in text
    assert "2 pending rows marked interrupted" in text and "1 left-over temp file deleted" in text


def test_the_start_up_check_is_cheap(
    doctor: DataDoctor, db: DatabaseManager, images: ImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = succeed(db, images, pending(db, os.getpid())[0])
    saved.path.unlink()  # only the full check looks at succeeded rows' files

    def no_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the start-up check must not walk the image tree")

    monkeypatch.setattr(doctor, "_list_images", no_walk)
    monkeypatch.setattr(db, "generations_missing_files", no_walk)
    report = doctor.startup()
    assert report.findings == [] and report.integrity_mode == "quick_check"


# -- the command --


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reports_fixes_and_exits_by_what_is_left(
    capsys: pytest.CaptureFixture[str], db: DatabaseManager, dead_pid: int, home: Path
) -> None:
    row = pending(db, dead_pid)[0]
    db.close()
    code, out, _ = run(capsys, "doctor")
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == f"dalletui doctor: {home}"
    assert "ok       schema version" in out and "ok       database integrity" in out
    assert f"problem  Generation {row.id} is pending" in out and "(--fix: mark it" in out
    assert lines[-1].startswith("1 problem: 0 fixed, 1 left; run `dalletui doctor --fix`")

    code, out, _ = run(capsys, "doctor", "data", "--fix")
    assert code == 0 and f"fixed    Generation {row.id}" in out and "-> marked interrupted" in out
    assert out.splitlines()[-1] == "1 problem, all fixed."

    code, out, _ = run(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == 0 and data["healthy"] and data["findings"] == []
    assert data["trash"] == {"files": 0, "bytes": 0} and data["integrity"]["ok"]
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and out.splitlines()[-1] == "Healthy: no problems found."


def test_cli_json_lists_findings(
    capsys: pytest.CaptureFixture[str], db: DatabaseManager, dead_pid: int
) -> None:
    row = pending(db, dead_pid)[0]
    db.close()
    code, out, _ = run(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == 1 and not data["healthy"]
    (finding,) = data["findings"]
    assert finding["kind"] == "pending" and finding["generation_id"] == row.id
    assert finding["fixable"] and not finding["fixed"] and finding["remedy"]
    assert data["summary"] == {"problems": 1, "fixed": 0, "remaining": 1}


def test_cli_without_a_database_creates_nothing(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and "nothing to check" in out
    assert not (home / "dalletui.db").exists()


def test_cli_on_a_damaged_database(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    home.mkdir(parents=True)
    (home / "dalletui.db").write_bytes(b"this is not a database" * 200)
    code, out, err = run(capsys, "doctor")
    assert code == 1 and "problem  " in out and "damaged" in out and not err
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 1 and json.loads(out)["healthy"] is False


def test_fix_is_for_the_data_check_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "doctor", "graphics", "--fix")
    assert code == 2 and "--fix" in err
