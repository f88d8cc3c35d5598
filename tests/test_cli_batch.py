"""CLI: ``dalletui batch run|list|show|resume|retry|cancel``, in process.

Through the real openai SDK against the fake server where the API matters (requests seen, money
rules, confirmation), with the offline provider elsewhere. What a batch did is checked in the
database itself (read-only) and on disk, not only in what the command printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dalletui.cli import INTERNAL_ERROR, main
from dalletui.config import Settings
from dalletui.services.context import open_services
from tests.fakes import FakeOpenAIServer, Fault

COLOURS = ["red", "green", "blue"]
ANIMALS = ["fox", "owl", "cat", "bee"]
#: The 12 prompts of the "zoo" template, in product order.
ZOO = [f"a {colour} {animal} in snow" for colour in COLOURS for animal in ANIMALS]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and INTERNAL_ERROR not in err, err
    return code, out, err


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def zoo(home: Path) -> str:
    """A template of 3 x 4 = 12 expansions."""
    services = open_services(Settings(home=home))
    try:
        services.templates.create_variable("colour", COLOURS)
        services.templates.create_variable("animal", ANIMALS)
        services.templates.create_template("zoo", "a {colour} {animal} in snow")
    finally:
        services.close()
    return "zoo"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> FakeOpenAIServer:
    """The CLI talks to the fake server through the real SDK."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-batch-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    return fake_openai


@contextlib.contextmanager
def database(home: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{home / 'dalletui.db'}?mode=ro", uri=True)
    try:
        yield con
    finally:
        con.close()


def batch_ids(home: Path) -> list[int]:
    if not (home / "dalletui.db").exists():
        return []
    with database(home) as con:
        return [row[0] for row in con.execute("select id from batches order by id")]


def items(home: Path, batch_id: int) -> list[tuple[int, str, str]]:
    """(position, text, status) of every item."""
    with database(home) as con:
        return list(
            con.execute(
                "select position, text, status from batch_items where batch_id = ? "
                "order by position",
                (batch_id,),
            )
        )


def generations(home: Path, batch_id: int) -> list[tuple[str, str | None, str]]:
    """(status, file path, item text) of every generation row of the batch."""
    with database(home) as con:
        return list(
            con.execute(
                "select g.status, g.file_path, i.text from generations g "
                "join batch_items i on i.id = g.batch_item_id where g.batch_id = ? order by g.id",
                (batch_id,),
            )
        )


def sent(server: FakeOpenAIServer) -> list[str]:
    return [request.body["prompt"] for request in server.generation_requests]


class FakeTty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


# -- dry run ------------------------------------------------------------------------------------


def test_dry_run_prints_every_prompt_and_sends_nothing(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "run", zoo, "--dry-run", "--model", "gpt-image-1-mini")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:12] == [f"{number:>2}  {text}" for number, text in enumerate(ZOO, start=1)]
    assert '"zoo": 12 prompts, 12 images' in lines[12]
    assert "estimate unknown (gpt-image-1-mini is priced by tokens" in lines[12]
    assert "mode product" in lines[12]
    assert "Sending it asks first (or needs --yes): Send 12 images (cost unknown" in out
    assert "nothing was sent and no batch was created" in out
    assert api.generation_count == 0 and api.requests == []
    assert batch_ids(home) == []
    code, out, _ = run(capsys, "batch", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_dry_run_json_and_a_reproducible_sample(
    zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "run", zoo, "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["count"] == 12 and plan["images"] == 12
    assert [item["text"] for item in plan["items"]] == ZOO
    assert plan["items"][0]["choice"] == {"colour": "red", "animal": "fox"}
    assert plan["estimate"]["basis"] == "offline" and plan["estimate"]["text"] == "free (offline)"

    argv = ["batch", "run", zoo, "--mode", "sample:5", "--seed", "7", "--dry-run"]
    first, second = run(capsys, *argv)[1], run(capsys, *argv)[1]
    assert first == second and "mode sample:5, seed 7" in first
    drawn = [line.split("  ", 1)[1] for line in first.splitlines()[:5]]
    assert len(set(drawn)) == 5 and set(drawn) <= set(ZOO)
    assert batch_ids(home) == []


def test_dry_run_of_text_with_alternatives_zip_and_repeat(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "batch",
        "run",
        "{size} {animal}",
        "--var",
        "size=big,small",
        "--var",
        "animal=fox,owl",
        "--mode",
        "zip",
        "--repeat",
        "2",
        "--dry-run",
    )
    assert code == 0
    assert out.splitlines()[:4] == ["1  big fox", "2  small owl", "3  big fox", "4  small owl"]
    code, out, _ = run(capsys, "batch", "run", "a {red|blue} cat", "--dry-run", "-n", "2")
    assert code == 0
    assert out.splitlines()[:2] == ["1  a red cat", "2  a blue cat"]
    assert "2 prompts, 4 images (2 a prompt)" in out


def test_dry_run_never_lets_a_prompt_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "a cat \x1b]52;c;aGk=\x07 on a mat\nan owl \x9b2J\u202e at dusk\n", encoding="utf-8"
    )
    code, out, err = run(capsys, "batch", "run", "--file", str(prompts), "--dry-run")
    assert code == 0, err
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in out + err
    assert "2 prompts, 2 images" in out and "mode file" in out


# -- confirmation -------------------------------------------------------------------------------


def test_over_the_threshold_without_yes_refuses_and_sends_nothing(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "run", zoo)  # token-priced, no history: cost unknown
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith("dalletui: error: Send 12 images (cost unknown")
    assert "Add --yes" in err and "Nothing was sent." in err
    assert '"zoo": 12 prompts' in out  # the count and the estimate were shown first
    assert api.generation_count == 0 and batch_ids(home) == []

    code, _, err = run(capsys, "batch", "run", zoo, "--json")
    assert code == 1 and "Add --yes" in err and api.generation_count == 0


def test_the_question_names_a_monthly_budget_the_batch_would_pass(
    api: FakeOpenAIServer, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "no-config.toml").write_text(
        "monthly_budget = 0.05\n"
        '[prices."chatgpt-image-latest".per_image.low]\n"1024x1024" = 0.02\n',
        encoding="utf-8",
    )
    argv = ["batch", "run", "a {red|green|blue} kite", "--model", "chatgpt-image-latest"]
    code, out, err = run(capsys, *argv, "--quality", "low")
    assert code == 1 and err.count("\n") == 1
    assert "Send 3 images (estimated $0.0600)?" in err
    assert "monthly budget of $0.05 ($0.00 spent this month)" in err
    assert "estimate $0.0600" in out
    assert api.generation_count == 0 and batch_ids(home) == []


def test_at_a_terminal_the_question_is_asked(
    monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "no-config.toml").write_text("batch_confirm_images = 2\n", encoding="utf-8")
    argv = ["batch", "run", "a {small|big} cat", "--repeat", "2"]  # 4 images, offline
    monkeypatch.setattr("sys.stdin", FakeTty("n\n"))
    code, _, err = run(capsys, *argv)
    assert code == 1 and "Send 4 images (free, offline)? [y/N]" in err
    assert "Nothing was sent." in err and batch_ids(home) == []
    monkeypatch.setattr("sys.stdin", FakeTty("y\n"))
    code, out, err = run(capsys, *argv, "--concurrency", "4")
    assert code == 0, err
    assert "completed" in out and len(batch_ids(home)) == 1


# -- running ------------------------------------------------------------------------------------


def test_a_12_prompt_template_at_concurrency_4_makes_12_images(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.latency = 0.05
    code, out, err = run(
        capsys, "batch", "run", zoo, "--yes", "--concurrency", "4", "--quality", "low"
    )
    assert code == 0, err
    (batch_id,) = batch_ids(home)
    assert f"Batch #{batch_id} created; sending 12 prompts (4 at a time)" in out
    assert f"Batch #{batch_id} completed" in out and "12 of 12 done" in out
    assert sorted(sent(api)) == sorted(ZOO)  # each prompt once, nothing else
    assert 1 < api.max_in_flight <= 4
    assert {request.body["quality"] for request in api.generation_requests} == {"low"}
    assert [status for _, _, status in items(home, batch_id)] == ["succeeded"] * 12
    rows = generations(home, batch_id)
    assert len(rows) == 12 and {status for status, _, _ in rows} == {"succeeded"}
    assert sorted(text for _, _, text in rows) == sorted(ZOO)
    files = [Path(path) for _, path, _ in rows]
    assert len(set(files)) == 12 and all(path.is_file() for path in files)
    assert "Prompt 1 of 12 succeeded: a red fox in snow" in err  # stderr is no terminal: lines


def test_json_events_are_one_per_line_and_end_with_finished(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "run", zoo, "--yes", "--json", "--concurrency", "3")
    assert code == 0, err
    lines = events(out)
    assert [line["event"] for line in lines[:2]] == ["planned", "started"]
    planned = lines[0]
    assert planned["plan"]["count"] == 12 and "items" not in planned["plan"]
    assert lines[-1]["event"] == "finished"
    final = lines[-1]["progress"]
    assert final["status"] == "completed" and final["done"] == final["total"] == 12
    assert {line["batch"] for line in lines} == {batch_ids(home)[0]}
    finished = [line for line in lines if line["event"] == "item_finished"]
    assert len(finished) == 12 and {line["status"] for line in finished} == {"succeeded"}
    assert sorted(line["position"] for line in finished) == list(range(12))
    assert all(len(line["generations"]) == 1 for line in finished)
    started = [line for line in lines if line["event"] == "item_started"]
    assert len(started) == 12
    assert api.max_in_flight <= 3


def test_a_warning_is_said_once_not_once_a_prompt(
    api: FakeOpenAIServer, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["batch", "run", "a {red|blue|green} kite", "--model", "gpt-image-2"]
    code, _, err = run(capsys, *argv, "--size", "3840x2160", "--yes", "--repeat", "2")
    assert code == 0, err
    assert err.count("experimental on gpt-image-2") == 1, err
    assert api.generation_count == 6


def test_a_terminal_gets_a_progress_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = FakeTty()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setenv("TERM", "xterm-256color")
    code = main(["batch", "run", "a {red|blue|green} kite", "--concurrency", "2"])
    out = capsys.readouterr().out
    assert code == 0
    drawn = screen.getvalue()
    assert "Batch #1" in drawn and "3 of 3 done" in drawn and "\x1b[" in drawn
    assert "Prompt 1 of 3" not in drawn  # the bar, not a line an item
    assert "Batch #1 completed" in out


def test_rate_limits_are_waited_out_visibly_and_the_batch_completes(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script(*Fault.rate_limit_storm(2, retry_after_ms=50))
    code, out, err = run(capsys, "batch", "run", zoo, "--yes", "--concurrency", "2")
    assert code == 0, err
    assert "rate limited, retrying in" in err
    assert "12 of 12 done" in out
    assert sorted(set(sent(api))) == sorted(ZOO) and len(sent(api)) == 14  # 2 refused, re-sent
    assert len(generations(home, batch_ids(home)[0])) == 12


def test_a_failed_prompt_is_retried_alone(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script(Fault.moderation())  # the first request to arrive is refused
    code, out, err = run(capsys, "batch", "run", zoo, "--yes", "--concurrency", "2")
    (batch_id,) = batch_ids(home)
    refused = sent(api)[0]
    assert code == 1
    assert "11 of 12 done · 1 failed" in out
    assert f"`dalletui batch retry {batch_id}` sends the 1 failed prompt again." in out
    assert f"Prompt {ZOO.index(refused) + 1} failed:" in err and "content policy" in err
    statuses = {text: status for _, text, status in items(home, batch_id)}
    assert [text for text, status in statuses.items() if status == "failed"] == [refused]

    code, out, err = run(capsys, "batch", "retry", str(batch_id))
    assert code == 0, err
    assert "Sending again 1 failed prompt:" in out and refused in out
    assert f"Batch #{batch_id} completed" in out and "12 of 12 done" in out
    prompts = sent(api)
    assert len(prompts) == 13 and prompts.count(refused) == 2
    assert all(prompts.count(text) == 1 for text in ZOO if text != refused)
    assert {status for _, _, status in items(home, batch_id)} == {"succeeded"}

    code, _, err = run(capsys, "batch", "retry", str(batch_id))
    assert code == 1 and "has no failed prompts to retry" in err and err.count("\n") == 1
    assert len(sent(api)) == 13


def test_out_of_quota_stops_the_batch_and_resume_sends_only_what_was_never_sent(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script(Fault.insufficient_quota())
    code, out, err = run(capsys, "batch", "run", zoo, "--yes", "--concurrency", "1")
    (batch_id,) = batch_ids(home)
    assert code == 1
    assert f"Batch #{batch_id} failed" in out and "quota" in out.lower()
    assert f"`dalletui batch resume {batch_id}` sends the 11 prompts never sent." in out
    assert f"`dalletui batch retry {batch_id}`" in out
    assert len(sent(api)) == 1  # nothing more was sent once the API said the quota is gone
    refused = sent(api)[0]

    code, out, err = run(capsys, "batch", "resume", str(batch_id), "--json")
    assert code == 1  # the failed prompt is still failed
    final = events(out)[-1]
    assert final["event"] == "finished" and final["progress"]["done"] == 11
    assert sorted(sent(api)) == sorted(ZOO)  # each once: the failed one was not re-sent

    code, out, err = run(capsys, "batch", "resume", str(batch_id))
    assert code == 1 and "nothing left to send" in err and err.count("\n") == 1
    code, out, _ = run(capsys, "batch", "retry", str(batch_id))
    assert code == 0 and "12 of 12 done" in out
    assert sent(api).count(refused) == 2 and len(sent(api)) == 13


# -- list, show, cancel -------------------------------------------------------------------------


def test_list_and_show(
    api: FakeOpenAIServer, zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "list")
    assert code == 0 and out == "" and "No batches yet" in err
    assert run(capsys, "batch", "run", zoo, "--yes")[0] == 0
    (batch_id,) = batch_ids(home)

    code, out, _ = run(capsys, "batch", "list")
    assert code == 0
    row = out.splitlines()[0].split()
    assert row[:3] == [str(batch_id), "completed", "12/12"] and row[-1] == "zoo"
    listed = json.loads(run(capsys, "batch", "list", "--json")[1])
    assert listed[0]["id"] == batch_id and listed[0]["progress"]["done"] == 12
    assert listed[0]["source"] == "template" and listed[0]["template_id"] is not None

    code, out, _ = run(capsys, "batch", "show", str(batch_id))
    assert code == 0
    assert out.startswith(f"Batch #{batch_id} · completed · zoo\n")
    for fragment in (
        "source:      template",
        "mode product",
        "body:        a {colour} {animal} in snow",
        "variable:    colour = red, green, blue",
        "request:     gpt-image-1-mini · 1024x1024 · quality auto · png · openai · n 1",
        "progress:    12 of 12 done",
        "spend:       $",
        "finished:",
        "Prompts:",
    ):
        assert fragment in out, fragment
    prompt_lines = out.split("Prompts:\n", 1)[1].splitlines()
    assert len(prompt_lines) == 12
    assert prompt_lines[0].split()[:2] == ["1", "succeeded"] and prompt_lines[0].endswith(ZOO[0])

    shown = json.loads(run(capsys, "batch", "show", str(batch_id), "--json")[1])
    assert shown["batch"]["id"] == batch_id and shown["state"] == "completed"
    assert [item["text"] for item in shown["items"]] == ZOO
    for item in shown["items"]:
        (generation,) = item["generations"]
        assert generation["status"] == "succeeded" and Path(generation["path"]).is_file()
        assert item["prompt_id"] is not None and item["choice"]


def test_cancel_a_batch_not_running_then_resume_it(
    zoo: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services = open_services(Settings(home=home))
    try:
        plan = services.batches.planner().plan(zoo, mode="sample:3", seed=1)
        batch_id = services.batches.create(plan).id
    finally:
        services.close()
    code, out, err = run(capsys, "batch", "cancel", str(batch_id))
    assert code == 0, err
    assert f"Batch #{batch_id} cancelled; no dalletui was running it." in out
    assert "would still send its 3 prompts never sent" in out
    code, out, _ = run(capsys, "batch", "show", str(batch_id))
    assert f"Batch #{batch_id} · cancelled" in out and "stopped:     Cancelled" in out
    code, _, err = run(capsys, "batch", "cancel", str(batch_id))
    assert code == 1 and "nothing to cancel" in err and err.count("\n") == 1

    code, out, err = run(capsys, "batch", "resume", str(batch_id))
    assert code == 0, err
    assert f"Batch #{batch_id} completed" in out and "3 of 3 done" in out
    assert [status for _, _, status in items(home, batch_id)] == ["succeeded"] * 3
    assert len(generations(home, batch_id)) == 3
    code, _, err = run(capsys, "batch", "cancel", str(batch_id))
    assert code == 1 and "is completed; there is nothing to cancel" in err


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["batch", "show", "999"], "No batch #999;"),
        (["batch", "resume", "999"], "No batch #999;"),
        (["batch", "retry", "999"], "No batch #999;"),
        (["batch", "cancel", "999"], "No batch #999;"),
        (["batch", "run"], "prompt is empty"),
        (["batch", "run", "a {nope} cat"], "nope"),
        (["batch", "run", "a {cat"], "{"),
        (
            ["batch", "run", "{a} {b}", "--var", "a=1,2", "--var", "b=1", "--mode", "zip"],
            "Zip mode",
        ),
        (["batch", "run", "{a}", "--var", "a="], "gives no values"),
        (["batch", "run", "{a}", "--var", "a"], "needs NAME=VALUE"),
        (["batch", "run", "x", "--mode", "sample:0"], "sample:20"),
        (["batch", "run", "x", "--mode", "spiral"], "unknown"),
        (["batch", "run", "x", "--file", "prompts.txt"], "not both"),
        (["batch", "run", "--file", "missing.txt"], "does not exist"),
        (["batch", "run", "x", "--model", "dall-e-3"], "retired"),
        (["batch", "run", "x", "--provider", "openai"], "OPENAI_API_KEY"),
    ],
)
def test_bad_input_is_one_sentence(
    argv: list[str], fragment: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and fragment in err, err
    assert err.count("\n") == 1 and err.startswith("dalletui: error: ")
    assert batch_ids(home) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["batch"],
        ["batch", "run", "x", "--concurrency", "0"],
        ["batch", "run", "x", "--concurrency", "33"],
        ["batch", "run", "x", "--repeat", "0"],
        ["batch", "run", "x", "-n", "11"],
        ["batch", "show", "x"],
        ["batch", "resume", "1", "--concurrency", "-1"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
