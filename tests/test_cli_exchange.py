"""CLI: ``dalletui export`` and ``dalletui import``, in process, on real homes.

What was written is read back from the files themselves (every zip member opened, PNG text
chunks decoded); refusals are checked on disk (database and images folder unchanged).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from dalletui.cli import EXIT_INTERRUPTED, INTERNAL_ERROR, main
from dalletui.services.exchange import staging as staging_module
from dalletui.storage import DatabaseManager
from tests.test_exchange import copy_home, seeded_home, settled, state

#: A key-shaped secret; nothing dalletui writes may contain it.
API_KEY = "sk-proj-EXPORTSECRET0123456789abcdefABCDEF"


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_home(tmp_path_factory)


@pytest.fixture
def seeded(seeded_template: Path, home: Path) -> Path:
    """The seeded history of tests/test_exchange.py, as this test's home."""
    return copy_home(seeded_template, home)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and INTERNAL_ERROR not in err, err
    return code, out, err


def run_bytes(capfdbinary: pytest.CaptureFixture[bytes], *argv: str) -> bytes:
    assert main(list(argv)) == 0
    out, err = capfdbinary.readouterr()
    assert b"Traceback" not in err
    return out


# -- export ------------------------------------------------------------------------------------


def test_export_to_stdout_in_each_format(
    seeded: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    document = json.loads(run_bytes(capfdbinary, "export"))
    assert document["format"] == "dalletui-export" and document["version"] == 1
    assert len(document["generations"]) == 10

    lines = run_bytes(capfdbinary, "export", "--format", "jsonl").decode().splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds[0] == "header" and kinds[-1] == "end" and kinds.count("generation") == 10

    table = run_bytes(capfdbinary, "export", "--format", "csv").decode()
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 10  # one row per generation
    billed = next(r for r in rows if r["prompt"] == "an API fox")
    assert (billed["cost"], billed["model"], billed["status"]) == (
        "0.0052",
        "gpt-image-1-mini",
        "failed",
    )
    assert (billed["input_tokens"], billed["output_tokens"], billed["total_tokens"]) == (
        "12",
        "272",
        "284",
    )
    assert {r["billing"] for r in rows if r["prompt"] == "a timed out owl"} == {
        "possibly billed",
        "no record",
    }
    assert next(r for r in rows if r["prompt"] == "a lighthouse at dusk")["favorite"] == "yes"
    assert all(r["file_path"] == "" or not r["file_path"].startswith("/") for r in rows)


def test_export_filters(seeded: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    favorites = json.loads(run_bytes(capfdbinary, "export", "--favorites"))
    assert [p["text"] for p in favorites["prompts"]] == ["a lighthouse at dusk"]
    found = json.loads(run_bytes(capfdbinary, "export", "--search", "snow", "--since", "7d"))
    assert len(found["prompts"]) == 4 and found["filters"]["search"] == "snow"
    assert found["filters"]["since"] is not None


def test_export_files_are_written_whole_with_a_summary(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all.json"
    out.write_text("an older export")
    code, stdout, _ = run(capsys, "export", "-o", str(out))
    assert code == 0
    assert stdout.startswith("Exported 8 prompts, 10 generations, 9 usage rows, 1 templates")
    assert json.loads(out.read_text())["format"] == "dalletui-export"
    code, stdout, _ = run(capsys, "export", "--zip", str(tmp_path / "all.zip"))
    assert code == 0 and "10 generations (7 images)" in stdout
    code, stdout, _ = run(capsys, "export", "--format", "csv", "--out", str(tmp_path / "g.csv"))
    assert (tmp_path / "g.csv").read_bytes().startswith(b"\xef\xbb\xbfcreated_at,prompt,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_refusals_write_nothing(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["export", "--zip", str(tmp_path / "a.zip"), "-o", str(tmp_path / "b")])
    assert caught.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    code, _, err = run(capsys, "export", "--format", "csv", "--zip", str(tmp_path / "a.zip"))
    assert code == 1 and "CSV cannot be imported back" in err
    code, _, err = run(capsys, "export", "-o", str(tmp_path / "missing" / "a.json"))
    assert (
        code == 1
        and err.startswith("dalletui: error: Cannot write")
        and "nothing was written" in err
    )
    code, _, err = run(capsys, "export", "-o", str(tmp_path))
    assert code == 1 and "is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_csv_cells_cannot_be_formulas(
    home: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        for text in (
            '=HYPERLINK("http://evil.example","click")',
            "+1+2",
            "-3",
            "@SUM(A1)",
            "plain",
        ):
            prompt = db.record_prompt_use(text)
            db.create_generations(
                prompt,
                1,
                provider="offline",
                model="gpt-image-1-mini",
                size="1024x1024",
                quality="auto",
                output_format="png",
            )
    finally:
        db.close()
    rows = list(
        csv.reader(io.StringIO(run_bytes(capfdbinary, "export", "--format", "csv").decode()))
    )
    prompts = [row[1] for row in rows[1:]]
    assert prompts == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+1+2",
        "'-3",
        "'@SUM(A1)",
        "plain",
    ]
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


# -- no secrets --------------------------------------------------------------------------------


def _texts_of_png(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return json.dumps(getattr(image, "text", {}) or {})


def test_the_api_key_is_in_no_export_format(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    for argv in (
        ["generate", "a fox with a secret", "--provider", "offline", "-n", "2"],
        ["generate", "a jpeg owl", "--provider", "offline", "--format", "jpeg"],
        ["generate", "a webp cat", "--provider", "offline", "--format", "webp"],
    ):
        assert main(argv) == 0
    db = DatabaseManager(home / "dalletui.db").open()
    try:  # an error that quoted the key (redacted where it is recorded)
        prompt = db.record_prompt_use("an API failure")
        (row,) = db.create_generations(
            prompt,
            1,
            provider="openai",
            model="gpt-image-1-mini",
            size="1024x1024",
            quality="low",
            output_format="png",
        )
        db.fail_generations([row.id], "failed", "authentication", f"Incorrect API key: {API_KEY}")
    finally:
        db.close()
    capfdbinary.readouterr()
    outputs = {
        name: run_bytes(capfdbinary, "export", "--format", name)
        for name in ("json", "jsonl", "csv")
    }
    for name in ("json", "jsonl", "csv"):
        target = tmp_path / f"all.{name}"
        assert main(["export", "--format", name, "-o", str(target)]) == 0
        outputs[target.name] = target.read_bytes()
    for name in ("json", "jsonl"):
        target = tmp_path / f"all-{name}.zip"
        assert main(["export", "--format", name, "--zip", str(target)]) == 0
        outputs[target.name] = target.read_bytes()
        with zipfile.ZipFile(target) as archive:
            members = archive.namelist()
            assert any(m.endswith(".jpg") for m in members)
            for member in members:
                data = archive.read(member)
                outputs[f"{target.name}:{member}"] = data
                if member.endswith(".png"):
                    outputs[f"{target.name}:{member}:text"] = _texts_of_png(data).encode()
    capfdbinary.readouterr()
    assert len(outputs) > 20
    for name, data in outputs.items():
        assert API_KEY.encode() not in data, name
        assert b"EXPORTSECRET" not in data, name


def test_an_export_that_would_hold_the_key_is_refused(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        db.record_prompt_use(f"my key is {API_KEY}, remember it")
    finally:
        db.close()
    target = tmp_path / "all.json"
    code, out, err = run(capsys, "export", "-o", str(target))
    assert code == 1 and "would contain your API key" in err and "nothing was written" in err
    assert API_KEY not in out + err
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    code, out, err = run(capsys, "export")
    assert code == 1 and out == "" and API_KEY not in err


# -- import ------------------------------------------------------------------------------------


def test_import_prints_one_summary_line_and_json(
    seeded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = tmp_path / "all.zip"
    assert main(["export", "--zip", str(archive)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("DALLETUI_HOME", str(tmp_path / "other"))
    code, out, _ = run(capsys, "import", str(archive), "--dry-run")
    assert code == 0 and out.startswith(f"Would have imported {archive}: 8 new prompts")
    code, out, _ = run(capsys, "import", str(archive))
    assert code == 0
    assert out == (
        f"Imported {archive}: 8 new prompts, 0 merged, 10 generations (7 images copied), "
        "9 usage rows, 1 templates, 2 variables, 1 batches; 0 conflicts kept local.\n"
    )
    code, out, _ = run(capsys, "import", str(archive), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["generations"] == 0 and summary["skipped_generations"] == 10
    assert summary["format"] == "zip" and summary["conflicts"] == []


def test_ctrl_c_during_an_import_finishes_the_moves_then_says_interrupted(
    seeded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = tmp_path / "all.zip"
    assert main(["export", "--zip", str(archive)]) == 0
    other = tmp_path / "other"
    monkeypatch.setenv("DALLETUI_HOME", str(other))
    real = staging_module._move_no_overwrite
    moved: list[Path] = []

    def move(staged: Path, target: Path) -> None:
        if not moved:
            os.kill(os.getpid(), signal.SIGINT)
        real(staged, target)
        moved.append(target)

    monkeypatch.setattr(staging_module, "_move_no_overwrite", move)
    capsys.readouterr()
    code, out, err = run(capsys, "import", str(archive))
    assert (code, out, err) == (EXIT_INTERRUPTED, "", "dalletui: interrupted\n")
    with zipfile.ZipFile(archive) as opened:
        assert len(moved) == len(opened.namelist()) - 1  # every file but export.json
    assert all(path.is_file() for path in moved)
    assert not list((other / "images").glob(".import-staging-*"))
    monkeypatch.setattr(staging_module, "_move_no_overwrite", real)
    code, out, _ = run(capsys, "import", str(archive))
    assert code == 0 and "0 generations (0 images copied)" in out and "restored" not in out


def test_import_lists_conflicts(
    seeded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export = tmp_path / "all.json"
    assert main(["export", "-o", str(export)]) == 0
    document = json.loads(export.read_text())
    document["templates"][0]["body"] = "a {colour} {animal} in the rain"
    export.write_text(json.dumps(document))
    capsys.readouterr()
    code, out, _ = run(capsys, "import", str(export))
    assert code == 0 and out.splitlines() == [
        f"Imported {export}: 0 new prompts, 0 merged, 0 generations (0 images copied), "
        "0 usage rows, 0 templates, 0 variables, 0 batches; 1 conflicts kept local.",
        "  template 'zoo': the file's differs; the local one was kept",
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("record_path", "generations[0].file_path: '../../etc/x' leaves the images folder"),
        ("zip_slip", "member 'images/../../../escape.png' leaves the images folder"),
        ("bomb", "a zip bomb?"),
        ("wrong_version", "format version 7"),
        ("not_json", "does not start with a JSON object"),
    ],
)
def test_hostile_imports_fail_in_one_line_and_change_nothing(
    seeded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: str,
    message: str,
) -> None:
    export = tmp_path / "all.json"
    assert main(["export", "-o", str(export)]) == 0
    document = json.loads(export.read_text())
    bad = tmp_path / "bad.bin"
    if make == "record_path":
        document["generations"][0]["file_path"] = "../../etc/x"
        bad.write_text(json.dumps(document))
    elif make == "wrong_version":
        bad.write_text(json.dumps({**document, "version": 7}))
    elif make == "not_json":
        bad.write_bytes(b"\x00\x01 this is not an export")
    else:
        with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.json", json.dumps(document))
            if make == "zip_slip":
                archive.writestr("images/../../../escape.png", b"\x89PNG\r\n\x1a\n")
            else:
                archive.writestr("images/2026/01/1.png", b"\x89PNG\r\n\x1a\n" + bytes(20_000_000))
    capsys.readouterr()
    before = settled(seeded)
    code, out, err = run(capsys, "import", str(bad))
    assert code == 1 and out == ""
    assert err.startswith("dalletui: error: Refused bad.bin") and message in err, err
    assert err.count("\n") == 1 and err.rstrip().endswith("nothing was imported.")
    assert state(seeded) == before
    assert not (tmp_path / "escape.png").exists() and not (seeded / "escape.png").exists()
