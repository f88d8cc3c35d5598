"""Inputs that used to print a traceback: each is now one line on stderr, a non-zero exit, and
nothing changed (issue 9)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dalletui import cli
from dalletui.cli import INTERNAL_ERROR, MAX_INT64, main

REPO = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main`` in process; argparse's usage errors (``SystemExit``) count as a status too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code != 0
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and INTERNAL_ERROR not in err, err


def run_process(
    *argv: str | bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dalletui", *argv],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def use_counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "dalletui.db") as con:
        return dict(con.execute("select text, use_count from prompts").fetchall())


# -- argument bytes that are not UTF-8 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ((b"generate", b"--provider", b"offline", b"a cat \xff"), "a cat \\xff"),
        ((b"history", b"--search", b"\xff"), "\\xff"),
        ((b"import-prompts", b"caf\xe9.txt"), "caf\\xe9.txt"),
    ],
    ids=["generate", "history", "import"],
)
def test_non_utf8_argument_is_refused_before_anything_is_opened(
    home: Path, argv: tuple[bytes, ...], shown: str
) -> None:
    result = run_process(*argv)
    assert result.returncode == 2
    assert result.stdout == b""
    assert (
        result.stderr.decode() == f"dalletui: error: argument '{shown}' is not valid UTF-8 text\n"
    )
    assert not home.exists(), "nothing may be created for a refused command"


def test_lone_surrogates_in_process(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "history", "--search", "\udcff")
    assert_one_line_error(code, err)
    assert err == "dalletui: error: argument '\\xff' is not valid UTF-8 text\n"
    # A surrogate that no byte decodes to (only reachable from Python) is named as such.
    code, _, err = run(capsys, "generate", "--provider", "offline", "x\ud800y")
    assert_one_line_error(code, err)
    assert "'x\\ud800y' is not valid UTF-8 text" in err
    assert not home.exists()


def test_non_utf8_locale_prints_instead_of_crashing(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "p.txt"
    source.write_text("owl 🦉 at dusk\ncafé ×\n", encoding="utf-8")
    assert run_process("import-prompts", str(source)).returncode == 0
    result = run_process("history", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"owl ? at dusk" in result.stdout and b"caf? ?" in result.stdout
    # The JSON stays parseable (characters the locale lacks become '?').
    result = run_process("history", "--json", env={"PYTHONIOENCODING": "latin-1"})
    assert result.returncode == 0 and b"caf\xe9" in result.stdout


# -- integers too large for SQLite ----------------------------------------------------------------


@pytest.fixture
def seeded(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    source = tmp_path / "seed.txt"
    source.write_text("a cat\na dog\n", encoding="utf-8")
    assert run(capsys, "import-prompts", str(source))[0] == 0
    return home


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("generate", "--provider", "offline", "a cat", "--seed", str(2**70)),
            f"argument --seed: {2**70} must be at most {MAX_INT64}",
        ),
        (
            ("generate", "--provider", "offline", "a cat", "--seed", str(-(2**63) - 1)),
            f"argument --seed: {-(2**63) - 1} must be at least {-(2**63)}",
        ),
        (("favorite", "99999999999999999999"), f"must be at most {MAX_INT64}"),
        (("favorite", "0"), "argument id: 0 must be at least 1"),
        (("history", "--limit", str(2**64)), f"must be at most {MAX_INT64}"),
        (("generate", "a cat", "-n", "11"), "argument -n: 11 must be at most 10"),
        (("generate", "a cat", "-n", str(2**80)), "must be at most 10"),
        (("generate", "a cat", "--compression", "101"), "must be at most 100"),
        (("generate", "a cat", "--compression", "-1"), "must be at least 0"),
        (("favorite", "9" * 5000), "is not a whole number"),
    ],
    ids=[
        "seed-huge",
        "seed-negative",
        "favorite-huge",
        "favorite-zero",
        "limit-huge",
        "n-11",
        "n-huge",
        "compression-101",
        "compression-negative",
        "digits-limit",
    ],
)
def test_out_of_range_integers_are_refused_while_parsing(
    seeded: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    before = use_counts(seeded)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert_one_line_error(code, err)
    assert message in err and len(err) < 400
    assert use_counts(seeded) == before, "a refused command changed the database"
    assert not (seeded / "images").exists()


def test_largest_seed_still_works(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "generate", "--provider", "offline", "a cat", "--seed", str(MAX_INT64)
    )
    assert code == 0, err
    assert use_counts(seeded)["a cat"] == 2


# -- paths with ~user that cannot be expanded -----------------------------------------------------

NO_USER = "~nosuchuser9f3a"


def test_home_environment_with_unknown_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DALLETUI_HOME", f"{NO_USER}/x")
    code, _, err = run(capsys, "history")
    assert_one_line_error(code, err)
    assert f"DALLETUI_HOME is '{NO_USER}/x'" in err and "nosuchuser9f3a" in err


def test_home_flag_with_unknown_user(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--home", f"{NO_USER}/x", "history")
    assert_one_line_error(code, err)
    assert f"--home is '{NO_USER}/x'" in err


def test_config_environment_with_unknown_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DALLETUI_CONFIG", f"{NO_USER}/c.toml")
    code, _, err = run(capsys, "history")
    assert_one_line_error(code, err)
    assert f"DALLETUI_CONFIG is '{NO_USER}/c.toml'" in err
    code, _, err = run(capsys, "--config", f"{NO_USER}/c.toml", "models")
    assert_one_line_error(code, err)
    assert f"--config is '{NO_USER}/c.toml'" in err


def test_config_file_home_with_unknown_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'home = "{NO_USER}/x"\n', encoding="utf-8")
    monkeypatch.setenv("DALLETUI_CONFIG", str(config))
    monkeypatch.delenv("DALLETUI_HOME")
    code, _, err = run(capsys, "history")
    assert_one_line_error(code, err)
    assert f"'home' in {config} is '{NO_USER}/x'" in err


def test_unknown_user_in_a_real_process(tmp_path: Path) -> None:
    result = run_process("--home", f"{NO_USER}/x", "history")
    assert result.returncode == 1
    assert result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr


def test_a_home_with_tilde_still_expands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run(capsys, "--home", "~/data", "history")
    assert code == 0, err
    assert (tmp_path / "data" / "dalletui.db").exists()


# -- text that would break the one-line rule ------------------------------------------------------


def test_usage_errors_quoting_the_input_stay_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "history", "--order", "a\nb\x1b[2J")
    assert_one_line_error(code, err)
    assert "\x1b" not in err


def test_validation_errors_quoting_the_input_stay_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "generate", "-p", "offline", "a cat", "-s", "big\nger", "-q", "x\ny")
    assert code == 1
    assert_one_line_error(code, err)


def test_an_attached_double_dash_is_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    """Python 3.11's argparse turned ``--search=--`` into [] (found by tests/test_cli_fuzz.py)."""
    code, _, err = run(capsys, "history", "--search=--", "--favorites")
    assert code == 0 and INTERNAL_ERROR not in err
    code, _, err = run(capsys, "history", "--order=--")
    assert_one_line_error(code, err)
    assert "invalid choice: '--'" in err


# -- the last resort ------------------------------------------------------------------------------


def test_unexpected_exception_is_one_line_and_logged(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4

    def broken(args: object, settings: object) -> int:
        raise RuntimeError(f"boom with {key}\nsecond line")

    cli._load_extensions()  # registers "models" (once per process) before it is replaced
    monkeypatch.setitem(cli.COMMANDS, "models", broken)
    code, out, err = run(capsys, "models")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    log = home / "dalletui.log"
    assert err == (
        f"{INTERNAL_ERROR} RuntimeError: boom with sk-proj-…REDACTED second line; "
        f"details in {log}\n"
    )
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert "dalletui models" in text
    assert key not in text and key not in err


def test_internal_error_before_settings_logs_to_the_temp_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(**kwargs: object) -> object:
        raise ValueError("settings exploded")

    monkeypatch.setattr(cli, "load_settings", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    code, _, err = run(capsys, "history")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"{INTERNAL_ERROR} ValueError: settings exploded; details in ")
    assert "settings exploded" in (tmp_path / "dalletui.log").read_text(encoding="utf-8")
