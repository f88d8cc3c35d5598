"""CLI: delete, trash list / restore / purge / empty; bad ids change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalletui.cli import main
from dalletui.config import Settings
from dalletui.services.context import Services, open_services
from tests.trash_helpers import files_of, ledger_sum, make_images, snapshot


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seeded(settings: Settings) -> Iterator[Services]:
    """Prompt 1 with two priced images, prompt 2 with one JPEG; closed before the CLI runs."""
    services = open_services(settings)
    make_images(services, "a red fox", 2)
    make_images(services, "a blue whale", 1, fmt="jpeg")
    services.close()
    yield services


def reopen(settings: Settings) -> Services:
    return open_services(settings)


def test_delete_then_restore_a_prompt(
    capsys: pytest.CaptureFixture[str], seeded: Services, settings: Settings
) -> None:
    services = reopen(settings)
    paths = [p for g in services.db.generations_for_prompt(1) for p in files_of(g)]
    before = snapshot(paths)
    services.close()

    code, out, _ = run(capsys, "delete", "prompt", "1")
    assert code == 0
    assert out == (
        "Moved prompt #1 and its 2 images to the trash. Undo: dalletui trash restore prompt:1\n"
    )
    assert not any(p.exists() for p in paths)
    history = json.loads(run(capsys, "history", "--json")[1])
    assert [row["text"] for row in history] == ["a blue whale"]

    code, out, err = run(capsys, "trash", "list")
    assert code == 0
    header, line = out.splitlines()
    assert header.split() == ["ID", "TRASHED", "IMAGES", "SIZE", "PROMPT"]
    # PNGs carry their metadata inside (parameters for other tools): over a kilobyte each.
    assert line.startswith("prompt:1 ") and "a red fox" in line and " KB " in line
    assert "1 entry" in err and "30 days" in err

    code, out, _ = run(capsys, "trash", "restore", "prompt:1")
    assert (code, out) == (0, "Restored prompt #1 and its 2 images.\n")
    assert snapshot(paths) == before
    assert run(capsys, "trash", "list")[2].strip() == "The trash is empty."


def test_delete_one_image_and_list_json(
    capsys: pytest.CaptureFixture[str], seeded: Services
) -> None:
    code, out, _ = run(capsys, "delete", "generation", "3")
    assert code == 0
    assert "image #3 of prompt #2" in out and "dalletui trash restore generation:3" in out
    [entry] = json.loads(run(capsys, "trash", "list", "--json")[1])
    assert entry["id"] == "generation:3" and entry["kind"] == "generation"
    assert entry["prompt_id"] == 2 and entry["images"] == 1 and entry["size_bytes"] > 0
    assert entry["prompt_in_trash"] is False
    history = json.loads(run(capsys, "history", "--json")[1])
    assert {row["text"]: row["generation_count"] for row in history} == {
        "a blue whale": 0,
        "a red fox": 2,
    }
    assert run(capsys, "trash", "restore", "image:3")[0] == 0
    assert json.loads(run(capsys, "trash", "list", "--json")[1]) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("delete", "prompt", "99"), "No prompt #99."),
        (("delete", "generation", "99"), "No generation #99."),
        (("trash", "restore", "1"), "write prompt:1 or generation:1"),
        (("trash", "restore", "prompt:2"), "Prompt #2 is not in the trash."),
        (("trash", "restore", "generation:3", "folder:1"), "'folder:1' is not a trash id"),
        (("trash", "purge", "--yes", "prompt:1", "prompt:2"), "Prompt #2 is not in the trash."),
    ],
)
def test_bad_ids_are_one_clear_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str],
    seeded: Services,
    settings: Settings,
    argv: tuple[str, ...],
    message: str,
) -> None:
    run(capsys, "delete", "prompt", "1")
    run(capsys, "delete", "generation", "3")
    listed = run(capsys, "trash", "list", "--json")[1]
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("dalletui: error: ")
    assert run(capsys, "trash", "list", "--json")[1] == listed


def test_a_non_number_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["delete", "prompt", "abc"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "not a whole number" in err and err.count("\n") == 1


def test_empty_needs_yes_when_not_at_a_terminal(
    capsys: pytest.CaptureFixture[str], seeded: Services, settings: Settings
) -> None:
    run(capsys, "delete", "prompt", "1")
    code, out, err = run(capsys, "trash", "empty")
    assert code == 1 and "add --yes" in err and "Nothing was deleted" in err
    assert len(json.loads(run(capsys, "trash", "list", "--json")[1])) == 1


def test_purge_and_empty_keep_the_ledger(
    capsys: pytest.CaptureFixture[str], seeded: Services, settings: Settings
) -> None:
    services = reopen(settings)
    spent = ledger_sum(services)
    paths = [Path(g.file_path) for g in services.db.list_generations()]
    services.close()
    assert spent > 0

    run(capsys, "delete", "prompt", "1")
    run(capsys, "delete", "generation", "3")
    code, out, _ = run(capsys, "trash", "purge", "generation:3", "--yes")
    # the JPEG and its thumbnail: its metadata is inside it, no sidecar
    assert code == 0 and out.startswith("Purged 1 entry (1 generation, 2 files")
    code, out, _ = run(capsys, "trash", "empty", "--older-than", "1", "--yes")
    assert code == 0  # nothing is a day old yet
    assert len(json.loads(run(capsys, "trash", "list", "--json")[1])) == 1
    code, out, _ = run(capsys, "trash", "empty", "--yes")
    assert code == 0 and "Purged 1 entry (2 generations, 4 files" in out
    assert "Usage totals are unchanged." in out
    assert not any(path.exists() for path in paths)

    services = reopen(settings)
    try:
        assert ledger_sum(services) == spent
        assert services.trash.entries() == []
    finally:
        services.close()
