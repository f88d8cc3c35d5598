"""A complete command line: an example in every ``--help``, ``--json`` wherever a table is
printed, shell completion, ``dalletui paths``.

The commands are read from the parser after ``_load_extensions``, so a command added later
(``export``, ``import``, ``import-images``...) is held to the same rules as soon as it exists.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dalletui import cli
from dalletui.cli_examples import (
    EXAMPLES,
    command_path,
    example_argv,
    examples_for,
    has_actions,
    walk,
)


def _parser() -> argparse.ArgumentParser:
    cli._load_extensions()
    return cli.build_parser()


PARSER = _parser()
PARSERS = {" ".join(path): sub for path, sub in walk(PARSER)}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_command_has_an_example_in_its_help(name: str) -> None:
    sub = PARSERS[name]
    if has_actions(sub):  # "batch", "trash": its actions' examples, each held to this rule
        assert examples_for(tuple(name.split()), sub), name
        return
    assert EXAMPLES.get(name), f"dalletui {name} has no example in dalletui/cli_examples.py"
    text = sub.format_help()
    assert "examples:\n" in text
    for line in EXAMPLES[name]:
        assert line in text  # as written: the epilog is not re-wrapped


def _registered(key: str) -> bool:
    return key == "" or key.split()[0] in PARSERS


@pytest.mark.parametrize(
    ("key", "example"),
    [(key, line) for key, lines in sorted(EXAMPLES.items()) for line in lines],
)
def test_every_example_parses(key: str, example: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not _registered(key):
        pytest.skip(f"dalletui {key.split()[0]} is not registered (its module is not there yet)")
    assert key == "" or key in PARSERS, f"example for unknown command 'dalletui {key}'"
    argv = example_argv(example)
    assert command_path(argv)[: len(key.split())] == key.split(), (example, key)
    try:
        args = PARSER.parse_args(argv)
    except SystemExit as exc:  # --print-completion exits 0 once it has printed
        assert exc.code == 0, f"{example!r}: {capsys.readouterr().err.strip()}"
        return
    if key:
        assert args.command == key.split()[0]


def test_the_top_level_help_has_examples() -> None:
    text = PARSER.format_help()
    assert "examples:" in text and "--print-completion" in text


# -- --json -----------------------------------------------------------------------------------

#: Every command that prints a table (or a report in rows) must offer --json.
TABLE_COMMANDS = (
    "history",
    "models",
    "usage",
    "doctor",
    "paths",
    "batch list",
    "batch show",
    "trash list",
    "templates list",
    "templates show",
    "vars list",
)


@pytest.mark.parametrize("name", TABLE_COMMANDS)
def test_commands_that_print_tables_offer_json(name: str) -> None:
    sub = PARSERS.get(name)
    assert sub is not None, f"dalletui {name} is not registered"
    flags = {flag for action in sub._actions for flag in action.option_strings}
    assert "--json" in flags, f"dalletui {name} prints a table but has no --json"


# -- completion -------------------------------------------------------------------------------


def _completion(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(["--print-completion", shell])
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_bash_completion_is_valid_bash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _completion("bash", capsys)
    assert "complete" in script and "dalletui" in script
    for name in ("templates", "vars", "paths", "history", "batch", "trash"):
        assert name in script
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    path = tmp_path / "dalletui.bash"
    path.write_text(script, encoding="utf-8")
    checked = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    # Sourced in a real bash, it registers a completion function for dalletui.
    sourced = subprocess.run(
        [bash, "-c", f"source {path} && complete -p dalletui"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sourced.returncode == 0 and "dalletui" in sourced.stdout, sourced.stderr
    # ... which completes commands, their actions, and file names for path arguments.
    (tmp_path / "prompts.txt").write_text("a cat\n", encoding="utf-8")
    replies = {}
    for words in ("dalletui te", "dalletui templates ", f"dalletui import-prompts {tmp_path}/pro"):
        shell = (
            f"source {path}; COMP_WORDS=({words}); "
            + ('COMP_WORDS+=(""); ' if words.endswith(" ") else "")
            + "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _shtab_dalletui; echo ${COMPREPLY[@]}"
        )
        done = subprocess.run([bash, "-c", shell], capture_output=True, text=True, timeout=60)
        replies[words] = done.stdout.split()
    assert replies["dalletui te"] == ["templates"]
    assert replies["dalletui templates "] == ["list", "show", "add", "edit", "rm"]
    assert replies[f"dalletui import-prompts {tmp_path}/pro"] == [str(tmp_path / "prompts.txt")]


def test_zsh_and_tcsh_completion_name_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    zsh = _completion("zsh", capsys)
    assert zsh.startswith("#compdef dalletui")
    for name in ("templates", "vars", "paths", "history", "generate", "batch", "trash"):
        assert name in zsh
    tcsh = _completion("tcsh", capsys)
    assert "complete dalletui" in tcsh


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--print-completion", "cmd.exe"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


# -- paths ------------------------------------------------------------------------------------


def test_paths_before_and_after_first_use(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "paths", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {
        "home",
        "config",
        "database",
        "images",
        "thumbnails",
        "trash",
        "log",
        "state",
    }
    assert data["home"]["path"] == str(home) and data["database"]["exists"] is False
    assert data["config"]["path"] == str(tmp_path / "no-config.toml")  # conftest's
    assert not home.exists(), "paths must not create the data folder"

    code, _, err = run(capsys, "generate", "--provider", "offline", "a cat")
    assert code == 0, err
    data = json.loads(run(capsys, "paths", "--json")[1])
    for key in ("home", "database", "images", "thumbnails"):
        assert data[key]["exists"] is True, key
    assert data["trash"]["exists"] is False
    assert data["state"]["path"] == str(home / "state.json") and not data["state"]["exists"]

    code, out, _ = run(capsys, "paths")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(data)
    assert lines[2].split()[1:] == ["exists", str(home / "dalletui.db")]


def test_paths_follow_home_and_config_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "my.toml"
    config.write_text("", encoding="utf-8")
    other = tmp_path / "elsewhere"
    data = json.loads(
        run(capsys, "--home", str(other), "--config", str(config), "paths", "--json")[1]
    )
    assert data["home"] == {"path": str(other), "exists": False, "what": data["home"]["what"]}
    assert data["config"]["path"] == str(config) and data["config"]["exists"] is True
    assert data["log"]["path"] == str(other / "dalletui.log")
