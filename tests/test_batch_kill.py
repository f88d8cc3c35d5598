"""A batch run in another process, stopped the hard ways: SIGKILL, a cancel from elsewhere,
ctrl+c once and twice; then resumed. Nothing is generated twice unless the user asks.

``python -m dalletui batch run ... --json`` runs in a subprocess against the fake server (the
real openai SDK, 127.0.0.1 only). Scripted slow answers pin down which requests are in flight
when the process is stopped, so every count below is exact. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dalletui.cli import INTERNAL_ERROR, main
from dalletui.config import Settings
from dalletui.services.context import open_services
from tests.fakes import FakeOpenAIServer, Ok

ROOT = Path(__file__).resolve().parents[1]
COLOURS = ["red", "green", "blue"]
ANIMALS = ["fox", "owl", "cat", "bee"]
ZOO = [f"a {colour} {animal} at dusk" for colour in COLOURS for animal in ANIMALS]
#: The longest any one wait may take (a slow CI machine starting Python included).
WAIT_S = 60.0
#: Seconds a scripted "hanging" request waits before it answers (far beyond every test).
HANG_S = 120.0


class Child:
    """``python -m dalletui ARGV`` with its JSON Lines events and stderr read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dalletui", *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="backslashreplace",
        )
        self.events: list[dict[str, Any]] = []
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, events: bool) -> None:
        for line in stream:
            with self._lock:
                (self.stdout if events else self.stderr).append(line)
                if events:
                    self.events.append(json.loads(line))

    def seen(self, kind: str, status: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for event in self.events
                if event["event"] == kind and (status is None or event["status"] == status)
            )

    def err(self) -> str:
        with self._lock:
            return "".join(self.stderr)

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if ready():
                return
            if self.proc.poll() is not None and not ready():
                self.finish()
                pytest.fail(f"dalletui exited ({self.proc.returncode}) before {what}: {self.err()}")
            time.sleep(0.01)
        pytest.fail(f"timed out waiting for {what}; stderr: {self.err()}")

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT_S)
        for reader in self._readers:
            reader.join(timeout=10)
        assert "Traceback" not in self.err() and INTERNAL_ERROR not in self.err(), self.err()
        return code

    def batch_id(self) -> int:
        with self._lock:
            return int(self.events[0]["batch"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> FakeOpenAIServer:
    """The fake server at 0.3 s a request, for this process and its children."""
    fake_openai.latency = 0.3
    monkeypatch.setenv("OPENAI_API_KEY", "sk-batch-kill")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("DALLETUI_BATCH_CONCURRENCY", raising=False)
    monkeypatch.delenv("DALLETUI_MONTHLY_BUDGET", raising=False)
    return fake_openai


@pytest.fixture
def zoo(home: Path) -> str:
    services = open_services(Settings(home=home))
    try:
        services.templates.create_variable("colour", COLOURS)
        services.templates.create_variable("animal", ANIMALS)
        services.templates.create_template("dusk zoo", "a {colour} {animal} at dusk")
    finally:
        services.close()
    return "dusk zoo"


@pytest.fixture
def children() -> Iterator[Callable[[list[str]], Child]]:
    started: list[Child] = []

    def start(argv: list[str]) -> Child:
        child = Child(argv, dict(os.environ))
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and INTERNAL_ERROR not in err, err
    return code, out, err


def sent(server: FakeOpenAIServer) -> list[str]:
    return [request.body["prompt"] for request in server.generation_requests]


@contextlib.contextmanager
def database(home: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{home / 'dalletui.db'}?mode=ro", uri=True)
    try:
        yield con
    finally:
        con.close()


def item_states(home: Path, batch_id: int) -> dict[str, str]:
    """Each prompt's item status."""
    with database(home) as con:
        rows = con.execute(
            "select text, status from batch_items where batch_id = ? order by position",
            (batch_id,),
        )
        return dict(rows.fetchall())


def generation_rows(home: Path, batch_id: int) -> dict[str, list[tuple[str, str | None]]]:
    """Each prompt's generation rows (status, file), oldest first."""
    found: dict[str, list[tuple[str, str | None]]] = {text: [] for text in ZOO}
    with database(home) as con:
        for text, status, path in con.execute(
            "select i.text, g.status, g.file_path from generations g "
            "join batch_items i on i.id = g.batch_item_id where g.batch_id = ? order by g.id",
            (batch_id,),
        ):
            found[text].append((status, path))
    return found


def start_batch(children: Callable[[list[str]], Child], zoo: str) -> Child:
    return children(["batch", "run", zoo, "--yes", "--json", "--concurrency", "2"])


def test_sigkill_mid_batch_then_resume_with_and_without_rerun_interrupted(
    server: FakeOpenAIServer,
    zoo: str,
    home: Path,
    children: Callable[[list[str]], Child],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Three answers, then two requests that hang: killed with exactly those two in flight.
    server.script(Ok(), Ok(), Ok(), Ok(delay=HANG_S), Ok(delay=HANG_S))
    child = start_batch(children, zoo)
    child.wait_for(
        lambda: child.seen("item_finished", "succeeded") == 3 and server.generation_count == 5,
        "three prompts made and two in flight",
    )
    os.kill(child.proc.pid, signal.SIGKILL)
    assert child.finish() == -signal.SIGKILL
    batch_id = child.batch_id()
    in_flight = sent(server)[3:5]
    assert len(set(sent(server))) == 5
    states = item_states(home, batch_id)
    claimed = {text for text, status in states.items() if status == "running"}
    assert set(in_flight) <= claimed  # (a runner may also have claimed prompts not yet sent)

    code, out, err = cli(capsys, "batch", "show", str(batch_id))
    assert code == 0 and f"Batch #{batch_id} · interrupted" in out
    assert f"{len(claimed)} prompts still marked in flight although no dalletui runs" in out

    # Resume: the two interrupted prompts are listed and held back; the seven others go.
    code, out, err = cli(capsys, "batch", "resume", str(batch_id))
    assert code == 1, err  # completed, but two prompts may have been billed without an image
    states = item_states(home, batch_id)
    interrupted = {text for text, status in states.items() if status == "interrupted"}
    assert interrupted == set(in_flight), (
        f"only the prompts the server saw in flight may be interrupted; never sent but marked "
        f"interrupted (so held back by resume): {sorted(interrupted - set(in_flight))}"
    )
    listing = out.split(":\n", 1)
    assert "2 prompts of batch" in listing[0] and "will not be sent again" in listing[0]
    listed = [line for line in listing[1].splitlines() if "interrupted (possibly billed)" in line]
    assert [line.rsplit("  ", 1)[-1].strip() for line in listed] == [
        text for text in ZOO if text in in_flight
    ]
    assert f"Batch #{batch_id} completed" in out and "10 of 12 done · 2 interrupted" in out
    assert f"`dalletui batch resume {batch_id} --rerun-interrupted` sends them again" in out
    assert sorted(sent(server)) == sorted(ZOO)  # every prompt once: none re-sent
    assert sum(status == "succeeded" for status in states.values()) == 10

    # Resume again, asking: exactly the two interrupted prompts are sent again.
    code, out, err = cli(capsys, "batch", "resume", str(batch_id), "--rerun-interrupted")
    assert code == 0, err
    assert "Sending again 2 prompts that may have been billed already" in out
    assert f"Batch #{batch_id} completed" in out and "12 of 12 done" in out
    prompts = sent(server)
    assert len(prompts) == 14
    for text in ZOO:
        assert prompts.count(text) == (2 if text in in_flight else 1), text

    # Every prompt has exactly the generations it should: one image each, and the two
    # re-sent prompts also keep the row of the request that may have been billed.
    rows = generation_rows(home, batch_id)
    for text in ZOO:
        statuses = [status for status, _ in rows[text]]
        assert statuses == (["interrupted", "succeeded"] if text in in_flight else ["succeeded"])
        (path,) = [path for status, path in rows[text] if status == "succeeded"]
        assert path is not None and Path(path).is_file()
    assert set(item_states(home, batch_id).values()) == {"succeeded"}

    code, _, err = cli(capsys, "batch", "resume", str(batch_id), "--rerun-interrupted")
    assert code == 1 and "nothing left to send" in err
    assert len(sent(server)) == 14


def test_cancel_from_another_process_lets_in_flight_finish_then_resume_completes(
    server: FakeOpenAIServer,
    zoo: str,
    home: Path,
    children: Callable[[list[str]], Child],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.script(Ok(), Ok(), Ok(), Ok(delay=1.0), Ok(delay=1.0))
    child = start_batch(children, zoo)
    child.wait_for(
        lambda: child.seen("item_finished", "succeeded") == 3 and server.generation_count == 5,
        "three prompts made and two in flight",
    )
    batch_id = child.batch_id()
    code, out, err = cli(capsys, "batch", "cancel", str(batch_id))
    assert code == 0, err
    assert f"dalletui process {child.proc.pid} sends no new request" in out
    assert child.finish() == 1
    final = child.events[-1]
    assert final["event"] == "finished" and final["progress"]["status"] == "cancelled"
    assert final["progress"]["done"] == 5 and final["progress"]["remaining"] == 7
    assert len(sent(server)) == 5

    code, out, err = cli(capsys, "batch", "resume", str(batch_id), "--concurrency", "4")
    assert code == 0, err
    assert f"Batch #{batch_id} completed" in out and "12 of 12 done" in out
    assert sorted(sent(server)) == sorted(ZOO)
    rows = generation_rows(home, batch_id)
    extra = {text: [status for status, _ in found] for text, found in rows.items()}
    extra = {text: found for text, found in extra.items() if found != ["succeeded"]}
    assert not extra, f"prompts with generation rows besides their one image: {extra}"


def test_cancel_from_another_process_can_cancel_the_requests_in_flight(
    server: FakeOpenAIServer,
    zoo: str,
    home: Path,
    children: Callable[[list[str]], Child],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.script(Ok(), Ok(), Ok(delay=HANG_S), Ok(delay=HANG_S))
    child = start_batch(children, zoo)
    child.wait_for(
        lambda: child.seen("item_finished", "succeeded") == 2 and server.generation_count == 4,
        "two prompts made and two in flight",
    )
    batch_id = child.batch_id()
    code, out, err = cli(capsys, "batch", "cancel", str(batch_id), "--cancel-in-flight")
    assert code == 0, err
    assert "cancels the requests it has in flight" in out and "possibly billed" in out
    assert child.finish() == 1
    final = child.events[-1]["progress"]
    assert final["status"] == "cancelled" and final["possibly_billed"] == 2
    assert final["done"] == 2 and final["remaining"] == 8
    billed = set(sent(server)[2:4])
    states = item_states(home, batch_id)
    assert {text for text, status in states.items() if status == "possibly_billed"} == billed

    code, out, err = cli(capsys, "batch", "resume", str(batch_id))
    assert code == 1 and "10 of 12 done · 2 possibly billed" in out
    assert sorted(sent(server)) == sorted(ZOO)


def test_ctrl_c_pauses_and_a_second_ctrl_c_cancels_what_is_in_flight(
    server: FakeOpenAIServer,
    zoo: str,
    home: Path,
    children: Callable[[list[str]], Child],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Once: no new request; the two in flight finish and make their images.
    server.script(Ok(), Ok(), Ok(delay=1.0), Ok(delay=1.0))
    child = start_batch(children, zoo)
    child.wait_for(
        lambda: child.seen("item_finished", "succeeded") == 2 and server.generation_count == 4,
        "two prompts made and two in flight",
    )
    child.proc.send_signal(signal.SIGINT)
    assert child.finish() == 1
    batch_id = child.batch_id()
    assert f"Pausing batch #{batch_id}" in child.err()
    assert f"`dalletui batch resume {batch_id}` continues it" in child.err()
    final = child.events[-1]["progress"]
    assert final["status"] == "paused" and final["done"] == 4 and final["remaining"] == 8
    assert final["possibly_billed"] == 0 and len(sent(server)) == 4

    # Twice: the two requests in flight are cancelled and recorded as possibly billed.
    server.script(Ok(delay=HANG_S), Ok(delay=HANG_S))
    child = children(["batch", "resume", str(batch_id), "--json", "--concurrency", "2"])
    child.wait_for(lambda: server.generation_count == 6, "two requests in flight")
    child.proc.send_signal(signal.SIGINT)
    child.wait_for(lambda: "Pausing batch" in child.err(), "the pause to be said")
    child.proc.send_signal(signal.SIGINT)
    assert child.finish() == 1
    assert "Cancelling the requests in flight" in child.err()
    final = child.events[-1]["progress"]
    assert final["status"] == "paused" and final["possibly_billed"] == 2
    assert final["done"] == 4 and final["remaining"] == 6
    billed = sent(server)[4:6]

    # A plain resume sends the six never sent, never the two possibly billed ones.
    code, out, err = cli(capsys, "batch", "resume", str(batch_id))
    assert code == 1, err
    assert "2 prompts of batch" in out and "will not be sent again" in out
    assert "10 of 12 done · 2 possibly billed" in out
    assert sorted(sent(server)) == sorted(ZOO)
    states = item_states(home, batch_id)
    assert {text for text, status in states.items() if status == "possibly_billed"} == set(billed)
