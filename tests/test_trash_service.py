"""TrashService: files move into <home>/trash and back byte for byte; purges delete them.

Also the crash windows: every step after marking the rows copes with files that already moved.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from dalletui.config import Settings, load_settings
from dalletui.errors import ConfigError, NotFoundError
from dalletui.services.context import Services, open_services
from dalletui.storage.trash import TrashRef
from tests.trash_helpers import files_of, ledger_sum, make_images, snapshot


def backdate(services: Services, prompt_id: int, when: dt.datetime) -> None:
    """Pretend a prompt (and what was trashed with it) went to the trash at ``when``."""
    for table, column in (("prompts", "id"), ("generations", "prompt_id")):
        services.db.db.execute_sql(
            f"UPDATE {table} SET deleted_at = ? WHERE {column} = ?", (when, prompt_id)
        )


def in_trash(services: Services, path: Path) -> Path:
    return services.trash.root / path.relative_to(services.images.root)


def test_trash_moves_files_and_restore_puts_them_back_byte_for_byte(services: Services) -> None:
    generations = make_images(services, "a red fox", 2) + make_images(
        services, "a red fox", 1, fmt="jpeg"
    )
    prompt_id = generations[0].prompt_id
    # JPEGs carry their metadata inside now; one saved by an older dalletui has a sidecar.
    Path(generations[-1].file_path).with_suffix(".json").write_text("{}", encoding="utf-8")
    originals = [path for g in generations for path in files_of(g)]
    assert any(path.suffix == ".json" for path in originals), "the JPEG has a sidecar"
    before = snapshot(originals)

    outcome = services.history.delete(prompt_id)
    assert outcome.item.ref == TrashRef("prompt", prompt_id)
    assert outcome.files_moved == len(originals) and outcome.problems == ()
    assert outcome.item.size_bytes == sum(len(data) for data in before.values())
    for path in originals:
        assert not path.exists()
        assert in_trash(services, path).read_bytes() == before[path]
    for row in services.db.generations_for_prompt(prompt_id, include_deleted=True):
        assert Path(row.file_path).is_relative_to(services.trash.root)
        assert Path(row.thumbnail_path).is_relative_to(services.trash.root)

    restored = services.trash.restore(TrashRef("prompt", prompt_id))
    assert restored.files_moved == len(originals)
    assert snapshot(originals) == before
    rows = services.db.generations_for_prompt(prompt_id)
    assert sorted(r.file_path for r in rows) == sorted(g.file_path for g in generations)
    assert sorted(r.thumbnail_path for r in rows) == sorted(g.thumbnail_path for g in generations)
    assert services.trash.entries() == []
    assert not any(p.is_file() for p in services.trash.root.rglob("*"))


def test_trashing_one_image_leaves_the_prompt_and_its_other_images(services: Services) -> None:
    keep, drop = make_images(services, "two owls", 2)
    outcome = services.trash.trash_generation(drop.id)
    assert outcome.item.ref == TrashRef("generation", drop.id)
    assert Path(keep.file_path).exists() and not Path(drop.file_path).exists()
    assert [g.id for g in services.history.generations(keep.prompt_id)] == [keep.id]
    assert [g.id for g in services.history.gallery()] == [keep.id]
    [entry] = services.trash.entries()
    assert entry.ref == outcome.item.ref and entry.image_count == 1 and entry.size_bytes


def test_purge_deletes_files_and_leaves_the_ledger(services: Services) -> None:
    generations = make_images(services, "a doomed prompt", 3, cost="0.1234")
    make_images(services, "a survivor", 1, cost="0.5")
    paths = [path for g in generations for path in files_of(g)]
    spent = ledger_sum(services)
    assert spent == Decimal("0.8702")
    all_time = services.usage.all_time()

    item = services.history.delete(generations[0].prompt_id).item
    assert ledger_sum(services) == spent
    outcome = services.trash.purge([item.ref])
    assert (outcome.entries, outcome.generations, outcome.files) == (1, 3, len(paths))
    assert outcome.bytes_freed == item.size_bytes
    for path in paths:
        assert not path.exists() and not in_trash(services, path).exists()
    assert ledger_sum(services) == spent
    assert services.usage.all_time().cost == all_time.cost
    assert services.usage.all_time().images == all_time.images
    with pytest.raises(NotFoundError):
        services.history.get(item.prompt_id)


def test_restore_after_a_crash_before_the_files_moved(services: Services) -> None:
    [generation] = make_images(services, "crash early")
    before = snapshot(files_of(generation))
    services.db.trash_prompt(generation.prompt_id)  # rows marked; then the process died
    [entry] = services.trash.entries()
    assert entry.size_bytes == sum(len(b) for b in before.values())
    outcome = services.trash.restore(entry.ref)
    assert outcome.problems == () and outcome.files_moved == 0
    assert snapshot(files_of(generation)) == before
    assert services.history.generations(generation.prompt_id)[0].file_path == generation.file_path


def test_restore_after_a_crash_between_moving_and_recording_paths(services: Services) -> None:
    [generation] = make_images(services, "crash late")
    paths = files_of(generation)
    before = snapshot(paths)
    services.db.trash_prompt(generation.prompt_id)
    for path in paths:  # the files moved, the rows still say they are at home
        in_trash(services, path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, in_trash(services, path))
    outcome = services.trash.restore(TrashRef("prompt", generation.prompt_id))
    assert outcome.problems == ()
    assert snapshot(paths) == before


def test_trashing_again_after_a_crash_mid_move_finishes_the_job(services: Services) -> None:
    [generation] = make_images(services, "half moved")
    image, thumb = Path(generation.file_path), Path(generation.thumbnail_path)
    in_trash(services, image).parent.mkdir(parents=True)
    shutil.move(image, in_trash(services, image))  # the image moved before the crash
    outcome = services.trash.trash_generation(generation.id)
    assert outcome.problems == () and outcome.files_moved == 1  # only the thumbnail was left
    assert in_trash(services, image).exists() and in_trash(services, thumb).exists()


def test_purge_after_a_crash_before_the_files_moved_deletes_them_at_home(
    services: Services,
) -> None:
    [generation] = make_images(services, "never moved")
    services.db.trash_prompt(generation.prompt_id)
    services.trash.purge([TrashRef("prompt", generation.prompt_id)])
    assert not any(path.exists() for path in files_of(generation) if path.suffix != ".json")
    assert not Path(generation.file_path).exists()


def test_a_missing_file_is_reported_and_the_rows_still_move(services: Services) -> None:
    [generation] = make_images(services, "lost thumbnail")
    Path(generation.thumbnail_path).unlink()
    outcome = services.trash.trash_prompt(generation.prompt_id)
    assert outcome.problems == (f"The thumbnail of image #{generation.id} is missing.",)
    restored = services.trash.restore(outcome.item.ref)
    assert len(restored.problems) == 1
    assert Path(generation.file_path).exists()


def test_empty_older_than_and_orphans(services: Services) -> None:
    old, new = make_images(services, "old", 1) + make_images(services, "new", 1)
    services.trash.trash_prompt(old.prompt_id)
    services.trash.trash_prompt(new.prompt_id)
    backdate(services, old.prompt_id, dt.datetime.now() - dt.timedelta(days=40))
    orphan = services.trash.root / "2020" / "01" / "999.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a purge that crashed")
    set_aside = services.trash.root / "orphans" / "2020" / "01" / "998.png"
    set_aside.parent.mkdir(parents=True)
    set_aside.write_bytes(b"moved here by dalletui doctor: never deleted by the trash")

    outcome = services.trash.empty(older_than_days=30)
    assert outcome.entries == 1 and outcome.generations == 1
    assert not orphan.exists()
    assert set_aside.exists()
    assert [item.prompt_id for item in services.trash.entries()] == [new.prompt_id]
    assert services.trash.empty().entries == 1
    assert services.trash.entries() == []


def test_old_trash_is_emptied_when_services_open(settings: Settings) -> None:
    services = open_services(settings.with_overrides(trash_days=7))
    try:
        [generation] = make_images(services, "stale")
        item = services.trash.trash_prompt(generation.prompt_id).item
        backdate(services, item.prompt_id, dt.datetime.now() - dt.timedelta(days=8))
        make_images(services, "fresh")
        fresh = services.trash.trash_prompt(services.db.record_prompt_use("fresh").id).item
    finally:
        services.close()
    for days, expected in ((0, 2), (7, 1)):  # 0 keeps the trash until it is emptied
        reopened = open_services(settings.with_overrides(trash_days=days))
        try:
            assert len(reopened.trash.entries()) == expected
        finally:
            reopened.close()
    reopened = open_services(settings)
    try:
        assert [item.ref for item in reopened.trash.entries()] == [fresh.ref]
    finally:
        reopened.close()


# -- the trash_days setting --------------------------------------------------------------------


def test_trash_days_from_env_and_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert load_settings(config_path=config).trash_days == 30
    config.write_text("trash_days = 0\n", encoding="utf-8")
    assert load_settings(config_path=config).trash_days == 0
    monkeypatch.setenv("DALLETUI_TRASH_DAYS", "7")
    assert load_settings(config_path=config).trash_days == 7  # the environment wins


@pytest.mark.parametrize(
    ("env", "file_value", "named"),
    [
        ("x", None, "DALLETUI_TRASH_DAYS"),
        ("-1", None, "DALLETUI_TRASH_DAYS"),
        ("99999", None, "DALLETUI_TRASH_DAYS"),
        (None, "true", "'trash_days' in"),
        (None, "-3", "'trash_days' in"),
    ],
)
def test_bad_trash_days_are_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: str | None,
    file_value: str | None,
    named: str,
) -> None:
    config = tmp_path / "config.toml"
    if file_value is not None:
        config.write_text(f"trash_days = {file_value}\n", encoding="utf-8")
    if env is not None:
        monkeypatch.setenv("DALLETUI_TRASH_DAYS", env)
    with pytest.raises(ConfigError, match="whole number of days") as raised:
        load_settings(config_path=config)
    assert named in str(raised.value)
