"""CLI: history, favorite, import-prompts; clear one-line errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from dalletui.cli import main
from dalletui.storage import DatabaseManager


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_then_history_and_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "prompts.txt.gz"
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.write("a red fox in snow\n\ncyberpunk city\na red fox in snow\nowl 🦉 at dusk\n")
    code, out, _ = run(capsys, "import-prompts", str(source))
    assert code == 0 and "Imported 4 lines" in out and "3 new prompts" in out
    code, out, _ = run(capsys, "history", "--json")
    rows = json.loads(out)
    assert {r["text"] for r in rows} == {"a red fox in snow", "cyberpunk city", "owl 🦉 at dusk"}
    assert next(r for r in rows if r["text"] == "a red fox in snow")["use_count"] == 2
    code, out, _ = run(capsys, "history", "--search", "cyber*")
    assert code == 0 and "cyberpunk city" in out and "fox" not in out
    code, out, _ = run(capsys, "history", "--limit", "1", "--order", "uses")
    assert out.count("\n") == 1 and "a red fox" in out


def test_favorite_on_and_off(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "p.txt"
    source.write_text("first\nsecond\n", encoding="utf-8")
    run(capsys, "import-prompts", str(source))
    rows = json.loads(run(capsys, "history", "--json")[1])
    target = next(r["id"] for r in rows if r["text"] == "second")
    code, out, _ = run(capsys, "favorite", str(target))
    assert code == 0 and "starred" in out
    favs = json.loads(run(capsys, "history", "--favorites", "--json")[1])
    assert [r["text"] for r in favs] == ["second"]
    code, out, _ = run(capsys, "favorite", str(target), "--off")
    assert "unstarred" in out
    assert json.loads(run(capsys, "history", "--favorites", "--json")[1]) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_bytes(b"\xff\xfe\x00bin"), p)[1], "not UTF-8"),
        (lambda p: (p.with_suffix(".gz").write_bytes(b"nope"), p.with_suffix(".gz"))[1], "gzip"),
        (lambda p: (p.write_text("\n  \n"), p)[1], "no prompts"),
        (lambda p: (p.write_text("ok\n" + "x" * 40_000 + "\n"), p)[1], "line 2"),
    ],
)
def test_import_bad_files_fail_cleanly_and_import_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make,
    message: str,  # noqa: ANN001
) -> None:
    path = make(tmp_path / "bad.txt")
    code, out, err = run(capsys, "import-prompts", str(path))
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(run(capsys, "history", "--json")[1]) == []


def test_unknown_prompt_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "favorite", "42")
    assert code == 1 and err.strip() == "dalletui: error: No prompt #42."
    with pytest.raises(SystemExit) as info:
        main(["history", "--limit", "zero"])
    assert info.value.code == 2
    assert "not a whole number" in capsys.readouterr().err


def test_corrupt_database_is_one_clear_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir(parents=True)
    (home / "dalletui.db").write_bytes(b"garbage" * 500)
    code, _, err = run(capsys, "history")
    assert code == 1 and "damaged" in err and err.count("\n") == 1


def test_home_flag_overrides_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-home"
    source = tmp_path / "p.txt"
    source.write_text("elsewhere\n", encoding="utf-8")
    run(capsys, "--home", str(other), "import-prompts", str(source))
    assert (other / "dalletui.db").is_file()
    assert json.loads(run(capsys, "history", "--json")[1]) == []


def test_since_and_until_filter_by_last_use(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    for text, day in (("old fox", 10), ("mid owl", 20), ("new cat", 31)):
        db.record_prompt_use(text, when=dt.datetime(2026, 1, day, 12, 0).astimezone())
    db.close()

    def texts(*argv: str) -> list[str]:
        code, out, err = run(capsys, "history", "--json", *argv)
        assert code == 0, err
        return [row["text"] for row in json.loads(out)]

    assert texts("--since", "2026-01-20") == ["new cat", "mid owl"]
    assert texts("--until", "2026-01-20") == ["mid owl", "old fox"]  # the whole 20th included
    assert texts("--since", "2026-01-11", "--until", "2026-01-30") == ["mid owl"]
    assert texts("--since", "2026-02-01") == []
    code, out, _ = run(capsys, "history", "--since", "2026-01-20", "--search", "owl")
    assert code == 0 and "mid owl" in out and "fox" not in out


def test_bad_dates_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("soon", "2026-02-30", "7x"):
        with pytest.raises(SystemExit) as info:
            main(["history", "--since", value])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
