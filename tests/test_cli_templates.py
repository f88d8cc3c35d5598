"""CLI: ``templates list|show|add|edit|rm`` and ``vars list|set|rm``, through the services.

Every refusal is one line on stderr, exit 1 (2 for argparse), and leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

from dalletui.cli import main
from dalletui.storage import DatabaseManager


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(home: Path) -> dict[str, tuple[int, str]]:
    """Row count and checksum of every table: what 'nothing changed' is checked against."""
    state: dict[str, tuple[int, str]] = {}
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'dalletui.db'}?mode=ro", uri=True)
    ) as con:
        for (name,) in con.execute("select name from sqlite_master where type = 'table'"):
            rows = sorted(repr(row) for row in con.execute(f'select * from "{name}"'))
            state[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return state


@pytest.fixture
def portrait(capsys: pytest.CaptureFixture[str]) -> None:
    """A template over two variables and an inline alternative: 3 × 2 × 2 = 12 prompts."""
    for argv in (
        ["vars", "set", "style", "watercolour", "oil painting", "pixel art"],
        ["vars", "set", "subject", "a fox,an owl"],
        ["templates", "add", "portrait", "a {style} portrait of {subject}, {warm|cold} light"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 0, err


def test_add_list_show(portrait: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "templates", "list")
    assert code == 0
    assert "portrait" in out and "12" in out and "{style} {subject} {warm|cold}" in out
    rows = json.loads(run(capsys, "templates", "list", "--json")[1])
    assert [(r["name"], r["prompts"], r["unknown"]) for r in rows] == [("portrait", 12, [])]
    assert [p["name"] for p in rows[0]["placeholders"]] == ["style", "subject", "#1"]

    code, out, _ = run(capsys, "templates", "show", "portrait")
    assert code == 0
    assert "a {style} portrait of {subject}, {warm|cold} light" in out
    assert "{style}" in out and "3 values" in out and "2 alternatives" in out
    assert "12 prompts (style 3 × subject 2 × {warm|cold} 2)" in out
    assert "a watercolour portrait of a fox, warm light" in out  # the first prompt
    assert "a pixel art portrait of an owl, cold light" in out  # the last

    data = json.loads(run(capsys, "templates", "show", "portrait", "--json")[1])
    assert data["prompts"] == 12 and data["factors"] == "style 3 × subject 2 × {warm|cold} 2"
    assert data["placeholders"][2] == {
        "name": "#1",
        "kind": "alternative",
        "label": "{warm|cold}",
        "values": ["warm", "cold"],
        "known": True,
    }
    assert data["samples"][0] == "a watercolour portrait of a fox, warm light"


def test_unknown_placeholder_is_shown_not_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "templates", "add", "poster", "{title} in {font}")
    assert code == 0 and "no prompts until {title}, {font} have values" in out
    data = json.loads(run(capsys, "templates", "show", "poster", "--json")[1])
    assert data["unknown"] == ["title", "font"] and data["prompts"] == 0
    assert data["samples"] == []
    code, out, _ = run(capsys, "templates", "show", "poster")
    assert "unknown: define it with dalletui vars set title VALUE..." in out


def test_body_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a {red|blue} door\n"))
    code, out, _ = run(capsys, "templates", "add", "door", "-", "--description", "doors")
    assert code == 0 and "2 prompts" in out
    data = json.loads(run(capsys, "templates", "show", "door", "--json")[1])
    assert data["body"] == "a {red|blue} door" and data["description"] == "doors"


def test_edit_body_name_description(portrait: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "templates", "edit", "portrait", "--body", "a {style} bust", "--name", "bust"
    )
    assert code == 0 and "'bust' (was 'portrait')" in out and "3 prompts" in out
    code, _, _ = run(capsys, "templates", "edit", "bust", "--description", "head only")
    rows = json.loads(run(capsys, "templates", "list", "--json")[1])
    assert [(r["name"], r["body"], r["description"]) for r in rows] == [
        ("bust", "a {style} bust", "head only")
    ]


def test_rm_needs_yes_outside_a_terminal(
    portrait: None, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(home)
    code, _, err = run(capsys, "templates", "rm", "portrait")
    assert code == 1 and err.count("\n") == 1 and "add --yes" in err
    assert snapshot(home) == before
    code, out, _ = run(capsys, "templates", "rm", "portrait", "--yes")
    assert code == 0 and "Deleted the template 'portrait'" in out
    assert json.loads(run(capsys, "templates", "list", "--json")[1]) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["templates", "add", "x", "a {style"], "Unclosed '{' at line 1, column 3"),
        (["templates", "add", "x", "a {1bad} cat"], "Malformed placeholder '{1bad}'"),
        (["templates", "add", "x", "   "], "The template body is empty."),
        (["templates", "add", "", "a cat"], "The template needs a name."),
        (["templates", "add", "x" * 200, "a cat"], "The template name is over 120 characters."),
        (["templates", "add", "portrait", "a cat"], "A template named 'portrait' already exists."),
        (["templates", "show", "nope"], "No template named 'nope'."),
        (["templates", "edit", "nope", "--body", "x"], "No template named 'nope'."),
        (["templates", "edit", "portrait"], "Nothing to change"),
        (["templates", "edit", "portrait", "--body", "{a|a}"], "list 'a' more than once"),
        (["templates", "rm", "nope", "--yes"], "No template named 'nope'."),
        (["vars", "set", "1bad", "x"], "Variable name '1bad' is not valid"),
        (["vars", "set", "style", "a", "a"], "Variable 'style' lists 'a' more than once"),
        (["vars", "set", "style", "a,,b"], "'a,,b' has an empty value; remove the extra comma"),
        (["vars", "set", "style", " "], "Every value of Variable 'style' must be non-empty text."),
        (["vars", "rm", "nope", "--yes"], "No variable named 'nope'."),
        (["vars", "rm", "style"], "becomes unknown in: portrait); add --yes to confirm."),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    portrait: None, home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = snapshot(home)
    code, out, err = run(capsys, *argv)
    assert code == 1, err
    assert err.startswith("dalletui: error: ") and err.count("\n") == 1
    assert message in err and "Traceback" not in err and out == ""
    assert snapshot(home) == before


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["templates"], ["templates", "frob"], ["vars", "set", "style"], ["vars"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_vars_set_list_replace_rm(portrait: None, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(run(capsys, "vars", "list", "--json")[1])
    assert [(r["name"], r["values"], r["used_by"]) for r in rows] == [
        ("style", ["watercolour", "oil painting", "pixel art"], ["portrait"]),
        ("subject", ["a fox", "an owl"], ["portrait"]),
    ]
    code, out, _ = run(capsys, "vars", "list")
    assert code == 0 and "watercolour · oil painting · pixel art" in out and "portrait" in out

    # Separate arguments and commas mix; \, keeps a comma inside a value.
    code, out, _ = run(
        capsys, "vars", "set", "subject", "salt\\, pepper", "a fox,a hen", "-d", "animals"
    )
    assert code == 0 and "Replaced the values of {subject}: 3 values (was 2)" in out
    rows = json.loads(run(capsys, "vars", "list", "--json")[1])
    subject = next(r for r in rows if r["name"] == "subject")
    assert subject["values"] == ["salt, pepper", "a fox", "a hen"]
    assert subject["description"] == "animals"
    # The description stays when only the values change.
    run(capsys, "vars", "set", "subject", "a fox")
    rows = json.loads(run(capsys, "vars", "list", "--json")[1])
    assert next(r for r in rows if r["name"] == "subject")["description"] == "animals"

    code, out, _ = run(capsys, "vars", "rm", "subject", "--yes")
    assert code == 0 and "Deleted the variable {subject}" in out
    data = json.loads(run(capsys, "templates", "show", "portrait", "--json")[1])
    assert data["unknown"] == ["subject"]


def test_empty_lists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "templates", "list")
    assert code == 0 and out == "" and "No templates yet" in err
    code, out, err = run(capsys, "vars", "list")
    assert code == 0 and out == "" and "No variables yet" in err
    assert json.loads(run(capsys, "vars", "list", "--json")[1]) == []


def test_outside_text_cannot_reach_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "templates", "add", "evil\x1b[2J", "a {x} \x1b]0;pwned\x07 cat")
    assert code == 0, err
    run(capsys, "vars", "set", "x", "red\x1b[31m")
    for argv in (["templates", "list"], ["templates", "show", "evil\x1b[2J"], ["vars", "list"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        assert "\x1b" not in out + err and "\x07" not in out + err


def test_a_malformed_stored_template_is_listed_with_its_problem(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    db.create_template("old", "a {1st} try")  # storage does not scan bodies; an import might
    db.close()
    code, out, _ = run(capsys, "templates", "list")
    assert code == 0 and "malformed" in out and "Malformed placeholder '{1st}'" in out
    code, out, _ = run(capsys, "templates", "show", "old")
    assert code == 0 and "problems:" in out and "'{1st}'" in out
    data = json.loads(run(capsys, "templates", "show", "old", "--json")[1])
    assert data["prompts"] is None and data["problems"] and data["samples"] == []
